"""ExportUsageOperator and ExportOrdersOperator against the offline platform."""

from __future__ import annotations

import csv
import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from unittest import mock

import pytest
from airflow.sdk import Asset
from testdata import pushed

from airflow_provider_acedata.exceptions import AceDataExportError, AceDataInputError
from airflow_provider_acedata.operators import (
    ExportOrdersOperator,
    ExportUsageOperator,
)

START = datetime(2026, 3, 1, tzinfo=UTC)
END = START + timedelta(days=1)
TICK = timedelta(microseconds=1)


def ids_in(path: Path) -> list[str]:
    return [json.loads(line)["id"] for line in path.read_text().splitlines()]


@pytest.fixture
def interval(platform, app_id) -> set[str]:
    """250 records inside [START, END), decoys at both edges and outside, and records of another user."""
    inside = platform.add_usage(app_id, count=248, start=START + TICK, end=END - TICK)
    inside += platform.add_usage(app_id, count=1, start=START, end=START + TICK, seed=1)
    inside += platform.add_usage(app_id, count=1, start=END - TICK, end=END, seed=2)
    platform.add_usage(app_id, count=1, start=START - TICK, end=START, seed=3)
    platform.add_usage(app_id, count=2, start=END, end=END + TICK, seed=4)
    platform.add_usage(app_id, count=30, start=END + TICK, end=END + timedelta(hours=1), seed=5)
    other = next(u for u in platform.users if u["username"] == "other")
    [other_app] = platform.applications(other["id"])
    platform.add_usage(other_app["id"], count=40, start=START, end=END, seed=6)
    platform.clear_requests()
    return {record["id"] for record in inside}


def export(tmp_path: Path, **kwargs) -> ExportUsageOperator:
    return ExportUsageOperator(
        task_id="export_usage", destination=f"file://{tmp_path}/usage.jsonl", start=START, end=END, **kwargs
    )


def test_export_writes_each_interval_record_once_while_new_records_arrive(platform, interval, tmp_path, context):
    platform.insert_while_listing("usage", per_page=7)

    uri = export(tmp_path).execute(context)

    written = ids_in(tmp_path / "usage.jsonl")
    assert uri == f"file://{tmp_path}/usage.jsonl"
    assert len(written) == len(set(written)) == 250
    assert set(written) == interval
    assert pushed(context)["records"] == 250
    assert [p.name for p in tmp_path.iterdir()] == ["usage.jsonl"]
    listing = [r for r in platform.calls("GET", r"/usage/apis/$") if r.query.get("ordering") == ["created_at"]]
    assert len(listing) == 3


def test_rerun_replaces_the_file(platform, interval, tmp_path, context):
    target = tmp_path / "usage.jsonl"
    target.write_text("stale line\n" * 1000)

    export(tmp_path).execute(context)
    export(tmp_path).execute(context)

    assert sorted(ids_in(target)) == sorted(interval)


def test_records_backdated_into_the_interval_fail_the_export_and_leave_the_file(platform, interval, tmp_path, context):
    target = tmp_path / "usage.jsonl"
    target.write_text("yesterday's good file\n")
    platform.insert_while_listing("usage", per_page=1, at=lambda: START + timedelta(hours=5))

    with pytest.raises(AceDataExportError, match=r"interval changed|listed twice"):
        export(tmp_path).execute(context)

    assert target.read_text() == "yesterday's good file\n"
    assert [p.name for p in tmp_path.iterdir()] == ["usage.jsonl"]


def test_a_page_failing_mid_export_leaves_the_final_file_untouched(platform, interval, tmp_path, context):
    target = tmp_path / "usage.jsonl"
    target.write_text("previous\n")
    platform.fail(
        method="GET",
        path=r"/usage/apis/$",
        status=400,
        times=None,
        predicate=lambda r: r.query.get("offset") == ["200"],
    )

    with pytest.raises(Exception, match="400"):
        export(tmp_path).execute(context)

    assert target.read_text() == "previous\n"
    assert [p.name for p in tmp_path.iterdir()] == ["usage.jsonl"]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"start": END, "end": START}, "end"),
        ({"end": datetime.now(UTC) + timedelta(hours=1)}, "future"),
        ({"application_id": "not-a-uuid"}, "application_id"),
        ({"format": "parquet"}, "format"),
        ({"start": "yesterday"}, "start"),
    ],
)
def test_bad_input_fails_before_any_request(platform, tmp_path, context, kwargs, field):
    params = {"start": START, "end": END, **kwargs}
    operator = ExportUsageOperator(task_id="export_usage", destination=f"file://{tmp_path}/u.jsonl", **params)

    with pytest.raises(AceDataInputError, match=field):
        operator.execute(context)

    assert platform.requests == []
    assert list(tmp_path.iterdir()) == []


