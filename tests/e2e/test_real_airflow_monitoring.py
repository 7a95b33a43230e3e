"""Monitoring in a real Airflow (scheduler, dag-processor, triggerer): scheduled exports and asset watchers.

* Unpausing a ``@daily`` DAG makes the scheduler create its run for today's midnight, with an empty data
  interval on Airflow 3's default timetable: the export must write yesterday, exactly once. The same with a
  data-interval timetable (what ``create_cron_data_intervals = True`` gives), and for the monitoring
  example itself (a copy whose folder, asset and connection are this test's), plus the manual run that
  "Unpause on trigger" adds.
* ``ApplicationLowBalanceTrigger`` in an ``AssetWatcher``: one run per crossing below the threshold.
* ``NewCallRecordsTrigger`` in an ``AssetWatcher``: one run per window with records, each exporting it once.

Each test has its own connection, DAG ids, assets and offline platform, so the deployment can be shared.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from airflow_provider_acedata.testing import FakeAceDataPlatform

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def platform() -> Iterator[FakeAceDataPlatform]:
    with FakeAceDataPlatform() as fake:
        yield fake


def application(platform: FakeAceDataPlatform, balance: float) -> str:
    """A new application of the platform's demo user with ``balance`` Credits."""
    import requests

    answer = requests.post(
        f"{platform.api_url}/applications/",
        json={"service_id": platform.service_id("midjourney"), "type": "Usage", "scope": "Individual"},
        headers={"Authorization": f"Bearer {platform.token}"},
        timeout=10,
    )
    answer.raise_for_status()
    application_id = str(answer.json()["id"])
    platform.set_balance(application_id, balance)
    return application_id


def set_paused(airflow: Any, dag_id: str, paused: bool) -> None:
    answer = airflow.api("PATCH", f"/api/v2/dags/{quote(dag_id, safe='')}", json={"is_paused": paused})
    assert answer.ok, answer.text


