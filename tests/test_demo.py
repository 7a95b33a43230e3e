"""``make demo`` end to end: a fresh process runs the example DAGs against the offline platform and says so briefly."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
ID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"  # full ids: users copy them


@pytest.mark.whole_command
def test_demo_runs_end_to_end_with_a_clean_console() -> None:
    env = {name: value for name, value in os.environ.items() if not name.startswith("AIRFLOW")}

    result = subprocess.run(
        [sys.executable, "-m", "demo"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    patterns = [
        r"Offline Ace Data Cloud platform at http://127\.0\.0\.1:\d+",
        rf"Run 1: created application ({ID}); report_balance received it \(remaining [\d.]+ Credits\)",
        rf"Run 2: reused  application ({ID}); report_balance received it \(remaining [\d.]+ Credits\)",
        rf"Rotation 1: token {ID} -> ({ID}); the old token now gets 401",
        rf"Rotation 2: token ({ID}) -> {ID}; the old token now gets 401",
        r"Monitoring: balances checked; exported (\d+) call records of \[[\d-]+, [\d-]+\) to file://(\S+\.jsonl)",
        r"Events: 14 balance reads \(100, then 5 eleven times, 50, 3\) announced 2 drops below 10 Credits",
        r"Events: window \[[\d:]+, [\d:]+\) closed with 42 call records; example_acedata_call_records_export "
        r"exported them to file://(\S+\.jsonl)",
        r"API calls: 4 prompts -> 4 Flux tasks, each submitted once and awaited deferred \(\d+ task reads\); "
        r"images in file://\S+/images",
        rf"API calls: exported 4 call records of the run, 2 Credits spent; API key {ID} -> {ID}, the old key now "
        r"gets 401",
        r"All good in \d+ s\. Airflow logs: (.+demo-airflow\.log)",
    ]
    assert len(lines) == len(patterns), result.stdout
    matches = [re.fullmatch(pattern, line) for pattern, line in zip(patterns, lines, strict=True)]
    assert all(matches), result.stdout
    assert matches[1].group(1) == matches[2].group(1)  # type: ignore[union-attr]
    assert matches[3].group(1) == matches[4].group(1)  # type: ignore[union-attr]
    log = Path(matches[-1].group(1))  # type: ignore[union-attr]
    try:
        airflow_log = log.read_text()
        exported = Path(matches[5].group(2)).read_text().splitlines()  # type: ignore[union-attr]
        assert len(exported) == int(matches[5].group(1)) > 0  # type: ignore[union-attr]
        assert len(Path(matches[7].group(1)).read_text().splitlines()) == 42  # type: ignore[union-attr]
    finally:
        shutil.rmtree(log.parent, ignore_errors=True)
    assert "DagRun Finished" in airflow_log
    assert "platform-v1-" not in result.stdout + airflow_log