def test_csv_has_a_header_and_no_secret(platform, interval, tmp_path, context, caplog):
    caplog.set_level(logging.DEBUG)
    [token] = [c["token"] for c in platform.credentials()]

    ExportUsageOperator(
        task_id="export_usage", destination=f"file://{tmp_path}/usage.csv", start=START, end=END, format="csv"
    ).execute(context)

    text = (tmp_path / "usage.csv").read_text()
    rows = list(csv.DictReader(text.splitlines()))
    assert {row["id"] for row in rows} == interval
    assert json.loads(rows[0]["credential"]).keys() == {"id", "name"}
    for leak in (token, platform.token):
        assert leak not in text
        assert leak not in caplog.text
        assert leak not in json.dumps(pushed(context))


def test_asset_destination_becomes_an_outlet(tmp_path):
    asset = Asset(f"file://{tmp_path}/usage.jsonl")

    operator = ExportUsageOperator(task_id="export_usage", destination=asset)

    assert operator.destination == asset.uri
    assert asset in operator.outlets


def test_orders_export_blanks_payment_links(platform, app_id, tmp_path, context):
    orders = platform.add_orders(app_id, count=120, start=START, end=END, state="Finished")
    platform.add_orders(app_id, count=5, start=START, end=END, state="Pending", seed=1)
    platform.add_orders(app_id, count=3, start=END, end=END + TICK, seed=2)

    ExportOrdersOperator(
        task_id="export_orders", destination=f"file://{tmp_path}/orders.jsonl", start=START, end=END, state="Finished"
    ).execute(context)

    lines = [json.loads(line) for line in (tmp_path / "orders.jsonl").read_text().splitlines()]
    assert {line["id"] for line in lines} == {order["id"] for order in orders}
    assert all(line["pay_url"] is None and line["pay_id"] is None for line in lines)
    assert pushed(context)["records"] == 120


def test_orders_unknown_state_fails_before_any_request(platform, tmp_path, context):
    operator = ExportOrdersOperator(
        task_id="export_orders", destination=f"file://{tmp_path}/o.jsonl", start=START, end=END, state="Done"
    )

    with pytest.raises(AceDataInputError, match="state"):
        operator.execute(context)

    assert platform.requests == []


def list_requests(platform) -> list:
    return platform.calls("GET", r"/usage/apis/$")


@pytest.mark.parametrize("count", [0, 99, 100, 797])
def test_an_export_of_n_records_makes_at_most_ceil_n_over_100_plus_3_list_requests(
    platform, app_id, tmp_path, context, count
):
    platform.add_usage(app_id, count=count, start=START, end=END)
    platform.clear_requests()

    export(tmp_path).execute(context)

    assert pushed(context)["records"] == count
    assert len(list_requests(platform)) <= -(-count // 100) + 3
    counts = [r for r in list_requests(platform) if r.query.get("limit") == ["1"]]
    assert len(counts) == 2  # one count before, one after: each a single request


def test_a_count_pages_the_edge_only_when_the_platform_returns_records_at_exactly_the_end(
    platform, app_id, tmp_path, context
):
    platform.add_usage(app_id, count=250, start=START, end=END)
    platform.add_usage(app_id, count=3, start=END, end=END + TICK, seed=1)  # at exactly END: inclusive _to shows them
    platform.clear_requests()

    export(tmp_path).execute(context)

    assert pushed(context)["records"] == 250
    newest_first = [r for r in list_requests(platform) if r.query.get("ordering") == ["-created_at"]]
    assert [r.query["limit"] for r in newest_first] == [["1"], ["100"], ["1"], ["100"]]


@pytest.mark.parametrize("file_format", ["jsonl", "csv"])
def test_parallel_parts_write_the_same_file_as_one_stream(platform, interval, tmp_path, context, file_format):
    one = ExportUsageOperator(
        task_id="one", destination=f"file://{tmp_path}/one.{file_format}", start=START, end=END, format=file_format
    )
    four = ExportUsageOperator(
        task_id="four",
        destination=f"file://{tmp_path}/four.{file_format}",
        start=START,
        end=END,
        format=file_format,
        parallelism=4,
    )

    one.execute(context)
    platform.clear_requests()
    four.execute(context)

    assert (tmp_path / f"four.{file_format}").read_text() == (tmp_path / f"one.{file_format}").read_text()
    assert pushed(context)["records"] == 250
    counted = {(r.query["created_at_from"][0], r.query["created_at_to"][0]) for r in list_requests(platform)}
    assert len(counted) == 4  # each quarter of the day read and counted on its own
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"four.{file_format}", f"one.{file_format}"]


