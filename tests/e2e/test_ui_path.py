"""A new user's path through the real Airflow UI in headless Chromium, against the offline platform.

Adds the ``acedata`` connection through the form, triggers ``example_acedata_application`` from its page,
and checks what the user then sees: the run succeeds, the XCom tab shows the application id, and the task
offers the console link. Screenshots of each step go to a temporary folder (their names are in the
test's output); nothing is written into the work tree.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from e2e.real_airflow import RealAirflow

from airflow_provider_acedata.testing import FakeAceDataPlatform

BROWSER_DIR = Path(__file__).resolve().parent / "browser"
CHROMIUM = Path("/usr/bin/chromium")
DAG_ID = "example_acedata_application"
TASK_ID = "create_application"

pytestmark = pytest.mark.airflow_real


def browse(node: str, airflow: RealAirflow, shots: Path, **step: str) -> dict[str, Any]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "AIRFLOW_URL": airflow.base_url,
        "AIRFLOW_USERNAME": airflow.username,
        "AIRFLOW_PASSWORD": airflow.password,
        "CHROMIUM": str(CHROMIUM),
        "SCREENSHOT_DIR": str(shots),
        **step,
    }
    done = subprocess.run([node, "ui_path.mjs"], cwd=BROWSER_DIR, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, f"browser step failed (screenshots in {shots}):\n{done.stderr[-4000:]}"
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_connection_form_trigger_xcom_and_console_link(
    node: str, real_airflow: RealAirflow, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shots = tmp_path / "screenshots"
    with FakeAceDataPlatform() as platform:
        real_airflow.api("DELETE", "/api/v2/connections/acedata_default")
        real_airflow.wait_for_dag(DAG_ID)
        before = {run["dag_run_id"] for run in real_airflow.dag_runs(DAG_ID)}

        browse(
            node,
            real_airflow,
            shots,
            STEP="connect_and_trigger",
            CONN_ID="acedata_default",
            CONN_TYPE_LABEL="Ace Data Cloud",
            PLATFORM_URL=platform.url,
            PLATFORM_TOKEN=platform.token,
            DAG_ID=DAG_ID,
        )
        run_id = new_run(real_airflow, before)
        state = real_airflow.wait_for_run(DAG_ID, run_id, timeout=180)
        assert state == "success", real_airflow.task_logs(DAG_ID, run_id)[-4000:]
        [application] = platform.applications()

        seen = browse(node, real_airflow, shots, STEP="read_task", DAG_ID=DAG_ID, RUN_ID=run_id, TASK_ID=TASK_ID)
        console = f"{platform.url}/console/applications"

    assert application["id"] in seen["text"], seen["text"][-2000:]
    assert any(link["href"] == console for link in seen["links"]), seen["links"]
    assert platform.token not in seen["text"]
    with capsys.disabled():
        print(f"\nUI path screenshots: {sorted(p.name for p in shots.glob('*.png'))} in {shots}")


def new_run(airflow: RealAirflow, before: set[str], timeout: float = 60) -> str:
    """The run the UI just created."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = [run["dag_run_id"] for run in airflow.dag_runs(DAG_ID) if run["dag_run_id"] not in before]
        if runs:
            return str(runs[0])
        time.sleep(0.5)
    raise AssertionError("the UI's Trigger created no run")
