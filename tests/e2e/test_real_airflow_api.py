"""CallApiOperator in a real deployment (scheduler, LocalExecutor worker processes, triggerer).

* 50 mapped calls deferred at once share their task reads in the triggerer (the offline gateway counts).
* The worker's task process SIGKILLed after the submit: the retry reattaches, with no second submit.
* A submit whose answer is dropped, and one whose process is killed while it waits for the answer: one
  submit each across all tries, and the tries fail saying what to check.
* No API key (or platform token) in any log, XCom, trigger row or column of the metadata database.

Each test has its own offline gateway with a frozen clock (its tasks finish when the test advances it),
its own connection and DAG, so the tests share the session's deployment.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from airflow_provider_acedata.testing import FakeAceDataPlatform

SERVICES = ("flux", "veo", "suno", "midjourney")


@pytest.fixture
def gateway() -> Iterator[tuple[FakeAceDataPlatform, str]]:
    """An offline gateway whose tasks finish only when the test advances its clock, and an API key."""
    with FakeAceDataPlatform() as fake:
        fake.freeze_time()
        key = fake.issue_api_key(None, credits=1000)["token"]
        yield fake, key


def dag_source(dag_id: str, conn_id: str, body: str, **arguments: Any) -> str:
    args = ", ".join(f"{name}={value}" for name, value in arguments.items())
    return f"""
from datetime import datetime, timedelta

from airflow.sdk import DAG

from airflow_provider_acedata.operators import CallApiOperator

with DAG(dag_id={dag_id!r}, schedule=None, start_date=datetime(2026, 1, 1), catchup=False):
    {body.replace("CONN_ID", repr(conn_id)).replace("ARGS", args)}
"""


def ti_path(airflow: Any, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> str:
    path = f"/api/v2/dags/{quote(dag_id, safe='')}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}"
    return path if map_index < 0 else f"{path}/{map_index}"


def wait_until(condition: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def task_process(ti_id: str) -> int | None:
    """The pid of the task runner of a task instance (its title is ``airflow worker -- <ti id>``)."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if f"airflow worker -- {ti_id}" in (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode():
                    return int(entry.name)
    return None


def stored_text(airflow: Any) -> str:
    """Every text value of every table of the metadata database, encrypted trigger kwargs decrypted."""
    parts: list[str] = []
    with contextlib.closing(sqlite3.connect(airflow.home / "airflow.db", timeout=10)) as db:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            for row in db.execute(f'SELECT * FROM "{table}"'):  # table names from sqlite_master
                for value in row:
                    if isinstance(value, bytes):
                        value = value.decode(errors="replace")
                    if isinstance(value, str):
                        if table == "trigger" and value.startswith("gAAAA"):
                            value = airflow.decrypt(value, True) or ""
                        parts.append(value)
    return "\n".join(parts)


def assert_no_secret(airflow: Any, dag_id: str, run_id: str, secrets: list[str]) -> None:
    where = {
        "logs": airflow.all_logs(),
        "task logs": airflow.task_logs(dag_id, run_id),
        "XCom": json.dumps(airflow.xcoms(dag_id, run_id), default=str),
        "metadata database": stored_text(airflow),
    }
    leaks = [f"{secret[:6]}... in {place}" for secret in secrets for place, text in where.items() if secret in text]
    assert not leaks, leaks