def test_a_part_whose_records_move_fails_the_export_and_leaves_the_file(platform, interval, tmp_path, context):
    target = tmp_path / "usage.jsonl"
    target.write_text("yesterday's good file\n")
    platform.insert_while_listing("usage", per_page=1, at=lambda: START + timedelta(hours=20))

    with pytest.raises(AceDataExportError, match=r"interval changed|listed twice"):
        export(tmp_path, parallelism=4).execute(context)

    assert target.read_text() == "yesterday's good file\n"
    assert [p.name for p in tmp_path.iterdir()] == ["usage.jsonl"]


@pytest.mark.parametrize("parallelism", [0, 11, "4", 2.5, True])
def test_bad_parallelism_fails_before_any_request(platform, tmp_path, context, parallelism):
    with pytest.raises(AceDataInputError, match="parallelism"):
        export(tmp_path, parallelism=parallelism).execute(context)

    assert platform.requests == []


def test_destination_names_the_period_a_scheduled_run_with_an_empty_interval_exports(platform, app_id, tmp_path):
    from types import SimpleNamespace

    from airflow.sdk import DAG

    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    with DAG("daily_export", schedule="@daily", start_date=datetime(2026, 1, 1, tzinfo=UTC)) as dag:
        operator = ExportUsageOperator(
            task_id="export_usage", destination=f"file://{tmp_path}/usage-{{{{ export_start | ds }}}}.jsonl"
        )
    context = {
        "dag": dag,
        "dag_run": SimpleNamespace(run_type="scheduled", run_after=midnight),
        "data_interval_start": midnight,
        "data_interval_end": midnight,
        "logical_date": midnight,
        "ti": mock.MagicMock(),
    }
    yesterday = midnight - timedelta(days=1)
    platform.add_usage(app_id, count=30, start=yesterday, end=midnight)

    operator.render_template_fields(context)
    operator.execute(context)

    assert operator.destination == f"file://{tmp_path}/usage-{yesterday:%Y-%m-%d}.jsonl"
    assert (operator.start, operator.end) == (yesterday, midnight)
    assert len(ids_in(tmp_path / f"usage-{yesterday:%Y-%m-%d}.jsonl")) == 30


def test_lineage_names_the_platform_and_exactly_the_final_file(platform, interval, tmp_path, context):
    operator = export(tmp_path)
    operator.execute(context)

    lineage = operator.get_openlineage_facets_on_complete(context["ti"])

    [source] = lineage.inputs
    assert (source.namespace, source.name) == (platform.url, "api/v1/usage/apis")
    [target] = lineage.outputs
    assert (target.namespace, target.name) == ("file", f"{tmp_path}/usage.jsonl")  # as Airflow names files


def test_a_run_without_data_interval_keys_renders_the_defaults_as_unset(platform, app_id, tmp_path):
    """A manual run without a logical date gets no data_interval_* keys in its context (Airflow 3)."""
    from types import SimpleNamespace

    from airflow.sdk import DAG

    now = datetime.now(UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    with DAG("manual_export", schedule="@daily", start_date=datetime(2026, 1, 1, tzinfo=UTC)) as dag:
        operator = ExportUsageOperator(
            task_id="export_usage", destination=f"file://{tmp_path}/{{{{ export_start | ds }}}}.jsonl"
        )
    context = {"dag": dag, "dag_run": SimpleNamespace(run_type="manual", run_after=now), "ti": mock.MagicMock()}

    operator.render_template_fields(context)

    assert (operator.start, operator.end) == (midnight - timedelta(days=1), midnight)
    assert operator.destination == f"file://{tmp_path}/{midnight - timedelta(days=1):%Y-%m-%d}.jsonl"
