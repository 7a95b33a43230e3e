"""Daily account monitoring: alert on low balances, and land each day's call records as one file per day.

``check_balances`` fails (so ``on_failure_callback``s and notifiers alert) naming each application whose
balance is below the ``min_remaining_amount`` param. ``export_usage`` writes every call record of the day
that just ended to ``{{ params.export_dir }}/usage-<that day>.jsonl``, exactly once; rerunning a day
replaces its file.

Which day: the run for midnight exports the day before it. On Airflow 3 a ``@daily`` run is for one
moment (its data interval is empty unless ``[scheduler] create_cron_data_intervals`` is true), so the
operator exports the schedule's period that ended at that moment; with data intervals it exports the
interval, the same day. A manual run exports the last full day too; to export another one, trigger it with
``{"start": "2026-03-01T00:00:00Z", "end": "2026-03-02T00:00:00Z"}``. The file is named after the day it
holds (``export_start``), never after the date of the run.

The destination is any URL ``ObjectStoragePath`` takes: point ``export_dir`` at ``s3://bucket/acedata`` with
the Amazon provider installed. The folder is also an ``Asset``: each export's asset event names its file
and period (``extra``), so downstream DAGs can be scheduled on it.
"""

from __future__ import annotations

import tempfile
from datetime import datetime
from pathlib import Path

from airflow.sdk import Asset, Param, dag

from airflow_provider_acedata.operators import ApplicationBalanceCheckOperator, ExportUsageOperator

EXPORT_DIR = Path(tempfile.gettempdir()) / "acedata-usage"
USAGE_FILES = Asset("acedata_daily_usage", uri=f"file://{EXPORT_DIR}")


@dag(
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["acedata", "example"],
    params={
        "export_dir": Param(str(EXPORT_DIR), type="string", title="Export folder (path or URL)"),
        "min_remaining_amount": Param(0, type="number", minimum=0, title="Alert below (Credits)"),
        "start": Param(None, type=["null", "string"], title="Start (ISO-8601; default: the day that just ended)"),
        "end": Param(None, type=["null", "string"], title="End, exclusive and in the past (default: that day's end)"),
    },
    doc_md=__doc__,
)
def example_acedata_monitoring() -> None:
    # [START howto_operator_application_balance_check]
    check_balances = ApplicationBalanceCheckOperator(
        task_id="check_balances",
        min_remaining_amount="{{ params.min_remaining_amount }}",
    )
    # [END howto_operator_application_balance_check]

    # [START howto_operator_export_usage]
    export_usage = ExportUsageOperator(
        task_id="export_usage",
        destination="{{ params.export_dir }}/usage-{{ export_start | ds }}.jsonl",
        start="{{ params.start or data_interval_start }}",
        end="{{ params.end or data_interval_end }}",
        format="jsonl",
        outlets=[USAGE_FILES],
    )
    # [END howto_operator_export_usage]

    check_balances >> export_usage


example_acedata_monitoring()
