"""run_metadata: the ids that a token or lock recorded on the platform carries to name the run that made it.

That operators pass it on is tested with them (e.g. the rotated token's metadata in test_platform_token.py).
"""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import DAG

from airflow_provider_acedata.operators._context import run_metadata
from airflow_provider_acedata.version_compat import BaseOperator


def task_in_dag() -> BaseOperator:
    with DAG("acedata_rotation", schedule=None, start_date=datetime(2030, 1, 1, tzinfo=UTC)):
        return BaseOperator(task_id="rotate_token")


class RunId(str):
    """A run id that is not a plain str, as Airflow may hand it over."""


def test_names_the_dag_run_and_task():
    metadata = run_metadata(task_in_dag(), {"run_id": RunId("manual__2030-01-01")})

    assert metadata == {"dag_id": "acedata_rotation", "run_id": "manual__2030-01-01", "task_id": "rotate_token"}
    assert type(metadata["run_id"]) is str


def test_a_context_without_a_run_id_records_none():
    assert run_metadata(task_in_dag(), {})["run_id"] is None
    assert run_metadata(task_in_dag(), {"run_id": ""})["run_id"] is None
