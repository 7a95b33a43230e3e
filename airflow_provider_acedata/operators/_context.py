"""What the provider records on the platform about the Airflow run that made something."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_acedata.version_compat import BaseOperator


def run_metadata(task: BaseOperator, context: Context) -> dict[str, Any]:
    """The dag, run and task ids, so a token or lock on the platform names the run that made it."""
    run_id = context.get("run_id")
    return {"dag_id": task.dag_id, "run_id": str(run_id) if run_id else None, "task_id": task.task_id}
