"""The example DAGs run in real Airflow (``dag.test()``, one process) against a FakeAceDataPlatform over sockets.

The CreateApplicationOperator's own behaviour (``execute`` called directly) is in tests/operators/test_application.py.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import requests

from airflow_provider_acedata.operators import CreateApplicationOperator
from airflow_provider_acedata.testing import FakeAceDataPlatform, RequestRecord

if TYPE_CHECKING:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.dagrun import DagRun
    from airflow.sdk import DAG

EXAMPLE_DAGS = Path(__file__).resolve().parents[2] / "example_dags"
MIDJOURNEY = "d87e5e99-b797-4ade-9e73-b896896b0461"
APPLICATION_DAG = "example_acedata_application"
ROTATION_DAG = "example_acedata_rotation_variable"
TOKEN_VARIABLE = "acedata_platform_token"
SUMMARY_KEYS = {"id", "service_id", "type", "scope", "remaining_amount", "created"}

pytestmark = pytest.mark.usefixtures("airflow_db")


# -- helpers ------------------------------------------------------------------------------------------


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


def assert_no_secret(xcoms: dict[tuple[str, str], Any], secrets: list[str]) -> None:
    """No secret appears anywhere in the XComs, serialized."""
    text = json.dumps({f"{task}/{key}": value for (task, key), value in xcoms.items()}, default=str)
    assert text
    leaked = [secret[:8] + "..." for secret in secrets if secret and secret in text]
    assert not leaked, f"secrets found in XCom: {leaked}"


def task_states(run: DagRun) -> dict[str, str | None]:
    from airflow.utils.session import create_session

    with create_session() as session:
        return {ti.task_id: ti.state for ti in run.get_task_instances(session=session)}


def register(dag: DAG) -> None:
    """Serialize a DAG built in a test into the metadata DB, so that ``dag.test()`` can create its run."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db
    from airflow.utils.session import create_session

    with create_session() as session:
        DagBundlesManager().sync_bundles_to_db(session=session)
    bag = DagBag(dag_folder=Path(dag.fileloc).parent, collect_dags=False)
    bag.bag_dag(dag)
    sync_bag_to_db(bag, "dags-folder", None)


def platform_secrets(platform: FakeAceDataPlatform) -> list[str]:
    """Every platform token and API key the demo user holds now."""
    return [
        platform.token,
        *(token["token"] for token in platform.live_tokens()),
        *(credential["token"] for credential in platform.credentials()),
    ]


def me_status(platform: FakeAceDataPlatform, token: str) -> int:
    response = requests.get(
        f"{platform.api_url}/platform-tokens/me/", headers={"Authorization": f"Bearer {token}"}, timeout=5
    )
    return response.status_code


def get_dag(bag: DagBag, dag_id: str) -> DAG:
    dag = bag.dags[dag_id]
    assert dag is not None
    return dag


# -- parsing ------------------------------------------------------------------------------------------


def test_example_dags_parse_without_calling_the_platform(
    example_dag_bag: tuple[DagBag, list[RequestRecord]],
) -> None:
    bag, requests_during_parse = example_dag_bag
    assert bag.import_errors == {}
    assert {APPLICATION_DAG, ROTATION_DAG} <= set(bag.dag_ids)
    assert requests_during_parse == []

    application = get_dag(bag, APPLICATION_DAG)
    assert not application.timetable.can_be_scheduled
    assert set(application.tags) == {"acedata", "example"}
    assert application.params["service_alias"] == "midjourney"
    assert application.params["service_id"] is None
    assert "suno" in application.params.get_param("service_alias").schema["examples"]

    rotation = get_dag(bag, ROTATION_DAG)
    # Shipped unscheduled: unpausing it must not rotate at once; the docstring shows @weekly.
    assert not rotation.timetable.can_be_scheduled
    assert '"@weekly"' in (rotation.doc_md or "")
    assert rotation.max_active_runs == 1
    assert rotation.catchup is False
    assert rotation.start_date is not None


# -- application DAG ----------------------------------------------------------------------------------


def test_application_dag_creates_then_reuses(
    example_dag_bag: tuple[DagBag, list[RequestRecord]], platform_conn: FakeAceDataPlatform
) -> None:
    platform = platform_conn
    dag = get_dag(example_dag_bag[0], APPLICATION_DAG)

    first = dag.test()
    assert first.state == "success", task_states(first)
    [application] = platform.applications()
    xcoms = run_xcoms(first)
    assert xcoms[("create_application", "return_value")] == application["id"]
    summary = xcoms[("create_application", "application")]
    assert set(summary) == SUMMARY_KEYS
    assert summary["id"] == application["id"]
    assert summary["service_id"] == MIDJOURNEY
    assert (summary["type"], summary["scope"], summary["created"]) == ("Usage", "Individual", True)
    assert xcoms[("report_balance", "return_value")] == {
        "application_id": application["id"],
        "remaining_amount": float(application["remaining_amount"]),
    }
    assert len(platform.calls("POST", r"/applications/?$")) == 1
    assert_no_secret(xcoms, platform_secrets(platform))

    second = dag.test()
    assert second.state == "success", task_states(second)
    assert [app["id"] for app in platform.applications()] == [application["id"]]
    xcoms = run_xcoms(second)
    assert xcoms[("create_application", "return_value")] == application["id"]
    assert xcoms[("create_application", "application")]["created"] is False
    assert xcoms[("report_balance", "return_value")]["application_id"] == application["id"]
    assert len(platform.calls("POST", r"/applications/?$")) == 1
    assert_no_secret(xcoms, platform_secrets(platform))


