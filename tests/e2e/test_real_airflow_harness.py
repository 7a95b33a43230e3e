"""Prove the real-Airflow harness works: masking in task logs, XCom over REST, ORM blocked in tasks.

The probe runs on each executor of the shared deployment: the default (CeleryExecutor, in the Celery worker)
and the LocalExecutor (named by the task), so both paths a task can take are checked.
"""

from __future__ import annotations

import time

import pytest
from e2e.real_airflow import RealAirflow

SECRET = "SuperSecretValue123"
DAG_ID = "acedata_e2e_harness_probe"
#: Task id suffix per executor: none for the deployment's default (CeleryExecutor), "_local" for LocalExecutor.
SUFFIXES = ("", "_local")

PROBE_DAG = f'''
"""Harness probe DAG, written by tests/e2e/test_real_airflow_harness.py."""
from __future__ import annotations

import pendulum
from airflow.sdk import dag, task


@dag(dag_id="{DAG_ID}", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"), catchup=False)
def harness_probe():
    for suffix, executor in (("", None), ("_local", "LocalExecutor")):

        @task(task_id="mask_and_push" + suffix, executor=executor)
        def mask_and_push():
            from airflow.sdk.log import mask_secret

            mask_secret("{SECRET}")
            print("{SECRET}")
            return {{"id": "abc"}}

        @task(task_id="orm_probe" + suffix, executor=executor)
        def orm_probe():
            from airflow.settings import Session

            try:
                Session()
            except RuntimeError as exc:
                return f"ORM blocked: {{exc}}"
            return "ORM NOT BLOCKED"

        mask_and_push() >> orm_probe()


harness_probe()
'''


@pytest.mark.airflow_real
def test_real_airflow_masks_logs_passes_xcom_and_blocks_orm(real_airflow: RealAirflow) -> None:
    t0 = time.monotonic()
    real_airflow.add_dag_file(f"{DAG_ID}.py", PROBE_DAG)
    real_airflow.wait_for_dag(DAG_ID, timeout=60)
    t1 = time.monotonic()
    run_id = real_airflow.trigger(DAG_ID)
    state = real_airflow.wait_for_run(DAG_ID, run_id, timeout=120)
    real_airflow.timings["probe_dag_parsed"] = t1 - t0
    real_airflow.timings["probe_run"] = time.monotonic() - t1

    states = real_airflow.task_states(DAG_ID, run_id)
    logs = real_airflow.task_logs(DAG_ID, run_id)
    assert state == "success", (states, logs[-4000:])
    tasks = [f"{name}{suffix}" for suffix in SUFFIXES for name in ("mask_and_push", "orm_probe")]
    assert states == dict.fromkeys(tasks, "success")

    executors = {ti["task_id"]: ti["executor"] for ti in real_airflow.task_instances(DAG_ID, run_id)}
    assert executors == {"mask_and_push": None, "orm_probe": None, **dict.fromkeys(tasks[2:], "LocalExecutor")}
    worker_log = real_airflow.celery_worker_log()
    on_celery = {ti["task_id"] for ti in real_airflow.task_instances(DAG_ID, run_id) if ti["id"] in worker_log}
    assert on_celery == {"mask_and_push", "orm_probe"}, on_celery

    assert real_airflow.task_log_files(DAG_ID, run_id), "no task log files written"
    assert SECRET not in logs
    assert "***" in logs

    values = {(x["task_id"], x["key"]): x["value"] for x in real_airflow.xcoms(DAG_ID, run_id)}
    for suffix in SUFFIXES:
        assert values[(f"mask_and_push{suffix}", "return_value")] == {"id": "abc"}
        orm_result = values[(f"orm_probe{suffix}", "return_value")]
        assert orm_result.startswith("ORM blocked:"), orm_result
        assert "Direct database access via the ORM is not allowed" in orm_result
