"""Two overlapping real DAG runs create one API key: the platform lock under a scheduler and LocalExecutor.

``TestConcurrentCreate`` (tests/operators/test_credential.py) steers threads through chosen interleavings.
Here two runs of a DAG with ``max_active_runs=2`` are triggered at the same moment and their tasks run in
separate worker processes. The offline platform holds the first key create for ``CREATE_DELAY`` seconds, so
the other run reaches find-or-create while the key is being made; every request is recorded with the lock
tokens alive when it arrived, which shows the second run took its turn on the lock instead of running later.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from airflow_provider_acedata.hooks import AceDataHook
from airflow_provider_acedata.platform_lock import lock_tag
from airflow_provider_acedata.testing import FakeAceDataPlatform
from airflow_provider_acedata.testing.faults import RequestRecord

DAG_ID = "acedata_credential_lock"
CONN_ID = "acedata_credential_lock"
TASK_ID = "create_api_key"
KEY_NAME = "etl-shared"
#: Long enough for the second run's task to start while the first run's create is held (measured lag: ~1 s).
CREATE_DELAY = 10.0
DAG = f"""
from datetime import datetime

from airflow.sdk import DAG

from airflow_provider_acedata.operators import CreateCredentialOperator

with DAG(dag_id={DAG_ID!r}, schedule=None, start_date=datetime(2026, 1, 1), max_active_runs=2):
    CreateCredentialOperator(
        task_id={TASK_ID!r},
        application_id="{{{{ dag_run.conf['application_id'] }}}}",
        name={KEY_NAME!r},
        lock_ttl=60,
        lock_wait=120,
        acedata_conn_id={CONN_ID!r},
    )
"""


@dataclass(frozen=True)
class Seen:
    """A request as it arrived, with the run ids of the live lock tokens then (oldest, i.e. holder, first)."""

    method: str
    path: str
    run_id: str | None
    """The run that sent it, when the request says so: a lock create (metadata) or a lock's own delete."""
    holders: tuple[str | None, ...]
    keys: int
    """How many API keys named ``KEY_NAME`` existed."""
    at: float
    """Seconds since the recording began (failure messages show how close the runs came)."""


@pytest.fixture(scope="module")
def lock_platform() -> Iterator[FakeAceDataPlatform]:
    with FakeAceDataPlatform() as fake:
        yield fake


def lock_tokens(platform: FakeAceDataPlatform, tag: str) -> list[dict[str, Any]]:
    return sorted(
        (t for t in platform.live_tokens() if tag in (t.get("tags") or [])), key=lambda t: (t["created_at"], t["id"])
    )


def record_arrivals(platform: FakeAceDataPlatform, tag: str) -> tuple[list[Seen], set[str]]:
    """Log every request with the lock state at its arrival, and every lock token's value (secrets too).

    The log is kept by a fault rule that never fires: rules are matched under the platform's lock.
    """
    seen: list[Seen] = []
    lock_values: set[str] = set()
    start = time.monotonic()

    def observe(record: RequestRecord) -> bool:
        locks = lock_tokens(platform, tag)
        lock_values.update(str(t["token"]) for t in locks)
        body = record.body if isinstance(record.body, dict) else {}
        run_id = None
        if record.method == "POST" and tag in (body.get("tags") or []):
            run_id = (body.get("metadata") or {}).get("run_id")
        elif record.method == "DELETE":
            run_id = next((t["metadata"].get("run_id") for t in locks if t["token"] == record.token), None)
        keys = sum(1 for c in platform.credentials() if c["name"] == KEY_NAME)
        holders = tuple(t["metadata"].get("run_id") for t in locks)
        seen.append(Seen(record.method, record.path, run_id, holders, keys, round(time.monotonic() - start, 2)))
        return False

    platform.fail(predicate=observe, times=None)
    return seen, lock_values


def is_route(seen: Seen, route: str) -> bool:
    return seen.path.rstrip("/").endswith(f"/{route}")


