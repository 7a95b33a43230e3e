"""Airflow version differences in one place (supported: ``apache-airflow>=3.1.1``, see pyproject.toml).

Import Task SDK and Airflow names from here, not from ``airflow.*`` directly, so that the next floor change
touches one file. Names only some modules need (the trigger and sensor bases, the hook base) are imported on
first use, so a DAG file that imports one operator does not pay for them.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from datetime import timedelta, tzinfo
from typing import TYPE_CHECKING, Any, NamedTuple
from zoneinfo import ZoneInfo

from airflow import __version__ as AIRFLOW_VERSION
from airflow.sdk import BaseOperator, BaseOperatorLink, Variable
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
    from airflow.sdk import BaseHook, BaseSensorOperator, PokeReturnValue
    from airflow.triggers.base import BaseEventTrigger, BaseTrigger, TriggerEvent

_ON_FIRST_USE = {
    "BaseEventTrigger": "airflow.triggers.base",
    "BaseTrigger": "airflow.triggers.base",
    "TriggerEvent": "airflow.triggers.base",
    "BaseSensorOperator": "airflow.sdk",
    "PokeReturnValue": "airflow.sdk",
    "BaseHook": "airflow.sdk",
}


def task_state_store(context: Mapping[str, Any]) -> Any | None:
    """The running task instance's task state store (Airflow 3.3+, ``context["task_state_store"]``), else None.

    It keeps values across the tries of one task instance (AIP-103); Airflow 3.1 and 3.2 have none.
    """
    return context.get("task_state_store")


def __getattr__(name: str) -> Any:
    """A name only some modules need, imported when one first asks (the trigger bases cost ~9 ms at DAG parse)."""
    if name in _ON_FIRST_USE:
        return getattr(importlib.import_module(_ON_FIRST_USE[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class TriggerSchedule(NamedTuple):
    """What a DAG's timetable says about its periods: cron expressions (in ``timezone``) or a fixed ``delta``.

    A NamedTuple, not a frozen dataclass: this module is imported at every DAG parse, where a dataclass costs ~0.6 ms.
    """

    crons: tuple[str, ...] = ()
    timezone: tzinfo | None = None
    delta: timedelta | None = None


def _field(timetable: Any, name: str) -> Any:
    """A timetable's field: public on the Task SDK's timetables (3.2+), private on core's (3.1)."""
    return getattr(timetable, name, getattr(timetable, f"_{name}", None))


def trigger_schedule(timetable: Any) -> TriggerSchedule | None:
    """The crons or delta of a cron- or delta-based timetable (``schedule="@daily"``, a cron string, a timedelta).

    Read by attribute, not by class: Airflow 3.1 hands a worker core's timetable classes
    (``airflow.timetables.trigger``, fields ``_expression``, ``_timezone``, ``_delta``), 3.2 and later the
    Task SDK's (``airflow.sdk.definitions.timetables``, fields ``expression``, ``timezone``, ``delta``).
    None for any other timetable (None, ``@once``, assets, a custom one).
    """
    members = _field(timetable, "timetables")
    parts = list(members) if isinstance(members, list | tuple) and members else [timetable]
    crons = tuple(str(expression) for part in parts if (expression := _field(part, "expression")))
    if crons and len(crons) == len(parts):
        zone = _field(parts[0], "timezone")
        if isinstance(zone, str):
            zone = ZoneInfo(zone)
        return TriggerSchedule(crons=crons, timezone=zone if isinstance(zone, tzinfo) else None)
    delta = _field(timetable, "delta")
    if isinstance(delta, timedelta) and delta > timedelta(0):
        return TriggerSchedule(delta=delta)
    return None


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
    "TriggerSchedule",
    "Variable",
    "conf",
    "mask_secret",
    "task_state_store",
    "trigger_schedule",
]
