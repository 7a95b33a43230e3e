"""Triggers of the Ace Data Cloud provider, run by Airflow's triggerer; each imported when first used."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_provider_acedata._lazy import lazy_exports

if TYPE_CHECKING:
    from airflow_provider_acedata.triggers.api import ApiTaskTrigger
    from airflow_provider_acedata.triggers.balance import ApplicationBalanceTrigger
    from airflow_provider_acedata.triggers.events import (
        ApplicationLowBalanceTrigger,
        NewCallRecordsTrigger,
        call_record_windows,
    )

__all__ = [
    "ApiTaskTrigger",
    "ApplicationBalanceTrigger",
    "ApplicationLowBalanceTrigger",
    "NewCallRecordsTrigger",
    "call_record_windows",
]
__getattr__ = lazy_exports(
    __name__,
    {
        "ApiTaskTrigger": "api",
        "ApplicationBalanceTrigger": "balance",
        "ApplicationLowBalanceTrigger": "events",
        "NewCallRecordsTrigger": "events",
        "call_record_windows": "events",
    },
)
