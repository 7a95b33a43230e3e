"""Token rotation under real task execution: api-server, scheduler, dag-processor, LocalExecutor workers.

``dag.test()`` lets tasks write connections through the ORM and does not mask logs, so it proves nothing
about the store that production needs. Here the example DAG stores each new token through Airflow's REST API
(``AirflowConnectionTokenStore``), twice in a row, then two runs of a copy with ``max_active_runs=2`` are
triggered at the same moment and must not undo each other.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from airflow_provider_acedata.testing import FakeAceDataPlatform

DAG_ID = "example_acedata_rotation"
OVERLAP_DAG_ID = "acedata_rotation_overlap"
OVERLAP_DAG = """
from datetime import datetime

from airflow.sdk import DAG

from airflow_provider_acedata.operators import RotatePlatformTokenOperator
from airflow_provider_acedata.token_stores import AirflowConnectionTokenStore

with DAG(dag_id="acedata_rotation_overlap", schedule=None, start_date=datetime(2026, 1, 1), max_active_runs=2):
    RotatePlatformTokenOperator(
        task_id="rotate_platform_token",
        token_store=AirflowConnectionTokenStore(conn_id="acedata_default", airflow_api_conn_id="airflow_api"),
        lease_poll=0.5,
    )
"""


@pytest.fixture(scope="module")
def e2e_rotation_platform() -> Iterator[FakeAceDataPlatform]:
    with FakeAceDataPlatform() as fake:
        yield fake


@pytest.fixture(scope="module")
def deployment(real_airflow: Any, e2e_rotation_platform: FakeAceDataPlatform) -> Any:
    real_airflow.create_connection(
        "acedata_default",
        "acedata",
        host=e2e_rotation_platform.url,
        password=e2e_rotation_platform.token,
        extra={"retry_delay": 0.2},
    )
    real_airflow.create_connection(
        "airflow_api", "http", host=real_airflow.base_url, login=real_airflow.username, password=real_airflow.password
    )
    real_airflow.wait_for_dag(DAG_ID)
    # The example ships with schedule=None: unpausing it must not rotate (with @weekly and a past
    # start_date the scheduler would run the latest interval at once).
    real_airflow.api("PATCH", f"/api/v2/dags/{DAG_ID}", json={"is_paused": False})
    time.sleep(3)
    assert real_airflow.dag_runs(DAG_ID) == []
    return real_airflow


def stored_token(deployment: Any) -> str:
    return str(deployment.get_connection_password("acedata_default"))


def authenticates(platform: FakeAceDataPlatform, token: str) -> bool:
    answer = requests.get(
        f"{platform.api_url}/platform-tokens/me/", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    return answer.status_code == 200


def run_and_check(deployment: Any, platform: FakeAceDataPlatform, dag_id: str) -> tuple[str, list[dict[str, Any]]]:
    run_id = deployment.trigger(dag_id)
    state = deployment.wait_for_run(dag_id, run_id, timeout=240)
    assert state == "success", deployment.task_logs(dag_id, run_id)[-4000:]
    return run_id, deployment.xcoms(dag_id, run_id)


def return_value(xcoms: list[dict[str, Any]], task_id: str = "rotate_platform_token") -> Any:
    values = [x["value"] for x in xcoms if x["task_id"] == task_id and x["key"] == "return_value"]
    assert len(values) == 1, xcoms
    return values[0]


def test_rotation_twice_through_the_rest_api_store(deployment: Any, e2e_rotation_platform: FakeAceDataPlatform) -> None:
    original = stored_token(deployment)
    assert original == e2e_rotation_platform.token, "something rotated the token before the first manual run"
    user_id = e2e_rotation_platform.user["id"]

    first_run, first_xcoms = run_and_check(deployment, e2e_rotation_platform, DAG_ID)
    first = stored_token(deployment)
    assert first != original
    assert authenticates(e2e_rotation_platform, first)
    assert not e2e_rotation_platform.is_live(original) and not authenticates(e2e_rotation_platform, original)
    first_id = return_value(first_xcoms)
    assert [t["id"] for t in e2e_rotation_platform.live_tokens(user_id) if t["token"] == first] == [first_id]

    e2e_rotation_platform.clear_requests()
    second_run, second_xcoms = run_and_check(deployment, e2e_rotation_platform, DAG_ID)
    second = stored_token(deployment)
    assert second not in (first, original)
    assert any(r.token == first for r in e2e_rotation_platform.requests), "the second run did not use the stored token"
    assert not e2e_rotation_platform.is_live(first) and not authenticates(e2e_rotation_platform, first), (
        "the first token was not revoked"
    )
    assert authenticates(e2e_rotation_platform, second)
    assert [t["token"] for t in e2e_rotation_platform.live_tokens(user_id)] == [second]
    assert first_id in json.dumps(second_xcoms)

    secrets = (e2e_rotation_platform.token, original, first, second)
    for dag_run, xcoms in ((first_run, first_xcoms), (second_run, second_xcoms)):
        logs = deployment.task_logs(DAG_ID, dag_run)
        assert "Stored token" in logs and "Revoked" in logs
        dumped = json.dumps(xcoms)
        for secret in secrets:
            assert secret not in logs
            assert secret not in dumped
    everything = deployment.all_logs()
    for secret in secrets:
        assert secret not in everything, "a token reached some Airflow log in clear text"
    # `grep -rn "too short"` over every log finds nothing: no secret under 5 characters (such as the REST
    # API's redacted "***") is registered with the masker, which would warn on every rotation.
    assert "too short" not in everything


def test_overlapping_runs_do_not_undo_each_other(deployment: Any, e2e_rotation_platform: FakeAceDataPlatform) -> None:
    deployment.add_dag_file("acedata_rotation_overlap.py", OVERLAP_DAG)
    deployment.wait_for_dag(OVERLAP_DAG_ID)
    deployment.api("PATCH", f"/api/v2/dags/{OVERLAP_DAG_ID}", json={"is_paused": False})
    before = stored_token(deployment)
    runs = [deployment.trigger(OVERLAP_DAG_ID) for _ in range(2)]
    states = [deployment.wait_for_run(OVERLAP_DAG_ID, run_id, timeout=240) for run_id in runs]
    assert states == ["success", "success"], [deployment.task_logs(OVERLAP_DAG_ID, r)[-3000:] for r in runs]
    ids = [return_value(deployment.xcoms(OVERLAP_DAG_ID, run_id)) for run_id in runs]
    assert len(set(ids)) == 2

    after = stored_token(deployment)
    assert authenticates(e2e_rotation_platform, after)
    assert not e2e_rotation_platform.is_live(before)
    live = e2e_rotation_platform.live_tokens(e2e_rotation_platform.user["id"])
    assert [t["token"] for t in live] == [after], "a token besides the stored one was left alive"

    _, xcoms = run_and_check(deployment, e2e_rotation_platform, OVERLAP_DAG_ID)
    third = stored_token(deployment)
    assert authenticates(e2e_rotation_platform, third) and not e2e_rotation_platform.is_live(after)
    assert return_value(xcoms) == e2e_rotation_platform.live_tokens(e2e_rotation_platform.user["id"])[0]["id"]
    assert "too short" not in deployment.all_logs()
