"""The benchmarks' smoke mode runs end to end and prints every row, so ``make bench`` cannot rot."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ROWS = (
    "| 1. Import cost at DAG parse |",
    "| 2. Per-call overhead (loopback) |",
    "| 3. Paging ",
    "| 4. Token rotation |",
    "| 5. Deferred waits at triggerer scale |",
    "| 6. Export ",
    "| 7. Deferred API waits (shared task reads) |",
)


@pytest.mark.whole_command
def test_smoke_mode_prints_every_row() -> None:
    """In a child process: the benchmarks reset Airflow's secrets masker, which tests here rely on."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--smoke"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    table = [line for line in done.stdout.splitlines() if line.startswith("| ")]
    for row in ROWS:
        assert sum(line.startswith(row) for line in table) == 1, (row, done.stdout)
    assert "Traceback" not in done.stderr
