"""Token rotation under real task execution: api-server, scheduler, dag-processor, a Celery worker on Redis.

``dag.test()`` lets tasks write connections through the ORM and does not mask logs, so it proves nothing
about the store that production needs. Here the example DAG, as shipped, stores each new token through
Airflow's REST API (``AirflowConnectionTokenStore``) twice in a row on the deployment's default executor,
CeleryExecutor: each task runs in the separate ``airflow celery worker`` (fed through a real Redis broker) and
reaches Airflow only through the Task SDK, as on a remote worker, and the next run must authenticate with
the token the previous one stored. Then two runs of a copy with ``max_active_runs=2``, whose task names the
LocalExecutor, are triggered at the same moment and must not undo each other.

(Until the real tests shared one deployment, the first test ran twice: on a LocalExecutor deployment, and
in ``test_real_airflow_celery.py`` on a CeleryExecutor one. It now holds the assertions of both.)

Token values are only compared into booleans or names first, so a failing assertion never prints a token.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from e2e.real_airflow import RealAirflow

from airflow_provider_acedata.testing import FakeAceDataPlatform

pytestmark = pytest.mark.airflow_real

DAG_ID = "example_acedata_rotation"
TASK_ID = "rotate_platform_token"
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
        executor="LocalExecutor",
    )
"""


@pytest.fixture(scope="module")
def e2e_rotation_platform() -> Iterator[FakeAceDataPlatform]:
    """The fake Ace Data Cloud platform, in the test process on 127.0.0.1."""
    with FakeAceDataPlatform() as fake:
        yield fake


@pytest.fixture(scope="module")
def deployment(real_airflow: RealAirflow, e2e_rotation_platform: FakeAceDataPlatform) -> RealAirflow:
    """The shared deployment with ``acedata_default`` and ``airflow_api`` connections and the DAG parsed."""
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


def stored_token(af: RealAirflow) -> str:
    """The token the ``acedata_default`` connection holds now (read unmasked from the metadata database)."""
    return af.get_connection_password("acedata_default")


