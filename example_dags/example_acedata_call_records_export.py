"""Export each hour of call records once it has closed: an ``AssetWatcher`` starts this DAG, no schedule.

The triggerer runs ``NewCallRecordsTrigger`` while this DAG is unpaused: every ``poke_interval`` it counts
the records of each hour that ended at least ``settle`` seconds ago, and announces every hour that holds
any (``{"start", "end", "count"}``). Each announcement starts a run that exports exactly that hour to
``{{ params.export_dir }}/usage-<hour>.jsonl``. The scheduler may fold events that arrive close together into
one run, so the export is mapped over the run's windows: one file per hour, always. Hours are aligned and
an export replaces its file, so an announcement repeated after a triggerer restart rewrites the same file.

Trigger it by hand with ``{"start": "2026-03-01T10:00:00Z", "end": "2026-03-01T11:00:00Z"}`` to export one
window yourself (a backfill).
"""

from __future__ import annotations

import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from airflow.sdk import Asset, AssetWatcher, Param, dag, task

from airflow_provider_acedata.exceptions import AceDataInputError
from airflow_provider_acedata.operators import ExportUsageOperator
from airflow_provider_acedata.triggers import NewCallRecordsTrigger, call_record_windows

EXPORT_DIR = Path(tempfile.gettempdir()) / "acedata-usage-hourly"
CALL_RECORDS = Asset(
    "acedata_call_records",
    watchers=[
        AssetWatcher(
            name="acedata_new_call_records",
            trigger=NewCallRecordsTrigger(window=3600, settle=300, poke_interval=300),
        )
    ],
)
HOURLY_FILES = Asset("acedata_hourly_usage", uri=f"file://{EXPORT_DIR}")


@dag(
    schedule=[CALL_RECORDS],
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["acedata", "example"],
    params={
        "export_dir": Param(str(EXPORT_DIR), type="string", title="Export folder (path or URL)"),
        "start": Param(None, type=["null", "string"], title="Start of a window to export by hand (ISO-8601)"),
        "end": Param(None, type=["null", "string"], title="Its end, exclusive and in the past"),
    },
    doc_md=__doc__,
)
def example_acedata_call_records_export() -> None:
    @task
    def closed_windows(*, params: dict[str, Any], triggering_asset_events: Any = None) -> list[dict[str, str]]:
        """The windows the watcher announced for this run, or the one given by hand (conf start/end)."""
        try:
            events = list(triggering_asset_events[CALL_RECORDS]) if triggering_asset_events else []
        except KeyError:
            events = []
        windows = call_record_windows(events)
        if not windows and params.get("start") and params.get("end"):
            windows = [{"start": params["start"], "end": params["end"]}]
        if not windows:
            raise AceDataInputError("start/end: no announced window started this run; trigger it with start and end")
        return windows

    ExportUsageOperator.partial(
        task_id="export_window",
        destination="{{ params.export_dir }}/usage-{{ export_start | ts_nodash }}.jsonl",
        outlets=[HOURLY_FILES],
    ).expand_kwargs(closed_windows())


example_acedata_call_records_export()
