"""Operators of the Ace Data Cloud provider."""

from __future__ import annotations

from airflow_provider_acedata.operators.application import CreateApplicationOperator

__all__ = ["CreateApplicationOperator"]
