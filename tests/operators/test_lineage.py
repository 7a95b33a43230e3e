"""OpenLineage: the export reports the platform's records in and exactly the final file out, never ``.partial``.

The apache-airflow-providers-openlineage listener runs in a child process (``lineage_process.py``) with
the file transport, so the events read here are the ones a lineage backend would receive. The control
task hides the operator's lineage methods: OpenLineage then falls back to the file lineage that
``ObjectStoragePath`` records, temporary object included, which shows this test can fail.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

pytest.importorskip("airflow.providers.openlineage", reason="the openlineage provider (test extra) is missing")

START = datetime(2026, 3, 1, tzinfo=UTC)


def datasets(event: dict, kind: str) -> list[tuple[str, str]]:
    return [(dataset["namespace"], dataset["name"]) for dataset in event.get(kind, [])]


def test_the_emitted_events_name_exactly_the_final_file(platform, app_id, tmp_path):
    platform.add_usage(app_id, count=57, start=START, end=START + timedelta(days=1))

    done = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).with_name("lineage_process.py")),
            str(tmp_path),
            platform.connection_json(),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert done.returncode == 0, done.stderr[-3000:]
    assert '"state": "success"' in done.stdout
    emitted = (tmp_path / "lineage.jsonl").read_text()
    events = [json.loads(line) for line in emitted.splitlines()]
    export = [event for event in events if event["job"]["name"] == "acedata_lineage.export"]
    control = [event for event in events if event["job"]["name"] == "acedata_lineage.control"]
    [complete] = [event for event in export if event["eventType"] == "COMPLETE"]
    final = tmp_path / "out" / "with.jsonl"
    assert datasets(complete, "outputs") == [("file", str(final))]
    assert datasets(complete, "inputs") == [(platform.url, "api/v1/usage/apis")]
    assert ".partial" not in json.dumps(export)
    assert len(final.read_text().splitlines()) == 57
    [control_complete] = [event for event in control if event["eventType"] == "COMPLETE"]
    partial = re.compile(r"/out/\.control\.jsonl\.[0-9a-f]{32}\.partial$")
    assert any(partial.search(name) for _, name in datasets(control_complete, "outputs"))
    assert platform.token not in emitted
