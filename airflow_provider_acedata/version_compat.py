"""Airflow version differences in one place (supported: ``apache-airflow>=3.1.1``, see pyproject.toml).

Import Task SDK names from here, not from ``airflow.*`` directly, so that the next floor change touches one file.
"""

from __future__ import annotations

from airflow import __version__ as AIRFLOW_VERSION
from airflow.sdk import BaseHook, BaseOperator, Variable
from airflow.sdk.log import mask_secret

try:
    from airflow.exceptions import AirflowProviderDeprecationWarning
except ImportError:  # a Task SDK without the core package's warning class
    AirflowProviderDeprecationWarning = DeprecationWarning  # type: ignore[misc,assignment]

__all__ = [
    "AIRFLOW_VERSION",
    "AirflowProviderDeprecationWarning",
    "BaseHook",
    "BaseOperator",
    "Variable",
    "mask_secret",
]