def wait_for(condition: Callable[[], Any], timeout: float, what: str, poll: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")


def upstream_events(airflow: Any, dag_id: str, run_id: str) -> list[dict[str, Any]]:
    path = f"/api/v2/dags/{quote(dag_id, safe='')}/dagRuns/{quote(run_id, safe='')}/upstreamAssetEvents"
    answer = airflow.api("GET", path)
    assert answer.ok, answer.text
    return list(answer.json()["asset_events"])


def ids_in(path: Path) -> list[str]:
    return [json.loads(line)["id"] for line in path.read_text().splitlines()]


# -- scheduled exports -------------------------------------------------------------------------------------

PLAIN_DAILY = """
from datetime import datetime

from airflow.sdk import DAG
{imports}
from airflow_provider_acedata.operators import ExportUsageOperator

with DAG({dag_id!r}, schedule={schedule}, start_date=datetime(2026, 1, 1), catchup=False):
    ExportUsageOperator(
        task_id="export_usage",
        destination="file://{folder}/{{{{ export_start | ds }}}}.jsonl",
        acedata_conn_id={conn_id!r},
    )
"""


def monitoring_example_copy(dag_id: str, folder: Path, conn_id: str) -> str:
    """The monitoring example's own code, with this test's DAG id, export folder, asset name and connection."""
    source = (REPO_ROOT / "example_dags" / "example_acedata_monitoring.py").read_text()
    replacements = {
        'EXPORT_DIR = Path(tempfile.gettempdir()) / "acedata-usage"': f"EXPORT_DIR = Path({str(folder)!r})",
        'Asset("acedata_daily_usage"': f'Asset("{dag_id}_files"',
        "max_active_runs=1,": f"max_active_runs=1, default_args={{'acedata_conn_id': {conn_id!r}}},",
        "def example_acedata_monitoring()": f"def {dag_id}()",
        "\nexample_acedata_monitoring()": f"\n{dag_id}()",
    }
    for old, new in replacements.items():
        assert source.count(old) == 1, f"the monitoring example changed: {old!r} is not there once"
        source = source.replace(old, new)
    return source


def test_scheduled_runs_export_the_previous_day_exactly_once(
    real_airflow: Any, platform: FakeAceDataPlatform, tmp_path: Path
) -> None:
    conn_id = "acedata_e2e_scheduled"
    real_airflow.create_connection(conn_id, "acedata", host=platform.url, password=platform.token)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    yesterday = today - timedelta(days=1)
    app = application(platform, 100)
    platform.add_usage(app, count=30, start=yesterday - timedelta(days=1), end=yesterday)
    inside = {r["id"] for r in platform.add_usage(app, count=345, start=yesterday, end=today, seed=1)}
    platform.add_usage(app, count=3, start=today, end=today + timedelta(microseconds=3), seed=2)
    dags = {
        "acedata_e2e_plain_daily": PLAIN_DAILY.format(
            dag_id="acedata_e2e_plain_daily",
            imports="",
            schedule='"@daily"',
            folder=tmp_path / "plain",
            conn_id=conn_id,
        ),
        "acedata_e2e_data_intervals": PLAIN_DAILY.format(
            dag_id="acedata_e2e_data_intervals",
            imports="from airflow.timetables.interval import CronDataIntervalTimetable",
            schedule='CronDataIntervalTimetable("@daily", timezone="UTC")',
            folder=tmp_path / "intervals",
            conn_id=conn_id,
        ),
        "acedata_e2e_monitoring_example": monitoring_example_copy(
            "acedata_e2e_monitoring_example", tmp_path / "example", conn_id
        ),
    }
    for dag_id, source in dags.items():
        real_airflow.add_dag_file(f"{dag_id}.py", source)
    for dag_id in dags:
        real_airflow.wait_for_dag(dag_id)
    try:
        for dag_id in dags:
            set_paused(real_airflow, dag_id, False)  # the scheduler creates the latest scheduled run
        runs = {dag_id: real_airflow.wait_until_idle(dag_id, timeout=180, at_least=1) for dag_id in dags}
        # "Unpause on trigger" adds a manual run to the scheduled one: it exports the same day again.
        manual = real_airflow.trigger("acedata_e2e_monitoring_example")
        state = real_airflow.wait_for_run("acedata_e2e_monitoring_example", manual)
        assert state == "success", real_airflow.task_logs("acedata_e2e_monitoring_example", manual)[-3000:]
    finally:
        for dag_id in dags:
            set_paused(real_airflow, dag_id, True)

    for dag_id, dag_runs in runs.items():
        assert [(r["run_type"], r["state"]) for r in dag_runs] == [("scheduled", "success")], (dag_id, dag_runs)
    plain, intervals = runs["acedata_e2e_plain_daily"][0], runs["acedata_e2e_data_intervals"][0]
    assert plain["data_interval_start"] == plain["data_interval_end"]  # Airflow 3's default: an empty interval
    assert plain["logical_date"].startswith(f"{today:%Y-%m-%d}")
    assert intervals["data_interval_start"].startswith(f"{yesterday:%Y-%m-%d}")
    expected = f"{yesterday:%Y-%m-%d}.jsonl"
    for folder, name in (("plain", expected), ("intervals", expected), ("example", f"usage-{expected}")):
        assert [p.name for p in (tmp_path / folder).iterdir()] == [name], folder
        written = ids_in(tmp_path / folder / name)
        assert len(written) == len(set(written)) == len(inside) and set(written) == inside, folder


# -- asset watchers ----------------------------------------------------------------------------------------

LOW_BALANCE_DAG = """
from datetime import datetime

from airflow.sdk import Asset, AssetWatcher, dag, task

from airflow_provider_acedata.triggers import ApplicationLowBalanceTrigger

LOW = Asset({asset!r}, watchers=[AssetWatcher(name={asset!r}, trigger=ApplicationLowBalanceTrigger(
    application_id={application_id!r}, min_remaining_amount=10, acedata_conn_id={conn_id!r}, poke_interval=1))])


@dag(dag_id={dag_id!r}, schedule=[LOW], start_date=datetime(2026, 1, 1), catchup=False)
def alert_dag():
    @task
    def alert(*, triggering_asset_events=None):
        return [event.extra["payload"] for event in triggering_asset_events[LOW]]

    alert()


alert_dag()
"""


def test_a_low_balance_watcher_starts_one_run_per_crossing(real_airflow: Any, platform: FakeAceDataPlatform) -> None:
    dag_id, conn_id = "acedata_e2e_low_balance", "acedata_e2e_low_balance"
    app = application(platform, 100)
    reads = lambda: len(platform.calls("GET", f"/applications/{app}"))  # noqa: E731
    real_airflow.create_connection(conn_id, "acedata", host=platform.url, password=platform.token)
    real_airflow.add_dag_file(
        f"{dag_id}.py",
        LOW_BALANCE_DAG.format(asset=f"{dag_id}_asset", application_id=app, conn_id=conn_id, dag_id=dag_id),
    )
    real_airflow.wait_for_dag(dag_id)
    try:
        set_paused(real_airflow, dag_id, False)
        wait_for(lambda: reads() >= 3, 120, "the triggerer to read the balance")
        assert real_airflow.dag_runs(dag_id) == []  # 100 Credits: above the threshold, nothing to announce

        platform.set_balance(app, 5)
        [first] = wait_for(lambda: real_airflow.dag_runs(dag_id), 60, "a run after the drop")
        dropped_at = reads()
        wait_for(lambda: reads() >= dropped_at + 10, 60, "ten more reads below the threshold")
        below = real_airflow.wait_until_idle(dag_id, at_least=1)

        platform.set_balance(app, 50)
        topped_at = reads()
        wait_for(lambda: reads() >= topped_at + 2, 30, "a read of the topped-up balance")
        platform.set_balance(app, 3)
        runs = wait_for(lambda: len(real_airflow.dag_runs(dag_id)) >= 2 and real_airflow.dag_runs(dag_id), 60, "a run")
        time.sleep(3)  # three more polls below: still no third run
        runs = real_airflow.wait_until_idle(dag_id, at_least=2)
    finally:
        set_paused(real_airflow, dag_id, True)

    assert len(below) == 1
    assert len(runs) == 2
    assert {(run["run_type"], run["state"]) for run in runs} == {("asset_triggered", "success")}
    [event] = upstream_events(real_airflow, dag_id, first["dag_run_id"])
    payload = event["extra"]["payload"]
    assert (payload["application_id"], payload["remaining_amount"], payload["min_remaining_amount"]) == (app, 5, 10)
    [second_event] = upstream_events(real_airflow, dag_id, runs[-1]["dag_run_id"])
    assert second_event["extra"]["payload"]["remaining_amount"] == 3
    assert platform.token not in real_airflow.all_logs()


CALL_RECORDS_DAG = """
from datetime import datetime

from airflow.sdk import Asset, AssetWatcher, dag, task

from airflow_provider_acedata.operators import ExportUsageOperator
from airflow_provider_acedata.triggers import NewCallRecordsTrigger, call_record_windows

TRIGGER = NewCallRecordsTrigger(
    window={window}, settle={settle}, acedata_conn_id={conn_id!r}, application_id={application_id!r}, poke_interval=1
)
RECORDS = Asset({asset!r}, watchers=[AssetWatcher(name={asset!r}, trigger=TRIGGER)])


@dag(dag_id={dag_id!r}, schedule=[RECORDS], start_date=datetime(2026, 1, 1), catchup=False)
def export_dag():
    @task
    def windows(*, triggering_asset_events=None):
        return call_record_windows(triggering_asset_events[RECORDS])

    ExportUsageOperator.partial(
        task_id="export_window",
        destination="file://{folder}/{{{{ export_start | ts_nodash }}}}.jsonl",
        application_id={application_id!r},
        acedata_conn_id={conn_id!r},
    ).expand_kwargs(windows())


export_dag()
"""


def test_a_call_records_watcher_starts_one_run_per_window_each_exported_once(
    real_airflow: Any, platform: FakeAceDataPlatform, tmp_path: Path
) -> None:
    dag_id, conn_id, window, settle = "acedata_e2e_call_records", "acedata_e2e_call_records", 12, 2
    app = application(platform, 100)
    counts = lambda: platform.calls("GET", r"/usage/apis/$")  # noqa: E731
    real_airflow.create_connection(conn_id, "acedata", host=platform.url, password=platform.token)
    real_airflow.add_dag_file(
        f"{dag_id}.py",
        CALL_RECORDS_DAG.format(
            asset=f"{dag_id}_asset",
            window=window,
            settle=settle,
            conn_id=conn_id,
            application_id=app,
            dag_id=dag_id,
            folder=tmp_path,
        ),
    )
    real_airflow.wait_for_dag(dag_id)
    try:
        set_paused(real_airflow, dag_id, False)
        wait_for(counts, 120, "the triggerer's first count of a window")
        # The next two windows, seeded now (records stamped in them, as the platform will hold them then).
        first = (int(time.time()) // window + 1) * window
        seeded = {}
        for number, (start, count) in enumerate(((first, 17), (first + window, 29))):
            begin = datetime.fromtimestamp(start, UTC)
            records = platform.add_usage(
                app, count=count, start=begin, end=begin + timedelta(seconds=window), seed=number
            )
            seeded[f"{begin:%Y%m%dT%H%M%S}.jsonl"] = {r["id"] for r in records}
        runs = wait_for(
            lambda: len(real_airflow.dag_runs(dag_id)) >= 2 and real_airflow.dag_runs(dag_id),
            3 * window + settle + 60,
            "two runs",
        )
        time.sleep(window)  # one more window, without records: no third run
        runs = real_airflow.wait_until_idle(dag_id, at_least=2)
    finally:
        set_paused(real_airflow, dag_id, True)

    assert len(runs) == 2
    assert {(run["run_type"], run["state"]) for run in runs} == {("asset_triggered", "success")}
    windows = sorted(
        (event["extra"]["payload"]["start"], event["extra"]["payload"]["count"])
        for run in runs
        for event in upstream_events(real_airflow, dag_id, run["dag_run_id"])
    )
    assert [count for _, count in windows] == [17, 29]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(seeded)
    for name, ids in seeded.items():
        written = ids_in(tmp_path / name)
        assert len(written) == len(ids) and set(written) == ids, name
