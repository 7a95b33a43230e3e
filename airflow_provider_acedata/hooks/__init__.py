"""Hooks of the Ace Data Cloud provider; each module is imported when its hook is first used."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_provider_acedata._lazy import lazy_exports

if TYPE_CHECKING:
    from airflow_provider_acedata.hooks.acedata import AceDataHook
    from airflow_provider_acedata.hooks.api import AceDataApiHook

__all__ = ["AceDataApiHook", "AceDataHook"]
__getattr__ = lazy_exports(
    __name__,
    {
        "AceDataHook": "acedata",
        "AceDataApiHook": "api",
    },
)
