"""Daily account monitoring: alert on low balances, and land yesterday's call records as one file per day.

``check_balances`` fails (so ``on_failure_callback``s and notifiers alert) naming each application whose
balance is below the ``min_remaining_amount`` param. ``export_usage`` writes every call record created in
the run's data interval to ``{{ params.export_dir }}/usage-{{ ds }}.jsonl`` exactly once; a rerun of the
same day replaces that file. A manual run (whose data interval is empty) takes ``start``/``end`` from
its conf, e.g. ``{"start": "2026-03-01T00:00:00Z", "end": "2026-03-02T00:00:00Z"}``.
The destination is any URL ``ObjectStoragePath`` takes: point ``export_dir`` at ``s3://bucket/acedata``
with the Amazon provider installed. The file is also an ``Asset`` that downstream DAGs can be scheduled on.
"""

from __future__ import annotations

import tempfile
from datetime import datetime
from pathlib import Path

from airflow.sdk import Asset, Param, dag

from airflow_provider_acedata.operators import ApplicationBalanceCheckOperator, ExportUsageOperator

EXPORT_DIR = Path(tempfile.gettempdir()) / "acedata-usage"
USAGE_ASSET = Asset("acedata_daily_usage", uri=f"file://{EXPORT_DIR}/usage.jsonl")


@dag(
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["acedata", "example"],
    params={
        "export_dir": Param(str(EXPORT_DIR), type="string", title="Export folder (path or URL)"),
        "min_remaining_amount": Param(0, type="number", minimum=0, title="Alert below (Credits)"),
        "start": Param(None, type=["null", "string"], title="Start (ISO-8601; default: the data interval's)"),
        "end": Param(None, type=["null", "string"], title="End, exclusive and in the past (default: the interval's)"),
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
        destination="{{ params.export_dir }}/usage-{{ ds }}.jsonl",
        start="{{ params.start or data_interval_start }}",
        end="{{ params.end or data_interval_end }}",
        format="jsonl",
        outlets=[USAGE_ASSET],
    )
    # [END howto_operator_export_usage]

    check_balances >> export_usage


example_acedata_monitoring()
