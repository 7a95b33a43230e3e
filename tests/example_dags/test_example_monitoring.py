"""The monitoring example DAG in real Airflow (``dag.test()``) against the offline platform over sockets."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from airflow_provider_acedata.hooks import AceDataHook

if TYPE_CHECKING:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk import DAG

    from airflow_provider_acedata.testing import FakeAceDataPlatform, RequestRecord

pytestmark = pytest.mark.usefixtures("airflow_db")

MONITORING_DAG = "example_acedata_monitoring"
TODAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


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


def ids_in(path) -> list[str]:
    return [json.loads(line)["id"] for line in path.read_text().splitlines()]


def seed_three_days(platform: FakeAceDataPlatform) -> tuple[list[dict], list[dict]]:
    """Call records the day before yesterday, yesterday and today so far; returns (yesterday's, everything)."""
    application_id = AceDataHook().create_application(platform.service_id("midjourney"))["id"]
    platform.set_balance(application_id, 100)
    yesterday = TODAY - timedelta(days=1)
    before = platform.add_usage(application_id, count=40, start=yesterday - timedelta(days=1), end=yesterday)
    inside = platform.add_usage(application_id, count=123, start=yesterday, end=TODAY, seed=1)
    after = platform.add_usage(application_id, count=7, start=TODAY, end=TODAY + timedelta(seconds=1), seed=2)
    return inside, before + inside + after


def test_the_run_for_midnight_exports_the_day_before_exactly_once(
    example_dag_bag: tuple[DagBag, list[RequestRecord]], platform_conn: FakeAceDataPlatform, tmp_path
) -> None:
    """What the scheduler's run does: logical date midnight, an empty data interval, no conf."""
    inside, _ = seed_three_days(platform_conn)
    dag = example_dag_bag[0].dags[MONITORING_DAG]
    yesterday = f"{TODAY - timedelta(days=1):%Y-%m-%d}"

    first = dag.test(logical_date=TODAY, run_conf={"export_dir": f"file://{tmp_path}"})
    second = dag.test(logical_date=TODAY, run_conf={"export_dir": f"file://{tmp_path}"})

    assert first.state == second.state == "success", states(second)
    assert (first.data_interval_start, first.data_interval_end) == (TODAY, TODAY)  # as @daily's scheduled run
    assert [path.name for path in tmp_path.iterdir()] == [f"usage-{yesterday}.jsonl"]
    assert sorted(ids_in(tmp_path / f"usage-{yesterday}.jsonl")) == sorted(record["id"] for record in inside)
    assert asset_event_extra(second) == {
        "destination": f"file://{tmp_path}/usage-{yesterday}.jsonl",
        "start": f"{yesterday}T00:00:00+00:00",
        "end": TODAY.isoformat(),
        "records": len(inside),
    }


def asset_event_extra(run) -> dict:
    """The extra of the asset event the run's export emitted (the folder asset of the example)."""
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        [event] = session.scalars(
            select(AssetEvent).where(AssetEvent.source_dag_id == run.dag_id, AssetEvent.source_run_id == run.run_id)
        ).all()
        return dict(event.extra)


def test_a_manual_run_without_a_date_exports_the_same_day(
    example_dag_bag: tuple[DagBag, list[RequestRecord]], platform_conn: FakeAceDataPlatform, tmp_path
) -> None:
    inside, _ = seed_three_days(platform_conn)
    dag = example_dag_bag[0].dags[MONITORING_DAG]

    run = dag.test(logical_date=None, run_conf={"export_dir": f"file://{tmp_path}"})

    assert run.state == "success", states(run)
    assert run.data_interval_start is None
    [written] = tmp_path.iterdir()
    assert written.name == f"usage-{TODAY - timedelta(days=1):%Y-%m-%d}.jsonl"
    assert sorted(ids_in(written)) == sorted(record["id"] for record in inside)


@pytest.mark.parametrize("intervals", ["trigger timetable (the default)", "create_cron_data_intervals=True"])
def test_a_plain_daily_dag_with_only_a_destination_exports_the_previous_day(
    platform_conn: FakeAceDataPlatform, tmp_path, intervals
) -> None:
    from airflow.sdk import DAG
    from airflow.timetables.interval import CronDataIntervalTimetable

    from airflow_provider_acedata.operators import ExportUsageOperator

    inside, _ = seed_three_days(platform_conn)
    data_intervals = intervals.startswith("create")
    schedule = CronDataIntervalTimetable("@daily", timezone="UTC") if data_intervals else "@daily"
    with DAG(f"plain_daily_export_{data_intervals}", schedule=schedule, start_date=datetime(2026, 1, 1)) as dag:
        ExportUsageOperator(task_id="export_usage", destination=f"file://{tmp_path}/{{{{ export_start | ds }}}}.jsonl")
    register(dag)
    yesterday = TODAY - timedelta(days=1)

    # dag.test gives the run the data interval Airflow infers at midnight: empty for the default timetable
    # (as its scheduled run for midnight has), and the day before for the data-interval timetable (as the
    # scheduled run for that day has).
    run = dag.test(logical_date=TODAY)

    assert run.state == "success", states(run)
    assert (run.data_interval_start, run.data_interval_end) == (
        (yesterday, TODAY) if data_intervals else (TODAY, TODAY)
    )
    assert [path.name for path in tmp_path.iterdir()] == [f"{TODAY - timedelta(days=1):%Y-%m-%d}.jsonl"]
    assert sorted(ids_in(next(tmp_path.iterdir()))) == sorted(record["id"] for record in inside)


def test_the_call_records_example_exports_a_window_given_by_hand(
    example_dag_bag: tuple[DagBag, list[RequestRecord]], platform_conn: FakeAceDataPlatform, tmp_path
) -> None:
    application_id = AceDataHook().create_application(platform_conn.service_id("midjourney"))["id"]
    hour = TODAY - timedelta(hours=5)
    inside = platform_conn.add_usage(application_id, count=60, start=hour, end=hour + timedelta(hours=1))
    platform_conn.add_usage(application_id, count=5, start=hour + timedelta(hours=1), end=TODAY, seed=1)
    dag = example_dag_bag[0].dags["example_acedata_call_records_export"]
    window = {"start": hour.isoformat(), "end": (hour + timedelta(hours=1)).isoformat()}

    run = dag.test(run_conf={"export_dir": f"file://{tmp_path}", **window})

    assert run.state == "success", states(run)
    [written] = tmp_path.iterdir()
    assert written.name == f"usage-{hour:%Y%m%dT%H%M%S}.jsonl"
    assert sorted(ids_in(written)) == sorted(record["id"] for record in inside)


def test_the_watcher_examples_parse_with_their_triggers(example_dag_bag: tuple[DagBag, list[RequestRecord]]) -> None:
    from airflow_provider_acedata.triggers import ApplicationLowBalanceTrigger, NewCallRecordsTrigger

    bag, requests = example_dag_bag
    expected = {
        "example_acedata_low_balance_alert": ApplicationLowBalanceTrigger,
        "example_acedata_call_records_export": NewCallRecordsTrigger,
    }
    for dag_id, trigger_class in expected.items():
        [asset] = bag.dags[dag_id].timetable.asset_condition.objects
        [watcher] = asset.watchers
        assert isinstance(watcher.trigger, trigger_class)
    assert requests == []  # parsing calls nothing
