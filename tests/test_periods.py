"""The interval an export covers when its run has an empty or missing data interval (runs on 3.1.1 and 3.3).

The contexts are what the task runner hands a task: the DAG (whose ``timetable`` differs between
Airflow 3.1, core's classes, and 3.2+, the Task SDK's), the run (``run_type``, ``run_after``) and the
data interval, which a cron or timedelta schedule leaves empty by default and a manual run without a
logical date leaves out.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from airflow.sdk import DAG
from airflow.timetables.interval import CronDataIntervalTimetable
from airflow.timetables.trigger import MultipleCronTriggerTimetable

from airflow_provider_acedata.exceptions import AceDataInputError
from airflow_provider_acedata.periods import export_interval

UTC = UTC
MIDNIGHT = datetime(2026, 3, 2, tzinfo=UTC)
NOW = datetime(2026, 3, 2, 10, 5, 33, 250000, tzinfo=UTC)


def context(schedule: Any, run_type: str, *, interval: tuple[datetime, datetime] | None, run_after: datetime) -> dict:
    dag = DAG(dag_id="periods", schedule=schedule, start_date=datetime(2026, 1, 1, tzinfo=UTC))
    start, end = interval or (None, None)
    return {
        "dag": dag,
        "dag_run": SimpleNamespace(run_type=run_type, run_after=run_after),
        "data_interval_start": start,
        "data_interval_end": end,
        "logical_date": start,
    }


def rendered(ctx: dict) -> tuple[str, str]:
    """What ``{{ data_interval_start }}``/``{{ data_interval_end }}`` render to in that run."""
    return str(ctx["data_interval_start"]), str(ctx["data_interval_end"])


def at(day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A moment in March 2026, or in February for days 27 and later (the week before Monday 2 March)."""
    return datetime(2026, 2 if day >= 27 else 3, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    ("schedule", "moment", "period"),
    [
        ("@daily", at(2), (at(1), at(2))),
        ("@hourly", at(2, 7), (at(2, 6), at(2, 7))),
        ("30 2 * * 1-5", at(2, 2, 30), (at(27, 2, 30), at(2, 2, 30))),  # Monday: the period starts on Friday
        (timedelta(hours=6), at(2, 6, 15), (at(2, 0, 15), at(2, 6, 15))),
    ],
)
def test_a_scheduled_run_with_an_empty_interval_exports_the_period_that_ended(schedule, moment, period):
    ctx = context(schedule, "scheduled", interval=(moment, moment), run_after=moment)

    assert export_interval(*rendered(ctx), ctx, now=NOW) == period
    assert export_interval(moment, moment, ctx, now=NOW) == period  # the datetimes themselves, unrendered


def test_a_manual_run_without_an_interval_gets_the_same_period_as_the_scheduled_run():
    scheduled = context("@daily", "scheduled", interval=(MIDNIGHT, MIDNIGHT), run_after=MIDNIGHT)
    manual = context("@daily", "manual", interval=None, run_after=NOW)
    manual_with_date = context("@daily", "manual", interval=(NOW, NOW), run_after=NOW)

    expected = (MIDNIGHT - timedelta(days=1), MIDNIGHT)
    assert export_interval(*rendered(scheduled), scheduled, now=NOW) == expected
    assert export_interval("None", "None", manual, now=NOW) == expected
    assert export_interval(None, None, manual, now=NOW) == expected
    assert export_interval(*rendered(manual_with_date), manual_with_date, now=NOW) == expected


def test_a_data_interval_timetable_is_exported_as_given():
    """``create_cron_data_intervals = True``: the scheduled run for a day has that day as its interval."""
    day = (MIDNIGHT - timedelta(days=1), MIDNIGHT)
    ctx = context(CronDataIntervalTimetable("@daily", timezone="UTC"), "scheduled", interval=day, run_after=MIDNIGHT)

    assert export_interval(*rendered(ctx), ctx, now=NOW) == day
    manual = context(CronDataIntervalTimetable("@daily", timezone="UTC"), "manual", interval=None, run_after=NOW)
    assert export_interval("None", "None", manual, now=NOW) == day


def test_the_period_follows_the_schedules_timezone_across_a_dst_change():
    paris = ZoneInfo("Europe/Paris")
    moment = datetime(2026, 3, 30, 0, 0, tzinfo=paris)  # the night of 29 March has 23 hours
    schedule = CronDataIntervalTimetable("0 0 * * *", timezone="Europe/Paris")
    ctx = context(schedule, "manual", interval=None, run_after=moment + timedelta(hours=3))

    start, end = export_interval(None, None, ctx, now=NOW.replace(month=4))

    assert (start, end) == (datetime(2026, 3, 29, tzinfo=paris), datetime(2026, 3, 30, tzinfo=paris))
    assert end - start == timedelta(hours=23)


def test_several_crons_give_the_gap_since_the_previous_fire_of_any():
    schedule = MultipleCronTriggerTimetable("0 1 * * *", "0 13 * * *", timezone="UTC")
    moment = datetime(2026, 3, 2, 13, tzinfo=UTC)
    ctx = context(schedule, "scheduled", interval=(moment, moment), run_after=moment)

    assert export_interval(*rendered(ctx), ctx, now=NOW.replace(hour=20)) == (moment - timedelta(hours=12), moment)


@pytest.mark.parametrize("schedule", [None, timedelta(hours=1)])
def test_a_manual_run_that_cannot_take_a_period_says_how_to_give_one(schedule):
    ctx = context(schedule, "manual", interval=None, run_after=NOW)

    with pytest.raises(AceDataInputError, match="a manual run has an empty data interval: set start/end"):
        export_interval("None", "None", ctx, now=NOW)


def test_an_explicit_empty_interval_is_refused_not_replaced():
    ctx = context("@daily", "scheduled", interval=(MIDNIGHT, MIDNIGHT), run_after=MIDNIGHT)
    other = MIDNIGHT - timedelta(days=3)

    with pytest.raises(AceDataInputError, match=r"end .* must be after start"):
        export_interval(other, other, ctx, now=NOW)


def test_given_start_and_end_win_over_the_schedule():
    ctx = context("@daily", "scheduled", interval=(MIDNIGHT, MIDNIGHT), run_after=MIDNIGHT)
    given = (datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 2, 3, tzinfo=UTC))

    assert export_interval("2026-02-01T00:00:00Z", "2026-02-03T00:00:00Z", ctx, now=NOW) == given


def test_without_a_run_an_unset_interval_is_an_error_naming_the_fields():
    with pytest.raises(AceDataInputError, match="start"):
        export_interval(None, None, None, now=NOW)


def test_an_hourly_period_is_one_hour_across_the_autumn_dst_change():
    schedule = CronDataIntervalTimetable("@hourly", timezone="Europe/Paris")
    moment = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)  # 02:30 Paris, the second time that night
    ctx = context(schedule, "manual", interval=None, run_after=moment)

    start, end = export_interval(None, None, ctx, now=NOW.replace(month=11))

    assert end - start == timedelta(hours=1)
    assert start < end <= moment < end + timedelta(hours=1)
