"""Triggers of the Ace Data Cloud provider (run by Airflow's triggerer for deferrable operators)."""

from __future__ import annotations

from airflow_provider_acedata.triggers.balance import ApplicationBalanceTrigger

__all__ = ["ApplicationBalanceTrigger"]
