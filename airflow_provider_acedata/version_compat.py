"""Airflow version differences in one place: import the Task SDK names from wherever this Airflow has them."""

from __future__ import annotations

from airflow import __version__ as AIRFLOW_VERSION
from airflow.sdk import BaseOperator, Variable
from airflow.sdk.log import mask_secret
from packaging.version import Version

AIRFLOW_V_3_1_PLUS = Version(Version(AIRFLOW_VERSION).base_version) >= Version("3.1.0")

if AIRFLOW_V_3_1_PLUS:
    from airflow.sdk import BaseHook
else:  # 3.0 still has BaseHook only in its old home.
    from airflow.hooks.base import BaseHook  # type: ignore[no-redef]

__all__ = ["AIRFLOW_VERSION", "AIRFLOW_V_3_1_PLUS", "BaseHook", "BaseOperator", "Variable", "mask_secret"]