def test_application_dag_logs_the_balance_in_credits(
    example_dag_bag: tuple[DagBag, list[RequestRecord]],
    platform_conn: FakeAceDataPlatform,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """One way to write Credits: "has 0 Credits" before a top-up, "has 100 Credits" after (not 0 vs 100.0)."""
    dag = get_dag(example_dag_bag[0], APPLICATION_DAG)
    first = dag.test()
    [application] = platform_conn.applications()
    platform_conn.set_balance(application["id"], 100.0)
    second = dag.test()

    assert (first.state, second.state) == ("success", "success")
    assert f"Application {application['id']} has 0 Credits" in caplog.text
    assert f"Application {application['id']} has 100 Credits" in caplog.text


def test_application_dag_takes_a_service_id_instead_of_the_alias(
    example_dag_bag: tuple[DagBag, list[RequestRecord]], platform_conn: FakeAceDataPlatform
) -> None:
    suno = platform_conn.service_id("suno")
    run = get_dag(example_dag_bag[0], APPLICATION_DAG).test(run_conf={"service_alias": None, "service_id": suno})

    assert run.state == "success", task_states(run)
    assert [app["service_id"] for app in platform_conn.applications()] == [suno]


@pytest.mark.parametrize("dag_id", [APPLICATION_DAG, "example_acedata_provisioning"])
def test_every_alias_an_example_suggests_is_a_service(platform: FakeAceDataPlatform, dag_id: str) -> None:
    """The trigger form offers SERVICE_ALIASES (Param examples) and names them in the description."""
    from airflow_provider_acedata.hooks import AceDataHook

    source = (EXAMPLE_DAGS / f"{dag_id}.py").read_text()
    found = re.search(r"^SERVICE_ALIASES = (\[.*?\])$", source, re.M)
    assert found is not None
    aliases = ast.literal_eval(found.group(1))

    with AceDataHook() as hook:
        missing = [alias for alias in aliases if hook.find_service(alias) is None]
    assert len(aliases) >= 5
    assert missing == []


@pytest.mark.parametrize(
    "conf",
    [
        {"service_alias": None, "service_id": "not-a-uuid"},
        {"service_alias": None, "service_id": "suno"},  # an alias typed as the id
        {"service_alias": "midjourney", "service_id": "0b3c4b7e-6d5a-4f3e-9a2b-1c8d7e6f5a41"},  # both given
        {"service_alias": "no-such-service", "service_id": None},
    ],
)
def test_application_dag_fails_on_a_bad_service_before_creating_anything(
    example_dag_bag: tuple[DagBag, list[RequestRecord]], platform_conn: FakeAceDataPlatform, conf: dict[str, Any]
) -> None:
    """The messages themselves are pinned in tests/operators/test_application.py."""
    run = get_dag(example_dag_bag[0], APPLICATION_DAG).test(run_conf=conf)

    assert run.state == "failed"
    assert task_states(run)["create_application"] == "failed"
    assert platform_conn.calls("POST") == []
    assert platform_conn.applications() == []


def test_dag_with_bad_type_and_scope_fails_before_any_request(
    platform_conn: FakeAceDataPlatform, capfd: pytest.CaptureFixture[str]
) -> None:
    from airflow.sdk import DAG

    with DAG("acedata_bad_application_choices", schedule=None) as dag:
        CreateApplicationOperator(
            task_id="create_application", service_id=MIDJOURNEY, application_type="Daily", scope="Team"
        )
    register(dag)

    run = dag.test()

    assert run.state == "failed"
    out, err = capfd.readouterr()
    assert "application_type must be one of 'Usage', 'Period', got 'Daily'" in out + err
    assert platform_conn.calls("POST") == []


# -- rotation DAG (VariableTokenStore) ----------------------------------------------------------------


def test_rotation_dag_rotates_into_the_variable_twice(
    example_dag_bag: tuple[DagBag, list[RequestRecord]], rotation_conn: FakeAceDataPlatform
) -> None:
    from airflow.models.variable import Variable

    platform = rotation_conn
    dag = get_dag(example_dag_bag[0], ROTATION_DAG)
    seen = [platform.token]

    for _ in range(2):
        old = Variable.get(TOKEN_VARIABLE, default_var=None) or platform.token
        [old_record] = [token for token in platform.live_tokens() if token["token"] == old]

        run = dag.test()

        assert run.state == "success", task_states(run)
        xcoms = run_xcoms(run)
        new_id = xcoms[("rotate_token", "return_value")]
        stored = Variable.get(TOKEN_VARIABLE)
        assert [(token["id"], token["token"]) for token in platform.live_tokens()] == [(new_id, stored)]
        assert me_status(platform, stored) == 200
        assert not platform.is_live(old)
        assert me_status(platform, old) == 401
        assert xcoms[("rotate_token", "revoked_token_ids")] == [old_record["id"]]
        assert xcoms[("report_rotation", "return_value")] == new_id
        seen.append(stored)
        assert_no_secret(xcoms, seen)

    assert len(set(seen)) == 3
