"""Operators of the Ace Data Cloud provider; each module is imported when its operator is first used."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_provider_acedata._lazy import lazy_exports

if TYPE_CHECKING:
    from airflow_provider_acedata.operators.api import CallApiOperator
    from airflow_provider_acedata.operators.application import CreateApplicationOperator
    from airflow_provider_acedata.operators.balance import ApplicationBalanceCheckOperator
    from airflow_provider_acedata.operators.credential import CreateCredentialOperator, RotateCredentialOperator
    from airflow_provider_acedata.operators.export import ExportOrdersOperator, ExportUsageOperator
    from airflow_provider_acedata.operators.platform_token import (
        DeletePlatformTokenOperator,
        RotatePlatformTokenOperator,
    )

__all__ = [
    "ApplicationBalanceCheckOperator",
    "CallApiOperator",
    "CreateApplicationOperator",
    "CreateCredentialOperator",
    "DeletePlatformTokenOperator",
    "ExportOrdersOperator",
    "ExportUsageOperator",
    "RotateCredentialOperator",
    "RotatePlatformTokenOperator",
]
__getattr__ = lazy_exports(
    __name__,
    {
        "CallApiOperator": "api",
        "CreateApplicationOperator": "application",
        "ApplicationBalanceCheckOperator": "balance",
        "CreateCredentialOperator": "credential",
        "RotateCredentialOperator": "credential",
        "ExportOrdersOperator": "export",
        "ExportUsageOperator": "export",
        "DeletePlatformTokenOperator": "platform_token",
        "RotatePlatformTokenOperator": "platform_token",
    },
)
