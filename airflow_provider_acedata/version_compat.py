"""Airflow version differences in one place (supported: ``apache-airflow>=3.1.1``, see pyproject.toml).

Import Task SDK and Airflow names from here, not from ``airflow.*`` directly, so that the next floor change
touches one file. The trigger base classes are imported on first use: only trigger modules pay for them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow import __version__ as AIRFLOW_VERSION
from airflow.sdk import BaseHook, BaseOperator, BaseOperatorLink, BaseSensorOperator, PokeReturnValue, Variable
from airflow.sdk.log import mask_secret

try:
    from airflow.exceptions import AirflowProviderDeprecationWarning
except ImportError:  # a Task SDK without the core package's warning class
    AirflowProviderDeprecationWarning = DeprecationWarning  # type: ignore[misc,assignment]
try:
    from airflow.sdk.configuration import conf
except ImportError:  # Task SDKs before the SDK had its own configuration
    from airflow.configuration import conf
try:
    from airflow.sdk.exceptions import AirflowFailException, AirflowSensorTimeout
except ImportError:  # Task SDKs before the SDK had its own exceptions
    from airflow.exceptions import AirflowFailException, AirflowSensorTimeout  # type: ignore[no-redef]

if TYPE_CHECKING:
    from airflow.triggers.base import BaseEventTrigger, BaseTrigger, TriggerEvent

_TRIGGER_BASES = frozenset({"BaseEventTrigger", "BaseTrigger", "TriggerEvent"})


def task_state_store(context: Mapping[str, Any]) -> Any | None:
    """The running task instance's task state store (Airflow 3.3+, ``context["task_state_store"]``), else None.

    It keeps values across the tries of one task instance (AIP-103); Airflow 3.1 and 3.2 have none.
    """
    return context.get("task_state_store")


def __getattr__(name: str) -> Any:
    """The trigger base classes, imported when a trigger module first asks (they cost ~9 ms at DAG parse)."""
    if name in _TRIGGER_BASES:
        import airflow.triggers.base

        return getattr(airflow.triggers.base, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AIRFLOW_VERSION",
    "AirflowFailException",
    "AirflowProviderDeprecationWarning",
    "AirflowSensorTimeout",
    "BaseEventTrigger",
    "BaseHook",
    "BaseOperator",
    "BaseOperatorLink",
    "BaseSensorOperator",
    "BaseTrigger",
    "PokeReturnValue",
    "TriggerEvent",
    "Variable",
    "conf",
    "mask_secret",
    "task_state_store",
]
