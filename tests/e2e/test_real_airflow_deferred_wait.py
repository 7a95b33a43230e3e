"""A deferrable balance sensor in a real triggerer: ``poke_interval`` alone governs the wait, no token leaks.

The sensor is given only ``poke_interval=1`` (no ``poll_interval``); the balance rises after four reads (one
by the task before it defers, three by the trigger). With the 0.1.0 behaviour (the trigger polled every 60 s)
the wait would outlive its 120 s timeout.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from testdata import raise_balance_after_reads

from airflow_provider_acedata.hooks import AceDataHook
from airflow_provider_acedata.testing import FakeAceDataPlatform

DAG_ID = "acedata_deferred_wait"
CONN_ID = "acedata_wait"
DAG = f"""
from datetime import datetime, timedelta

from airflow.sdk import DAG

from airflow_provider_acedata.sensors import ApplicationBalanceSensor

with DAG(dag_id={DAG_ID!r}, schedule=None, start_date=datetime(2026, 1, 1)):
    ApplicationBalanceSensor(
        task_id="wait_for_balance",
        application_id="{{{{ dag_run.conf['application_id'] }}}}",
        min_remaining_amount=10,
        acedata_conn_id={CONN_ID!r},
        deferrable=True,
        poke_interval=1,
        timeout=timedelta(seconds=120),
    )
"""


@pytest.fixture(scope="module")
def wait_platform() -> Iterator[FakeAceDataPlatform]:
    with FakeAceDataPlatform() as fake:
        yield fake


def test_deferred_sensor_follows_poke_interval_and_leaks_no_token(
    real_airflow: Any, wait_platform: FakeAceDataPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    platform = wait_platform
    monkeypatch.setenv("AIRFLOW_CONN_ACEDATA_DEFAULT", platform.connection_json())
    application_id = str(AceDataHook().create_application(platform.service_id("midjourney"))["id"])
    platform.set_balance(application_id, 0)
    raise_balance_after_reads(platform, application_id, 10, reads=4)
    real_airflow.create_connection(CONN_ID, "acedata", host=platform.url, password=platform.token)
    real_airflow.add_dag_file(f"{DAG_ID}.py", DAG)
    real_airflow.wait_for_dag(DAG_ID)

    run_id = real_airflow.trigger(DAG_ID, conf={"application_id": application_id})
    trigger_kwargs = deferred_trigger_kwargs(real_airflow, run_id)
    state = real_airflow.wait_for_run(DAG_ID, run_id, timeout=110)

    assert state == "success", real_airflow.task_logs(DAG_ID, run_id)[-4000:]
    reads = platform.calls("GET", f"/applications/{application_id}")
    assert len(reads) == 5
    assert {read.token for read in reads} == {platform.token}
    assert '"poke_interval": 1' in trigger_kwargs, trigger_kwargs
    assert platform.token not in trigger_kwargs
    values = [x["value"] for x in real_airflow.xcoms(DAG_ID, run_id) if x["key"] == "return_value"]
    assert values == [10]
    assert platform.token not in real_airflow.all_logs()
    assert platform.token not in real_airflow.task_logs(DAG_ID, run_id)


def test_connection_test_through_the_rest_api(real_airflow: Any, wait_platform: FakeAceDataPlatform) -> None:
    """What README "Testing the connection" says of Airflow 3.3.2's connection test, against a real api-server.

    A body naming only a stored connection tests it with its stored host and token; values given in the body
    are tested instead; a refused token is reported with the hook's message, which names the field and the fix;
    the body the connection list's Test button posts (``port: 0`` for an empty port) is refused as Bad Request,
    which is why the README leads with the REST call (pinned: when Airflow fixes it, the README changes).
    """
    platform = wait_platform
    real_airflow.create_connection(CONN_ID, "acedata", host=platform.url, password=platform.token)
    user = platform.user["username"]

    def test(**body: Any) -> Any:
        return real_airflow.api("POST", "/api/v2/connections/test", json={"conn_type": "acedata", **body})

    stored = test(connection_id=CONN_ID)
    typed = test(connection_id="acedata_unsaved", host=platform.url, password=platform.token)
    refused = test(connection_id="acedata_unsaved", host=platform.url, password="platform-v1-" + "0" * 64)
    list_button = test(connection_id=CONN_ID, host=platform.url, port=0, password="***", extra="{}")

    assert stored.status_code == 200, stored.text
    assert stored.json() == {"status": True, "message": f"Connected as {user}"}
    assert typed.json() == {"status": True, "message": f"Connected as {user}"}
    assert refused.json()["status"] is False
    assert "401" in refused.json()["message"]
    assert "(the Platform Token of this connection was refused: put a live one there)" in refused.json()["message"]
    assert list_button.status_code == 400
    assert "differs from the stored connection" in list_button.text
    assert platform.token not in stored.text + typed.text + refused.text + list_button.text


def deferred_trigger_kwargs(airflow: Any, run_id: str, timeout: float = 60) -> str:
    """The trigger row's kwargs as stored (decrypted with the Fernet key if encrypted), read while deferred."""
    path = f"/api/v2/dags/{quote(DAG_ID, safe='')}/dagRuns/{quote(run_id, safe='')}/taskInstances/wait_for_balance"
    deadline = time.monotonic() + timeout
    instance: dict[str, Any] = {}
    while time.monotonic() < deadline:
        instance = airflow.api("GET", path).json()
        if instance.get("state") == "deferred" and instance.get("trigger"):
            row = airflow.stored_row("SELECT kwargs FROM trigger WHERE id = ?", instance["trigger"]["id"])
            if row is not None:
                stored = str(row[0])
                return str(airflow.decrypt(stored, encrypted=not stored.startswith("{")))
        if instance.get("state") in ("success", "failed"):
            break
        time.sleep(0.2)
    raise AssertionError(f"the sensor was never seen deferred: {instance}")