def only(items: list[int]) -> int:
    assert len(items) == 1, items
    return items[0]


def summary(xcoms: list[dict[str, Any]], key: str) -> Any:
    values = [x["value"] for x in xcoms if x["task_id"] == TASK_ID and x["key"] == key]
    assert len(values) == 1, xcoms
    return values[0]


def test_overlapping_runs_create_one_key_and_both_return_its_id(
    real_airflow: Any, lock_platform: FakeAceDataPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    platform = lock_platform
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", platform.connection_json())
    application_id = str(AceDataHook(CONN_ID).create_application(platform.service_id("midjourney"))["id"])
    tag = lock_tag("credential", application_id, KEY_NAME)
    real_airflow.create_connection(CONN_ID, "acedata", host=platform.url, password=platform.token)
    real_airflow.add_dag_file(f"{DAG_ID}.py", DAG)
    real_airflow.wait_for_dag(DAG_ID)
    seen, lock_values = record_arrivals(platform, tag)
    held = platform.fail(method="POST", path=r"/credentials/?$", delay=CREATE_DELAY)

    runs = [real_airflow.trigger(DAG_ID, conf={"application_id": application_id}) for _ in range(2)]
    states = [real_airflow.wait_for_run(DAG_ID, run_id, timeout=240) for run_id in runs]

    logs = {run_id: real_airflow.task_logs(DAG_ID, run_id) for run_id in runs}
    assert states == ["success", "success"], [text[-3000:] for text in logs.values()]
    assert held.hits == 1
    keys = [c for c in platform.credentials() if c["application_id"] == application_id and c["name"] == KEY_NAME]
    assert len(keys) == 1, [k["id"] for k in keys]
    key = keys[0]
    xcoms = {run_id: real_airflow.xcoms(DAG_ID, run_id) for run_id in runs}
    assert [summary(xcoms[run_id], "return_value") for run_id in runs] == [key["id"], key["id"]]
    created = {run_id: summary(xcoms[run_id], "credential")["created"] for run_id in runs}
    assert sorted(created.values()) == [False, True], created
    creator = next(run_id for run_id in runs if created[run_id])
    waiter = next(run_id for run_id in runs if not created[run_id])
    assert "A concurrent run created API key" in logs[waiter]

    create_at = only([i for i, s in enumerate(seen) if s.method == "POST" and is_route(s, "credentials")])
    assert seen[create_at].holders[:1] == (creator,), seen[create_at]
    tries = [i for i, s in enumerate(seen) if s.method == "POST" and s.run_id == waiter]
    assert len(tries) >= 2, f"the second run never queued on the lock: {seen}"
    first_try, last_try = seen[tries[0]], seen[tries[-1]]
    assert first_try.holders == (creator,) and first_try.keys == 0, f"the runs did not meet in find-or-create: {seen}"
    gave_way = next((s for s in seen[tries[0] :] if s.method == "DELETE" and s.run_id == waiter), None)
    assert gave_way is not None and gave_way.holders[0] == creator and gave_way.keys == 0, "it did not give way"
    # After its create the holder lists no locks: these are the second run's polls while the key was being made.
    polls = [s for s in seen[create_at + 1 : tries[-1]] if s.method == "GET" and is_route(s, "platform-tokens")]
    assert any(s.holders == (creator,) and s.keys == 0 for s in polls), f"no wait while the holder created: {seen}"
    assert last_try.holders == () and last_try.keys == 1, "the second run took the lock before the holder left it"

    assert lock_tokens(platform, tag) == []
    assert [t["token"] for t in platform.live_tokens()] == [platform.token], "a lock token was left alive"
    assert len(lock_values) >= 3, lock_values
    secrets = (key["token"], platform.token, *lock_values)
    everything = real_airflow.all_logs()
    for secret in secrets:
        assert secret not in everything, "a secret reached some Airflow log in clear text"
        for run_id in runs:
            assert secret not in logs[run_id]
            assert secret not in json.dumps(xcoms[run_id])
