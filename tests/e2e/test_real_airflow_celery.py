"""Token rotation on CeleryExecutor: tasks run in a separate ``airflow celery worker``, not the scheduler.

The broker is kombu's SQLAlchemy transport on a SQLite file and the result backend a SQLite file too, so
nothing but Python packages is needed (see ``RealAirflow(executor="CeleryExecutor")``). Each task reaches
Airflow only through the Task SDK, as on a remote worker: the example rotation DAG stores every new token
through the REST API (``AirflowConnectionTokenStore``), and the next run must authenticate with it.

The test waits for every run of the DAG to finish, not only the ones it triggered, so that a scheduled run
(should a user give the example a schedule) could not overlap unnoticed.
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


@pytest.fixture(scope="module")
def e2e_celery_platform() -> Iterator[FakeAceDataPlatform]:
    """The fake Ace Data Cloud platform, in the test process on 127.0.0.1."""
    with FakeAceDataPlatform() as fake:
        yield fake


@pytest.fixture(scope="module")
def deployment(real_airflow_celery: RealAirflow, e2e_celery_platform: FakeAceDataPlatform) -> RealAirflow:
    """The Celery deployment with ``acedata_default`` and ``airflow_api`` connections and the DAG parsed."""
    af = real_airflow_celery
    af.create_connection("acedata_default", "acedata", host=e2e_celery_platform.url, password=e2e_celery_platform.token)
    af.create_connection("airflow_api", "http", host=af.base_url, login=af.username, password=af.password)
    af.wait_for_dag(DAG_ID)
    return af


def trigger_and_settle(af: RealAirflow) -> tuple[str, list[dict[str, Any]]]:
    """Trigger a manual run, wait for it and any other run; all must succeed. Returns (run_id, all runs)."""
    run_id = af.trigger(DAG_ID)
    state = af.wait_for_run(DAG_ID, run_id, timeout=240)
    assert state == "success", af.task_logs(DAG_ID, run_id)[-4000:]
    runs = af.wait_until_idle(DAG_ID)
    assert [r["state"] for r in runs] == ["success"] * len(runs), [
        af.task_states(DAG_ID, r["dag_run_id"]) for r in runs
    ]
    return run_id, runs


def stored_token(af: RealAirflow) -> str:
    """The token the ``acedata_default`` connection holds now (read unmasked with the CLI)."""
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


def test_rotation_twice_on_celery_executor(deployment: RealAirflow, e2e_celery_platform: FakeAceDataPlatform) -> None:
    """Two triggered runs rotate the token in turn on the Celery worker; no token reaches a log or XCom.

    Token values are only compared into booleans first, so a failing assertion never prints a token.
    """
    af = deployment
    original = e2e_celery_platform.token
    tokens: set[str] = {original}  # every token value seen, lock tokens of the lease included

    first_run, earlier_runs = trigger_and_settle(af)
    first = stored_token(af)
    changed, works, revoked = (
        first != original,
        authenticates(e2e_celery_platform, first),
        is_revoked(e2e_celery_platform, original),
    )
    assert changed and works, "the first run did not store a new, working token"
    assert revoked, "the original token was not revoked"
    tokens |= {r.token for r in e2e_celery_platform.requests if r.token} | {first}

    e2e_celery_platform.clear_requests()
    second_run, runs = trigger_and_settle(af)
    assert len(runs) == len(earlier_runs) + 1, "a run besides the triggered one ran between the two"
    second = stored_token(af)
    changed, works, revoked = (
        second not in (first, original),
        authenticates(e2e_celery_platform, second),
        is_revoked(e2e_celery_platform, first),
    )
    assert changed and works, "the second run did not store a new, working token"
    assert revoked, "the first token was not revoked"
    tokens |= {r.token for r in e2e_celery_platform.requests if r.token} | {second}
    names = {original: "original", first: "first", second: "second"}
    calls = token_names(e2e_celery_platform, names)
    used = [name for name, _ in calls]
    assert used[:1] == ["first"], f"the second run did not start with the token the first one stored: {calls}"
    assert "original" not in used and "second" in used, calls
    live = [t["token"] for t in e2e_celery_platform.live_tokens(e2e_celery_platform.user["id"])]
    only_second = live == [second]
    assert only_second, f"{len(live)} live tokens; expected only the stored one"

    all_run_ids = [r["dag_run_id"] for r in runs]
    assert first_run in all_run_ids and second_run in all_run_ids
    assert_ran_on_celery_worker(af, all_run_ids)

    logs = {run_id: af.task_logs(DAG_ID, run_id) for run_id in all_run_ids}
    assert "Stored token" in logs[second_run] and "Revoked" in logs[second_run]
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
