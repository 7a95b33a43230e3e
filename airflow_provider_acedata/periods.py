"""The interval an export covers: the one given, else the period of the DAG's schedule that just ended.

On Airflow 3 a cron or timedelta schedule is a *trigger* timetable by default
(``[scheduler] create_cron_data_intervals = False``): a run's data interval is empty, start and end both at
the moment the run is for. ``{{ data_interval_start }}``/``{{ data_interval_end }}`` then give an export
nothing to read. A manual run without a logical date has no data interval at all (they render ``None``).

So an export given the run's own empty (or missing) data interval exports the schedule's period that ended
at or before that moment: a ``@daily`` run for midnight exports the day before it, and a manual run at
10:05 the same day. The same period as a data-interval timetable (``create_cron_data_intervals = True``)
gives its runs, so a DAG exports each period once whichever setting it runs under.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from airflow_provider_acedata.exceptions import AceDataInputError
from airflow_provider_acedata.validation import optional_datetime, require_interval
from airflow_provider_acedata.version_compat import TriggerSchedule, trigger_schedule

EXAMPLE = "start='2026-03-01T00:00:00Z', end='2026-03-02T00:00:00Z'"
_ONE_SECOND = timedelta(seconds=1)


def export_interval(
    start: object, end: object, context: Mapping[str, Any] | None, *, now: datetime
) -> tuple[datetime, datetime]:
    """``[start, end)`` as given, or, when they are the run's empty or missing data interval, the period that ended.

    :raises AceDataInputError: naming the field, or saying how to give an interval when none can be taken.
    """
    if context is not None and _is_the_runs_empty_interval(start, end, context):
        begin, finish = previous_period(context)
        return require_interval(begin, finish, now=now)
    return require_interval(start, end, now=now)


def previous_period(context: Mapping[str, Any]) -> tuple[datetime, datetime]:
    """The period of the run's schedule that ended at or before the moment the run is for."""
    dag_run = context.get("dag_run")
    run_type = str(getattr(getattr(dag_run, "run_type", None), "value", getattr(dag_run, "run_type", "")) or "")
    moment = _aware(
        context.get("data_interval_end") or context.get("logical_date") or getattr(dag_run, "run_after", None)
    )
    dag = context.get("dag")
    schedule = trigger_schedule(getattr(dag, "timetable", None)) if dag is not None else None
    if moment is not None and schedule is not None and schedule.crons:
        return cron_period(schedule, moment)
    if moment is not None and schedule is not None and schedule.delta is not None and run_type != "manual":
        return moment - schedule.delta, moment
    if run_type == "manual":
        reason = (
            f"its schedule (every {schedule.delta}) has no aligned period to take instead"
            if schedule is not None and schedule.delta is not None
            else "its DAG has no cron schedule to take the period from"
        )
        raise AceDataInputError(
            f"start/end: a manual run has an empty data interval: set start/end ({EXAMPLE}, or through the "
            f"run's conf when the DAG passes them on); {reason}"
        )
    raise AceDataInputError(
        f"start/end: this {run_type or 'run'} run has an empty data interval and its DAG has no cron or timedelta "
        f"schedule to take the period from: set start/end ({EXAMPLE})"
    )


def cron_period(schedule: TriggerSchedule, moment: datetime) -> tuple[datetime, datetime]:
    """``[previous fire, last fire)``: the last fire time at or before ``moment`` and the one before it (UTC)."""
    zone = schedule.timezone or UTC
    end = max(_previous_fire(expression, zone, moment, inclusive=True) for expression in schedule.crons)
    start = max(_previous_fire(expression, zone, end, inclusive=False) for expression in schedule.crons)
    return start.astimezone(UTC), end.astimezone(UTC)


def _previous_fire(expression: str, zone: tzinfo, moment: datetime, *, inclusive: bool) -> datetime:
    """The latest fire time of ``expression`` before ``moment`` (or at it, when ``inclusive``), DST-safe.

    As Airflow's own cron timetables do: fires are found on the local wall clock (naive), then placed in
    the zone; a cron that fires every hour is stepped back by elapsed time instead, so that it neither
    skips nor repeats the hour a DST change adds or removes.
    """
    from croniter import croniter  # type: ignore[import-untyped]  # no stubs; Airflow's own dependency

    naive = moment.astimezone(zone).replace(tzinfo=None)
    fire: datetime = croniter(expression, naive + _ONE_SECOND if inclusive else naive).get_prev(datetime)
    while fire > naive or (not inclusive and fire == naive):
        fire = croniter(expression, fire).get_prev(datetime)
    if croniter(expression).expanded[1] == ["*"]:
        return moment - (naive - fire)
    return fire.replace(tzinfo=zone)


def _is_the_runs_empty_interval(start: object, end: object, context: Mapping[str, Any]) -> bool:
    """Whether ``start``/``end`` are what ``{{ data_interval_start }}``/``{{ data_interval_end }}`` gave an empty run.

    That is: both unset (None, empty or ``"None"``, as a run without a data interval renders them), or both the
    same instant, which is the run's own ``data_interval_start`` and ``data_interval_end``.
    """
    if _unset(start) and _unset(end):
        return True
    interval_start, interval_end = context.get("data_interval_start"), context.get("data_interval_end")
    if interval_start is None or interval_end is None or interval_start != interval_end:
        return False
    given = [_instant(start), _instant(end)]
    return given[0] is not None and given[0] == given[1] == _aware(interval_start)


def _unset(value: object) -> bool:
    return value is None or (isinstance(value, str) and value.strip() in ("", "None"))


def _instant(value: object) -> datetime | None:
    try:
        text = optional_datetime("start", value)
    except AceDataInputError:
        return None
    return None if text is None else datetime.fromisoformat(text)


def _aware(value: object) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