def authenticates(platform: FakeAceDataPlatform, token: str) -> bool:
    """Whether the platform accepts this bearer token."""
    answer = requests.get(
        f"{platform.api_url}/platform-tokens/me/", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    return answer.status_code == 200


def is_revoked(platform: FakeAceDataPlatform, token: str) -> bool:
    """The platform no longer knows the token, and refuses it."""
    return not platform.is_live(token) and not authenticates(platform, token)


def trigger_and_settle(af: RealAirflow, dag_id: str = DAG_ID) -> tuple[str, list[dict[str, Any]]]:
    """Trigger a manual run, wait for it and any other run; all must succeed. Returns (run_id, all runs).

    Waiting for every run of the DAG, not only the triggered one, means a scheduled run (should a user give
    the example a schedule) could not overlap unnoticed.
    """
    run_id = af.trigger(dag_id)
    state = af.wait_for_run(dag_id, run_id, timeout=240)
    assert state == "success", af.task_logs(dag_id, run_id)[-4000:]
    runs = af.wait_until_idle(dag_id)
    assert [r["state"] for r in runs] == ["success"] * len(runs), [
        af.task_states(dag_id, r["dag_run_id"]) for r in runs
    ]
    return run_id, runs


def return_value(xcoms: list[dict[str, Any]], task_id: str = TASK_ID) -> Any:
    values = [x["value"] for x in xcoms if x["task_id"] == task_id and x["key"] == "return_value"]
    assert len(values) == 1, xcoms
    return values[0]


def token_names(platform: FakeAceDataPlatform, names: dict[str, str]) -> list[tuple[str, str]]:
    """``(name of the bearer token, "METHOD path status")`` per recorded request, so no value reaches a message.

    A token not in ``names`` is "other": e.g. the lock token a rotation lists the lease holders with.
    """
    return [(names.get(r.token or "", "other"), f"{r.method} {r.path} {r.status}") for r in platform.requests]


def celery_results(af: RealAirflow) -> dict[str, str]:
    """``{celery task id: status}`` from the Celery result backend (a SQLite file)."""
    path = af.home / "celery-results.db"
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        return {
            str(task_id): str(status) for task_id, status in db.execute("SELECT task_id, status FROM celery_taskmeta")
        }


def celery_problems(af: RealAirflow, tis: list[dict[str, Any]]) -> list[str]:
    """What is not (yet) as it must be if the Celery worker executed each of ``tis`` once, successfully."""
    lines = af.celery_worker_log().splitlines()
    results = celery_results(af)
    problems = []
    for ti in tis:
        what = f"{ti['dag_run_id']}/{ti['task_id']}"
        # "[<celery task id>] Executing workload in Celery: ... ti=TaskInstanceDTO(id=UUID('<ti id>'), ..."
        started = [ln for ln in lines if "Executing workload in Celery" in ln and ti["id"] in ln]
        celery_id = re.search(r"\[([0-9a-f-]{36})\] Executing workload", started[0]) if len(started) == 1 else None
        finished = [ln for ln in lines if "Workload finished" in ln and ti["id"] in ln]
        if celery_id is None:
            problems.append(f"{what}: {len(started)} 'Executing workload' lines in the worker log, not 1")
        elif results.get(celery_id.group(1)) != "SUCCESS":
            problems.append(f"{what}: Celery task {celery_id.group(1)} is {results.get(celery_id.group(1))}")
        if len(finished) != 1 or "final_state=success" not in finished[0]:
            problems.append(f"{what}: worker reported {finished}")
    return problems


def assert_ran_on_celery_worker(af: RealAirflow, run_ids: list[str], timeout: float = 60) -> None:
    """Every task instance of the runs was executed by the Celery worker, which reported success.

    The REST ``hostname`` and ``executor`` fields cannot tell (same host; ``executor`` is only set for tasks
    that name one), so this reads the worker's own log, which names each task instance id with the Celery
    task id, and the Celery result backend, where the worker records each Celery task's outcome. Both can
    lag a little behind the task instance state (set by the task itself through the execution API).
    """
    tis = [ti for run_id in run_ids for ti in af.task_instances(DAG_ID, run_id)]
    assert sorted(ti["task_id"] for ti in tis) == sorted([TASK_ID, "announce"] * len(run_ids)), tis
    deadline = time.monotonic() + timeout
    while (problems := celery_problems(af, tis)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not problems, problems


def test_rotation_twice_through_the_rest_api_store(deployment: RealAirflow, e2e_rotation_platform: Any) -> None:
    """Two triggered runs rotate the token in turn on the Celery worker; no token reaches a log or XCom."""
    af, platform = deployment, e2e_rotation_platform
    original = stored_token(af)
    untouched = original == platform.token
    assert untouched, "something rotated the token before the first manual run"
    user_id = platform.user["id"]
    tokens: set[str] = {original}  # every token value seen, lock tokens of the lease included

    first_run, earlier_runs = trigger_and_settle(af)
    first_xcoms = af.xcoms(DAG_ID, first_run)
    first = stored_token(af)
    changed, works, revoked = first != original, authenticates(platform, first), is_revoked(platform, original)
    assert changed and works, "the first run did not store a new, working token"
    assert revoked, "the original token was not revoked"
    first_id = return_value(first_xcoms)
    assert [t["id"] for t in platform.live_tokens(user_id) if t["token"] == first] == [first_id]
    tokens |= {r.token for r in platform.requests if r.token} | {first}

    platform.clear_requests()
    second_run, runs = trigger_and_settle(af)
    assert len(runs) == len(earlier_runs) + 1, "a run besides the triggered one ran between the two"
    second_xcoms = af.xcoms(DAG_ID, second_run)
    second = stored_token(af)
    changed = second not in (first, original)
    works, revoked = authenticates(platform, second), is_revoked(platform, first)
    assert changed and works, "the second run did not store a new, working token"
    assert revoked, "the first token was not revoked"
    tokens |= {r.token for r in platform.requests if r.token} | {second}
    names = {original: "original", first: "first", second: "second"}
    calls = token_names(platform, names)
    used = [name for name, _ in calls]
    assert used[:1] == ["first"], f"the second run did not start with the token the first one stored: {calls}"
    assert "original" not in used and "second" in used, calls
    live = [t["token"] for t in platform.live_tokens(user_id)]
    only_second = live == [second]
    assert only_second, f"{len(live)} live tokens; expected only the stored one"
    assert first_id in json.dumps(second_xcoms)

    all_run_ids = [r["dag_run_id"] for r in runs]
    assert first_run in all_run_ids and second_run in all_run_ids
    assert_ran_on_celery_worker(af, all_run_ids)

    logs = {run_id: af.task_logs(DAG_ID, run_id) for run_id in all_run_ids}
    for run_id in (first_run, second_run):
        assert "Stored token" in logs[run_id] and "Revoked" in logs[run_id], run_id
    places = {f"task logs of {run_id}": text for run_id, text in logs.items()}
    places |= {f"XComs of {run_id}": json.dumps(af.xcoms(DAG_ID, run_id)) for run_id in all_run_ids}
    places["all_logs() (incl. proc-logs/celery-worker.log)"] = everything = af.all_logs()
    assert "Executing workload in Celery" in everything
    leaks = [
        f"{names.get(t, 'a lock/intermediate token')} in {where}"
        for t in tokens
        for where, text in places.items()
        if t in text
    ]
    assert not leaks, leaks
    # `grep -rn "too short"` over every log finds nothing: no secret under 5 characters (such as the REST
    # API's redacted "***") is registered with the masker, which would warn on every rotation.
    assert "too short" not in everything


def test_overlapping_runs_do_not_undo_each_other(deployment: RealAirflow, e2e_rotation_platform: Any) -> None:
    """Two runs at once, in LocalExecutor worker processes: one rotates after the other, neither undoes it."""
    af, platform = deployment, e2e_rotation_platform
    af.add_dag_file("acedata_rotation_overlap.py", OVERLAP_DAG)
    af.wait_for_dag(OVERLAP_DAG_ID)
    af.api("PATCH", f"/api/v2/dags/{OVERLAP_DAG_ID}", json={"is_paused": False})
    before = stored_token(af)
    runs = [af.trigger(OVERLAP_DAG_ID) for _ in range(2)]
    states = [af.wait_for_run(OVERLAP_DAG_ID, run_id, timeout=240) for run_id in runs]
    assert states == ["success", "success"], [af.task_logs(OVERLAP_DAG_ID, r)[-3000:] for r in runs]
    ids = [return_value(af.xcoms(OVERLAP_DAG_ID, run_id)) for run_id in runs]
    assert len(set(ids)) == 2

    after = stored_token(af)
    assert authenticates(platform, after)
    assert not platform.is_live(before)
    live = platform.live_tokens(platform.user["id"])
    only_after = [t["token"] for t in live] == [after]
    assert only_after, "a token besides the stored one was left alive"

    third_run, _ = trigger_and_settle(af, OVERLAP_DAG_ID)
    xcoms = af.xcoms(OVERLAP_DAG_ID, third_run)
    third = stored_token(af)
    assert authenticates(platform, third) and not platform.is_live(after)
    assert return_value(xcoms) == platform.live_tokens(platform.user["id"])[0]["id"]

    tis = [ti for run_id in [*runs, third_run] for ti in af.task_instances(OVERLAP_DAG_ID, run_id)]
    assert [ti["executor"] for ti in tis] == ["LocalExecutor"] * 3, [(ti["id"], ti["executor"]) for ti in tis]
    worker_log = af.celery_worker_log()
    assert not [ti["id"] for ti in tis if ti["id"] in worker_log], "a LocalExecutor task ran on the Celery worker"
    assert "too short" not in af.all_logs()
