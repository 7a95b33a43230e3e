"""Hooks of the Ace Data Cloud provider."""

from __future__ import annotations

from airflow_provider_acedata.hooks.acedata import AceDataHook

__all__ = ["AceDataHook"]
