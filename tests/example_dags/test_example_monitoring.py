"""The monitoring example DAG in real Airflow (``dag.test()``) against the offline platform over sockets."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

import pytest

from airflow_provider_acedata.hooks import AceDataHook

if TYPE_CHECKING:
    from airflow.dag_processing.dagbag import DagBag

    from airflow_provider_acedata.testing import FakeAceDataPlatform, RequestRecord

pytestmark = pytest.mark.usefixtures("airflow_db")

MONITORING_DAG = "example_acedata_monitoring"
TODAY = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)


def states(run) -> dict[str, str | None]:
    from airflow.utils.session import create_session

    with create_session() as session:
        return {ti.task_id: ti.state for ti in run.get_task_instances(session=session)}


def test_monitoring_dag_checks_balances_and_exports_the_interval(
    example_dag_bag: tuple[DagBag, list[RequestRecord]], platform_conn: FakeAceDataPlatform, tmp_path
) -> None:
    platform = platform_conn
    application_id = AceDataHook().create_application(platform.service_id("midjourney"))["id"]
    platform.set_balance(application_id, 100)
    start, end = TODAY - timedelta(days=1), TODAY
    inside = platform.add_usage(application_id, count=321, start=start, end=end)
    platform.add_usage(application_id, count=50, start=end, end=end + timedelta(minutes=1), seed=1)
    dag = example_dag_bag[0].dags[MONITORING_DAG]
    conf = {"export_dir": f"file://{tmp_path}", "start": start.isoformat(), "end": end.isoformat()}

    run = dag.test(run_conf=conf)

    assert run.state == "success", states(run)
    [written] = tmp_path.iterdir()
    ids = [json.loads(line)["id"] for line in written.read_text().splitlines()]
    assert sorted(ids) == sorted(record["id"] for record in inside)
    secrets = [c["token"] for c in platform.credentials()] + [platform.token]
    assert not any(secret in written.read_text() for secret in secrets)


def test_monitoring_dag_fails_on_a_low_balance_before_exporting(
    example_dag_bag: tuple[DagBag, list[RequestRecord]], platform_conn: FakeAceDataPlatform, tmp_path
) -> None:
    platform = platform_conn
    application_id = AceDataHook().create_application(platform.service_id("midjourney"))["id"]
    platform.set_balance(application_id, 3)
    conf = {
        "export_dir": f"file://{tmp_path}",
        "min_remaining_amount": 10,
        "start": (TODAY - timedelta(days=1)).isoformat(),
        "end": TODAY.isoformat(),
    }

    run = example_dag_bag[0].dags[MONITORING_DAG].test(run_conf=conf)

    assert states(run)["check_balances"] == "failed"
    assert list(tmp_path.iterdir()) == []
    assert platform.calls("GET", r"/usage/apis") == []