def test_fifty_mapped_calls_deferred_at_once_share_their_task_reads(
    real_airflow: Any, gateway: tuple[FakeAceDataPlatform, str]
) -> None:
    fake, key = gateway
    dag_id, conn_id, count, interval = "acedata_api_fan_out", "acedata_api_fan_out", 50, 2
    real_airflow.create_connection(conn_id, "acedata_api", host=fake.gateway_url, password=key)
    body = (
        "CallApiOperator.partial(task_id='generate', path='/flux/images', acedata_api_conn_id=CONN_ID, ARGS)"
        ".expand(body=[{'action': 'generate', 'prompt': f'prompt {i}'} for i in range(COUNT)])"
    ).replace("COUNT", str(count))
    source = dag_source(dag_id, conn_id, body, deferrable=True, poke_interval=interval)
    real_airflow.add_dag_file(f"{dag_id}.py", source)
    real_airflow.wait_for_dag(dag_id)

    run_id = real_airflow.trigger(dag_id)
    deferred = wait_until(
        lambda: (
            [ti for ti in real_airflow.task_instances(dag_id, run_id) if ti["state"] == "deferred"]
            if sum(ti["state"] == "deferred" for ti in real_airflow.task_instances(dag_id, run_id)) == count
            else None
        ),
        240,
        f"all {count} mapped calls deferred at once",
    )
    trigger_row = real_airflow.stored_row("SELECT kwargs FROM trigger WHERE id = ?", deferred[0]["trigger"]["id"])
    fake.clear_requests()
    time.sleep(5 * interval)  # every wait deferred, every task still running: the shared reads
    reads = fake.calls("POST", "^/flux/tasks$", plane="gateway")
    fake.advance(3600)
    state = real_airflow.wait_for_run(dag_id, run_id, timeout=300)

    assert state == "success", real_airflow.task_states(dag_id, run_id)
    assert fake.gateway_stats().submits == {"/flux/images": count}
    seen = [(round(r.at - reads[0].at, 1), r.body.get("action"), len(r.body.get("ids", []))) for r in reads]
    # One read per interval for all of them (the triggerer may start the last triggers a moment after
    # their tasks show as deferred, so an early read may hold fewer ids), against 50 for a read per wait.
    assert 2 <= len(reads) <= 5 + 2, seen
    assert all(action == "retrieve_batch" for _, action, _ in seen), seen
    assert seen[-1][2] == count and sum(ids for _, _, ids in seen) >= count * (len(reads) - 1), seen
    assert fake.gateway_stats().retrieves == 0  # never one read per task
    kwargs = real_airflow.decrypt(str(trigger_row[0]), encrypted=not str(trigger_row[0]).startswith("{"))
    assert key not in kwargs and "gateway_task_id" in kwargs and conn_id in kwargs
    manifests = [x["value"] for x in real_airflow.xcoms(dag_id, run_id) if x["key"] == "return_value"]
    assert sorted(m["task_id"] for m in manifests) == sorted(t["id"] for t in fake.tasks("/flux/images"))
    assert all(m["state"] == "succeeded" and len(m["artifacts"]) == 1 for m in manifests)
    assert_no_secret(real_airflow, dag_id, run_id, [key, fake.token])


def test_sigkill_after_the_submit_then_the_retry_reattaches(
    real_airflow: Any, gateway: tuple[FakeAceDataPlatform, str]
) -> None:
    fake, key = gateway
    dag_id, conn_id = "acedata_api_sigkill", "acedata_api_sigkill"
    real_airflow.create_connection(conn_id, "acedata_api", host=fake.gateway_url, password=key)
    body = (
        "CallApiOperator(task_id='generate', path='/veo/videos', acedata_api_conn_id=CONN_ID, "
        "body={'action': 'text2video', 'prompt': 'waves at night'}, ARGS)"
    )
    source = dag_source(dag_id, conn_id, body, deferrable=False, poke_interval=1, retries=1,
                        retry_delay="timedelta(seconds=1)")  # fmt: skip
    real_airflow.add_dag_file(f"{dag_id}.py", source)
    real_airflow.wait_for_dag(dag_id)

    run_id = real_airflow.trigger(dag_id)
    wait_until(lambda: fake.calls("POST", "^/veo/tasks$", plane="gateway"), 120, "the first task read")
    ti_id = real_airflow.api("GET", ti_path(real_airflow, dag_id, run_id, "generate")).json()["id"]
    pid = wait_until(lambda: task_process(ti_id), 30, "the task process")
    os.kill(pid, signal.SIGKILL)
    fake.clear_requests()
    wait_until(lambda: fake.calls("POST", "^/veo/tasks$", plane="gateway"), 120, "the retry's task reads")
    fake.advance(3600)
    state = real_airflow.wait_for_run(dag_id, run_id, timeout=120)

    instance = real_airflow.api("GET", ti_path(real_airflow, dag_id, run_id, "generate")).json()
    logs = real_airflow.task_logs(dag_id, run_id)
    [task] = fake.tasks("/veo/videos")
    assert state == "success", logs[-3000:]
    assert instance["try_number"] == 2
    assert fake.gateway_stats().submits == {"/veo/videos": 1}  # zero submits by the retry
    assert f"Reattaching to task {task['id']}" in logs
    [manifest] = [x["value"] for x in real_airflow.xcoms(dag_id, run_id) if x["key"] == "return_value"]
    assert manifest["task_id"] == task["id"] and manifest["state"] == "succeeded"
    assert_no_secret(real_airflow, dag_id, run_id, [key, fake.token])


