"""Sensors of the Ace Data Cloud provider; each module is imported when its sensor is first used."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_provider_acedata._lazy import lazy_exports

if TYPE_CHECKING:
    from airflow_provider_acedata.sensors.balance import ApplicationBalanceSensor

__all__ = ["ApplicationBalanceSensor"]
__getattr__ = lazy_exports(
    __name__,
    {
        "ApplicationBalanceSensor": "balance",
    },
)
