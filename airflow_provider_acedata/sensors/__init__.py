"""Sensors of the Ace Data Cloud provider."""

from __future__ import annotations

from airflow_provider_acedata.sensors.balance import ApplicationBalanceSensor

__all__ = ["ApplicationBalanceSensor"]