def test_a_lost_answer_is_one_submit_across_all_tries(
    real_airflow: Any, gateway: tuple[FakeAceDataPlatform, str]
) -> None:
    """``dropped``: the connection closes after the gateway applied the submit. ``killed``: the task process is
    SIGKILLed while the submit's answer is held back; its retry finds the submit recorded but unanswered."""
    fake, key = gateway
    dag_id, conn_id = "acedata_api_lost", "acedata_api_lost"
    real_airflow.create_connection(conn_id, "acedata_api", host=fake.gateway_url, password=key)
    fake.fail(plane="gateway", path="^/suno/audios$", drop=True, after_apply=True, times=None)
    fake.fail(plane="gateway", path="^/midjourney/imagine$", status=None, delay=120, after_apply=True, times=None)
    body = (
        "CallApiOperator(task_id='dropped', path='/suno/audios', acedata_api_conn_id=CONN_ID, "
        "body={'lyric': '[Verse] la', 'custom': True}, ARGS)\n"
        "    CallApiOperator(task_id='killed', path='/midjourney/imagine', acedata_api_conn_id=CONN_ID, "
        "body={'prompt': 'a lighthouse'}, ARGS)"
    )
    source = dag_source(dag_id, conn_id, body, deferrable=True, retries=2, retry_delay="timedelta(seconds=1)")
    real_airflow.add_dag_file(f"{dag_id}.py", source)
    real_airflow.wait_for_dag(dag_id)

    run_id = real_airflow.trigger(dag_id)
    wait_until(lambda: fake.tasks("/midjourney/imagine"), 120, "the held-back submit")
    ti_id = real_airflow.api("GET", ti_path(real_airflow, dag_id, run_id, "killed")).json()["id"]
    os.kill(wait_until(lambda: task_process(ti_id), 30, "the task process"), signal.SIGKILL)
    state = real_airflow.wait_for_run(dag_id, run_id, timeout=180)

    instances = {ti["task_id"]: ti for ti in real_airflow.task_instances(dag_id, run_id)}
    logs = real_airflow.task_logs(dag_id, run_id)
    assert state == "failed"
    assert {name: ti["state"] for name, ti in instances.items()} == {"dropped": "failed", "killed": "failed"}
    assert fake.gateway_stats().submits == {"/suno/audios": 1, "/midjourney/imagine": 1}
    assert len(fake.calls("POST", "^/suno/audios$", plane="gateway")) == 1
    assert len(fake.calls("POST", "^/midjourney/imagine$", plane="gateway")) == 1
    assert instances["dropped"]["try_number"] == 1  # failed at once: a retry could only fail the same way
    assert instances["killed"]["try_number"] == 2  # the retry refused to submit again
    assert "got no answer" in logs and "never saw the answer" in logs
    assert logs.count("may have created a task that is charged") >= 2
    assert_no_secret(real_airflow, dag_id, run_id, [key, fake.token])
