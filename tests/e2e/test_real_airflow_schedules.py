"""What unpausing each example DAG schedules, in a real scheduler (README "Try it in the Airflow UI", last lines).

- Every example shipped with ``schedule=None`` gets no scheduled run when unpaused: unpausing the rotation
  examples rotates nothing.
- With ``schedule="@weekly"``, as the rotation examples' docs show, unpausing starts one scheduled rotation at
  once, for the latest week, and it succeeds: through the Variable store and through the connection store.

``example_acedata_monitoring`` (``@daily``) is the example with a schedule of its own; its scheduled run is
covered by the monitoring tests and by tests/e2e/test_ui_path.py.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from e2e.real_airflow import RealAirflow

from airflow_provider_acedata.testing import FakeAceDataPlatform

pytestmark = pytest.mark.airflow_real

EXAMPLES = Path(__file__).resolve().parents[2] / "example_dags"
TOKEN_VARIABLE = "acedata_platform_token"


def authenticates(platform: FakeAceDataPlatform, token: str) -> bool:
    answer = requests.get(
        f"{platform.api_url}/platform-tokens/me/", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    return answer.status_code == 200


def scheduled_runs(af: RealAirflow, dag_id: str) -> list[dict[str, Any]]:
    return [run for run in af.dag_runs(dag_id) if run["run_type"] == "scheduled"]


def test_unpausing_an_unscheduled_example_runs_nothing(real_airflow: RealAirflow) -> None:
    af = real_airflow
    unscheduled = []
    for path in sorted(EXAMPLES.glob("example_acedata_*.py")):
        af.wait_for_dag(path.stem)
        if af.api("GET", f"/api/v2/dags/{path.stem}").json()["timetable_summary"] is None:
            unscheduled.append(path.stem)
            af.api("PATCH", f"/api/v2/dags/{path.stem}", json={"is_paused": False})
    assert {"example_acedata_rotation", "example_acedata_rotation_variable"} <= set(unscheduled)
    time.sleep(10)  # many scheduler loops (the deployment's heartbeat is 1 s)
    try:
        assert {dag_id: scheduled_runs(af, dag_id) for dag_id in unscheduled} == {dag_id: [] for dag_id in unscheduled}
    finally:
        for dag_id in unscheduled:
            af.api("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": True})


def weekly(example: str, dag_id: str) -> str:
    """The example's source as its docs say to schedule it: ``schedule="@weekly"``, under another DAG id."""
    source = (EXAMPLES / f"{example}.py").read_text()
    scheduled, count = re.subn(
        r'schedule=None,\s*# rotate weekly with schedule="@weekly"; see the docstring', 'schedule="@weekly",', source
    )
    assert count == 1, f"{example}: the schedule line the docs refer to is gone"
    assert '"@weekly"' in source.split('"""')[1], f"{example}: its docstring no longer shows @weekly"
    return scheduled.replace(example, dag_id)


def unpause_and_wait(af: RealAirflow, dag_id: str, source: str) -> dict[str, Any]:
    af.add_dag_file(f"{dag_id}.py", source)
    af.wait_for_dag(dag_id)
    af.api("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": False})
    try:
        deadline = time.monotonic() + 120
        while not (runs := scheduled_runs(af, dag_id)) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert len(runs) == 1, f"unpausing {dag_id} scheduled {runs}"
        [run] = runs
        assert af.wait_for_run(dag_id, run["dag_run_id"]) == "success", af.task_logs(dag_id, run["dag_run_id"])[-4000:]
        time.sleep(3)
        assert len(scheduled_runs(af, dag_id)) == 1, "catchup=False: one rotation, for the latest week only"
    finally:
        af.api("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": True})
    now = datetime.now(UTC)
    # @weekly is "0 0 * * 0": Sundays at 00:00 UTC. The run is for the latest one.
    sunday = (now - timedelta(days=(now.weekday() + 1) % 7)).replace(hour=0, minute=0, second=0, microsecond=0)
    assert datetime.fromisoformat(run["logical_date"]) == sunday, run
    assert "too short" not in af.task_logs(dag_id, run["dag_run_id"])
    return run


def test_a_weekly_rotation_runs_once_when_unpaused(real_airflow: RealAirflow) -> None:
    af = real_airflow
    with FakeAceDataPlatform() as platform:
        af.create_connection(
            "acedata_default",
            "acedata",
            host=platform.url,
            password=platform.token,
            extra={"rotation_variable": TOKEN_VARIABLE},
        )
        af.api("DELETE", f"/api/v2/variables/{TOKEN_VARIABLE}")
        unpause_and_wait(
            af,
            "acedata_weekly_rotation_variable",
            weekly("example_acedata_rotation_variable", "acedata_weekly_rotation_variable"),
        )
        stored = af.stored_row("SELECT val, is_encrypted FROM variable WHERE key = ?", TOKEN_VARIABLE)
        assert stored is not None
        new_token = af.decrypt(stored[0], bool(stored[1])) or ""
        assert authenticates(platform, new_token) and not authenticates(platform, platform.token)
    af.api("DELETE", f"/api/v2/variables/{TOKEN_VARIABLE}")

    with FakeAceDataPlatform() as platform:
        af.create_connection("acedata_default", "acedata", host=platform.url, password=platform.token)
        af.create_connection("airflow_api", "http", host=af.base_url, login=af.username, password=af.password)
        unpause_and_wait(af, "acedata_weekly_rotation", weekly("example_acedata_rotation", "acedata_weekly_rotation"))
        new_token = af.get_connection_password("acedata_default")
        assert authenticates(platform, new_token) and not authenticates(platform, platform.token)
