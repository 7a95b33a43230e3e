"""Operators of the Ace Data Cloud provider."""

from __future__ import annotations

from airflow_provider_acedata.operators.application import CreateApplicationOperator
from airflow_provider_acedata.operators.credential import CreateCredentialOperator, RotateCredentialOperator
from airflow_provider_acedata.operators.platform_token import (
    DeletePlatformTokenOperator,
    RotatePlatformTokenOperator,
)
from airflow_provider_acedata.operators.usage import (
    ApplicationBalanceCheckOperator,
    ExportOrdersOperator,
    ExportUsageOperator,
)

__all__ = [
    "ApplicationBalanceCheckOperator",
    "CreateApplicationOperator",
    "CreateCredentialOperator",
    "DeletePlatformTokenOperator",
    "ExportOrdersOperator",
    "ExportUsageOperator",
    "RotateCredentialOperator",
    "RotatePlatformTokenOperator",
]
