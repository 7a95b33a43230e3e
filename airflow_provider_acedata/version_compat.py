"""Airflow version differences in one place (supported: ``apache-airflow>=3.1.1``, see pyproject.toml).

Import Task SDK names from here, not from ``airflow.*`` directly, so that the next floor change touches one file.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from airflow import __version__ as AIRFLOW_VERSION
from airflow.sdk import BaseHook, BaseOperator, Variable
from airflow.sdk.log import mask_secret

try:
    from airflow.exceptions import AirflowProviderDeprecationWarning
except ImportError:  # a Task SDK without the core package's warning class
    AirflowProviderDeprecationWarning = DeprecationWarning  # type: ignore[misc,assignment]


@dataclass(frozen=True)
class TriggerSchedule:
    """What a DAG's timetable says about its periods: cron expressions (in ``timezone``) or a fixed ``delta``."""

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
    "AirflowProviderDeprecationWarning",
    "BaseHook",
    "BaseOperator",
    "TriggerSchedule",
    "Variable",
    "mask_secret",
    "trigger_schedule",
]
