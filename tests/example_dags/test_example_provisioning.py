"""The provisioning example DAG in real Airflow (``dag.test()``) against a FakeAceDataPlatform over sockets.

``dag.test()`` in Airflow 3.3 runs a deferred task's trigger inline (``_run_task(run_triggerer=True)``
drives ``trigger.run()`` in-process), so the balance sensor runs deferrable here, trigger included.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_acedata.hooks import AceDataHook
from airflow_provider_acedata.testing import FakeAceDataPlatform, RequestRecord
from airflow_provider_acedata.triggers import ApplicationBalanceTrigger

if TYPE_CHECKING:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.dagrun import DagRun
    from airflow.sdk import DAG

DAG_ID = "example_acedata_provisioning"
API_KEY_VARIABLE = "acedata_api_key_example_provisioning"
API_KEY_NAME = "airflow-example-provisioning"
LINK_KEY = "_link_AceDataApplicationLink"
TASKS = ("create_application", "wait_for_balance", "create_api_key", "use_api_key")

pytestmark = pytest.mark.usefixtures("airflow_db")


@pytest.fixture
def dag(example_dag_bag: tuple[DagBag, list[RequestRecord]]) -> DAG:
    found = example_dag_bag[0].dags[DAG_ID]
    assert found is not None
    return found


@pytest.fixture
def api_key_variable() -> Iterator[str]:
    """The Variable the DAG writes the API key to, unset before and after the test."""
    from airflow.models.variable import Variable

    Variable.delete(API_KEY_VARIABLE)
    yield API_KEY_VARIABLE
    Variable.delete(API_KEY_VARIABLE)


@pytest.fixture
def trigger_events(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The payloads ApplicationBalanceTrigger yields during the test (proof that it ran)."""
    events: list[dict[str, Any]] = []
    run = ApplicationBalanceTrigger.run

    async def recording_run(self: ApplicationBalanceTrigger) -> AsyncIterator[Any]:
        async for event in run(self):
            events.append(event.payload)
            yield event

    monkeypatch.setattr(ApplicationBalanceTrigger, "run", recording_run)
    return events


def run_xcoms(run: DagRun) -> dict[tuple[str, str], Any]:
    """Every XCom of a DAG run, by (task_id, key)."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.scalars(
            select(XComModel).where(XComModel.dag_id == run.dag_id, XComModel.run_id == run.run_id)
        ).all()
        return {(row.task_id, row.key): row.value for row in rows}


def task_states(run: DagRun) -> dict[str, str | None]:
    from airflow.utils.session import create_session

    with create_session() as session:
        return {ti.task_id: ti.state for ti in run.get_task_instances(session=session)}


def top_up_after_first_read(platform: FakeAceDataPlatform, application_id: str, amount: float, delay: float) -> None:
    """Top the application up ``delay`` seconds after its balance is first read (dag.test's start-up time varies)."""
    scheduled: list[bool] = []

    def schedule_once(record: RequestRecord) -> bool:
        if not scheduled:
            scheduled.append(True)
            platform.schedule_balance(application_id, amount, after_seconds=delay)
        return False

    platform.fail(method="GET", path=f"/applications/{application_id}$", predicate=schedule_once)


def assert_no_api_key(xcoms: dict[tuple[str, str], Any], platform: FakeAceDataPlatform) -> None:
    text = json.dumps({f"{task}/{key}": value for (task, key), value in xcoms.items()}, default=str)
    keys = [credential["token"] for credential in platform.credentials()] + [platform.token]
    assert keys
    leaked = [key[:6] + "..." for key in keys if key in text]
    assert not leaked, f"API keys found in XCom: {leaked}"


def test_parses_with_params_and_links(dag: DAG, example_dag_bag: tuple[DagBag, list[RequestRecord]]) -> None:
    assert example_dag_bag[1] == []
    assert set(dag.task_ids) == set(TASKS)
    assert dag.params["service_alias"] == "midjourney"
    assert dag.params["min_remaining_amount"] == 1
    assert dag.get_task("wait_for_balance").deferrable is True
    for task_id in TASKS[:3]:
        assert [link.name for link in dag.get_task(task_id).operator_extra_links] == ["Ace Data Cloud console"]


def test_waits_deferred_for_the_top_up_then_stores_the_key(
    dag: DAG,
    platform_conn: FakeAceDataPlatform,
    api_key_variable: str,
    trigger_events: list[dict[str, Any]],
) -> None:
    from airflow.models.variable import Variable

    platform = platform_conn
    application_id = str(AceDataHook().create_application(platform.service_id("midjourney"))["id"])
    platform.set_balance(application_id, 0)
    top_up_after_first_read(platform, application_id, 150, delay=0.5)

    run = dag.test(run_conf={"service_alias": "midjourney", "min_remaining_amount": 100, "poke_interval": 0.1})

    assert run.state == "success", task_states(run)
    assert trigger_events == [{"status": "success", "application_id": application_id, "remaining_amount": 150.0}]
    assert len(platform.calls("GET", f"/applications/{application_id}")) > 2
    [api_key] = [c for c in platform.credentials() if c["name"] == API_KEY_NAME]
    assert Variable.get(api_key_variable) == api_key["token"]

    xcoms = run_xcoms(run)
    assert xcoms[("create_application", "return_value")] == application_id
    assert xcoms[("wait_for_balance", "return_value")] == 150
    assert xcoms[("create_api_key", "return_value")] == api_key["id"]
    assert xcoms[("use_api_key", "return_value")] == api_key["id"]
    for task_id in TASKS[:3]:
        assert xcoms[(task_id, "application_id")] == application_id
        assert xcoms[(task_id, LINK_KEY)] == f"{platform.url}/console/applications"
    assert_no_api_key(xcoms, platform)


def test_creates_by_alias_and_reruns_reuse_everything(
    dag: DAG, platform_conn: FakeAceDataPlatform, api_key_variable: str, trigger_events: list[dict[str, Any]]
) -> None:
    from airflow.models.variable import Variable

    platform = platform_conn
    conf = {"service_alias": "suno", "min_remaining_amount": 0}

    first = dag.test(run_conf=conf)
    second = dag.test(run_conf=conf)

    assert first.state == second.state == "success", (task_states(first), task_states(second))
    [application] = platform.applications()
    assert application["service_id"] == platform.service_id("suno")
    [api_key] = [c for c in platform.credentials() if c["name"] == API_KEY_NAME]
    assert Variable.get(api_key_variable) == api_key["token"]
    assert trigger_events == []
    for run in (first, second):
        xcoms = run_xcoms(run)
        assert xcoms[("create_application", "return_value")] == application["id"]
        assert xcoms[("create_api_key", "return_value")] == api_key["id"]
        assert_no_api_key(xcoms, platform)
    assert [r.path for r in platform.calls("POST")] == [
        "/api/v1/applications/",
        "/api/v1/platform-tokens/",  # the credential lock, taken once, by the first run
        "/api/v1/credentials/",
    ]
    assert [t["token"] for t in platform.live_tokens()] == [platform.token], "the lock token was released"


def test_unknown_alias_fails_the_run_before_any_write(
    dag: DAG, platform_conn: FakeAceDataPlatform, api_key_variable: str
) -> None:
    run = dag.test(run_conf={"service_alias": "no-such-service"})

    assert run.state == "failed"
    assert task_states(run)["create_application"] == "failed"
    assert platform_conn.calls("POST") == []
