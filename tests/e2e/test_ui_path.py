"""The README's "Try it in the Airflow UI", steps 2 to 9, as written: by clicking, in headless Chromium.

The README's blocks for these steps (``<!-- run-by: tests/e2e/test_ui_path.py -->``) are read from README.md and
run as a reader runs them: ``serve`` in a shell of its own, the REST connection test with curl, ``airflow
variables get/delete`` in the deployment's environment. Everything else is done in the UI: the connection
forms, each example DAG's trigger dialog with the params a reader types, and reading the outcome where the
README says it shows (the run's state, a log line, the XCom tab, the Details tab's link). Step 1 (an Airflow
with the examples) is tests/e2e/test_readme_airflow.py; this test uses the session's deployment, which is set
up the same way (the examples as its dags folder, a triggerer, ``[core] test_connection = Enabled``).

Screenshots of every step go to a temporary folder; their names are printed. No token or API key may show
in any page's text.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import quote

import pytest
import requests
from e2e.real_airflow import RealAirflow
from readme import SERVE, Served, block_run_by, serve, substitute

from airflow_provider_acedata.hooks import AceDataHook

BROWSER_DIR = Path(__file__).resolve().parent / "browser"
CHROMIUM = Path("/usr/bin/chromium")
APPLICATION = "example_acedata_application"
PROVISIONING = "example_acedata_provisioning"
MONITORING = "example_acedata_monitoring"
ROTATION_VARIABLE = "example_acedata_rotation_variable"
ROTATION = "example_acedata_rotation"
TOKEN_VARIABLE = "acedata_platform_token"
API_KEY_VARIABLE = "acedata_api_key_example_provisioning"
API = "example_acedata_api"
API_CONNECTION = "acedata_api_default"
API_CONNECTION_VARIABLE = "acedata_api_key"

pytestmark = pytest.mark.airflow_real


class Browser:
    """The ui_path.mjs driver: one Chromium, logged in once, one step per call."""

    def __init__(self, node: str, airflow: RealAirflow, shots: Path) -> None:
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": os.environ.get("HOME", "/tmp"),
            "AIRFLOW_URL": airflow.base_url,
            "AIRFLOW_USERNAME": airflow.username,
            "AIRFLOW_PASSWORD": airflow.password,
            "CHROMIUM": str(CHROMIUM),
            "SCREENSHOT_DIR": str(shots),
        }
        self.shots = shots
        self.texts: list[str] = []
        self.process = subprocess.Popen(
            [node, "ui_path.mjs"],
            cwd=BROWSER_DIR,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._answer("log in")

    def _answer(self, what: str) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            stderr = self.process.stderr.read() if self.process.stderr else ""
            raise AssertionError(f"the browser stopped during {what} (screenshots in {self.shots}):\n{stderr[-4000:]}")
        answer: dict[str, Any] = json.loads(line)
        assert answer["ok"], f"browser step {what} failed (screenshots in {self.shots}):\n{answer.get('error')}"
        return answer

    def __call__(self, step: str, **args: Any) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"step": step, **args}) + "\n")
        self.process.stdin.flush()
        answer = self._answer(f"{step} {args.get('shot', '')}")
        if "text" in answer:
            self.texts.append(answer["text"])
        return answer

    def read(self, path: str, shot: str, wait_text: str | None = None) -> str:
        return str(self("read", path=path, shot=shot, wait_text=wait_text)["text"])

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


def shell_env(airflow: RealAirflow) -> dict[str, str]:
    """A reader's second shell: the deployment's AIRFLOW_HOME and settings, this venv first on PATH."""
    return {**airflow.env, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}


def bash(code: str, env: dict[str, str], timeout: float = 120) -> str:
    done = subprocess.run(
        ["bash", "-c", f"set -euo pipefail\n{code}"], env=env, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, (
        f"`{code.strip()}` failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    )
    return done.stdout


def test_the_readme_recipe_by_clicking(
    node: str, real_airflow: RealAirflow, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shots = tmp_path / "screenshots"
    af = real_airflow
    for conn_id in ("acedata_default", "airflow_api", API_CONNECTION):
        af.api("DELETE", f"/api/v2/connections/{conn_id}")
    for key in (TOKEN_VARIABLE, API_KEY_VARIABLE, API_CONNECTION_VARIABLE):
        af.api("DELETE", f"/api/v2/variables/{key}")
    for dag_id in (APPLICATION, PROVISIONING, MONITORING, ROTATION_VARIABLE, ROTATION, API):
        af.wait_for_dag(dag_id)
    env = shell_env(af)
    served = serve(block_run_by(__file__, SERVE), env)  # step 2
    secrets = [served.token, served.admin_token, served.api_key]
    browser = Browser(node, af, shots)
    try:
        connect(browser, af, served)  # step 3
        application_id = subscribe(browser, af, served)  # step 4
        secrets.append(provision(browser, af, served, env))  # step 5
        export_a_day(browser, af, served, tmp_path / "usage")  # step 6
        secrets.append(rotate_into_the_variable(browser, af, served, env))  # step 7
        secrets.append(rotate_into_the_connection(browser, af, served, env))  # step 8
        secrets += call_the_apis(browser, af, served, tmp_path / "api")  # step 9
        visible = browser.read("/variables", "end-variables", wait_text=API_KEY_VARIABLE)
    finally:
        browser.close()
        assert served.stop() == 0
        for dag_id in (MONITORING, API):
            af.api("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": True})

    assert application_id in " ".join(browser.texts)
    assert TOKEN_VARIABLE not in visible  # deleted in step 8
    leaked = [secret[:12] for secret in secrets for text in browser.texts if secret in text]
    assert leaked == [], f"secrets shown in the UI: {leaked}"
    with capsys.disabled():
        print(f"\nUI recipe screenshots in {shots}: {sorted(p.name for p in shots.glob('*.png'))}")


# -- the steps ---------------------------------------------------------------------------------------------


def connect(browser: Browser, af: RealAirflow, served: Served) -> None:
    """Step 3: the connection through the form, then the REST connection test of "Testing the connection"."""
    browser(
        "add_connection",
        conn_id="acedata_default",
        type_label="Ace Data Cloud",
        host=served.url,
        password=served.token,
        shot="3-connection-form",
    )
    code = substitute(
        block_run_by(__file__, "/api/v2/connections/test").code,
        {"http://127.0.0.1:8080": af.base_url, "ADMIN_PASSWORD": af.password},
    )
    answer = bash(code, shell_env(af))
    assert json.loads(answer.strip().splitlines()[-1]) == {"status": True, "message": "Connected as demo"}


def subscribe(browser: Browser, af: RealAirflow, served: Served) -> str:
    """Step 4: trigger the application example with its defaults; run state, log line, XCom, console link."""
    run_id = trigger(browser, af, APPLICATION, {}, "4-application-trigger")
    assert af.wait_for_run(APPLICATION, run_id) == "success", af.task_logs(APPLICATION, run_id)[-4000:]
    run = run_path(APPLICATION, run_id)
    assert "Success" in browser.read(run, "4-application-run", wait_text="Success")
    application_id = xcom(af, APPLICATION, run_id, "create_application")
    assert application_id in browser.read(f"{run}/tasks/create_application/xcom", "4-application-xcom", "return_value")
    log = browser.read(f"{run}/tasks/report_balance", "4-report-balance-log", wait_text="Credits")
    assert f"Application {application_id} has 0 Credits" in log
    details = browser(
        "read", path=f"{run}/tasks/create_application/details", shot="4-console-link", wait_text="Extra Links"
    )
    assert {"text": "Ace Data Cloud console", "href": f"{served.url}/console/applications"} in details["links"]
    return application_id


def provision(browser: Browser, af: RealAirflow, served: Served, env: dict[str, str]) -> str:
    """Step 5: suno's new application has no Credits, so the sensor defers; state and topup; the API key's Variable."""
    params = {"service_alias": "suno", "poke_interval": 10}
    run_id = trigger(browser, af, PROVISIONING, params, "5-provisioning-trigger")
    run = run_path(PROVISIONING, run_id)
    wait_for_task_state(af, PROVISIONING, run_id, "wait_for_balance", "deferred")
    assert "Deferred" in browser.read(f"{run}/tasks/wait_for_balance", "5-sensor-deferred", wait_text="Deferred")
    application_id = xcom(af, PROVISIONING, run_id, "create_application")
    state = json.loads(bash(served.command("state"), env))
    [suno] = [app for app in state["applications"] if app["id"] == application_id]
    assert suno["remaining_amount"] == 0, suno
    bash(substitute(served.command("topup"), {"APPLICATION_ID": application_id}), env)

    assert af.wait_for_run(PROVISIONING, run_id, timeout=120) == "success", af.task_logs(PROVISIONING, run_id)[-4000:]
    credential_id = xcom(af, PROVISIONING, run_id, "create_api_key")
    log = browser.read(f"{run}/tasks/use_api_key", "5-use-api-key-log", wait_text="is ready")
    assert f"API key {credential_id} is ready" in log
    stored = af.stored_row("SELECT val, is_encrypted FROM variable WHERE key = ?", API_KEY_VARIABLE)
    assert stored is not None
    return str(af.decrypt(stored[0], bool(stored[1])))


def export_a_day(browser: Browser, af: RealAirflow, served: Served, folder: Path) -> None:
    """Step 6: yesterday's call records, as many as serve seeded on that day; the scheduled run unpausing adds."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start, end = today - timedelta(days=1), today
    params = {"start": f"{start:%Y-%m-%d}T00:00:00Z", "end": f"{end:%Y-%m-%d}T00:00:00Z", "export_dir": str(folder)}
    before = {run["dag_run_id"] for run in af.dag_runs(MONITORING)}
    default_folder = Path(tempfile.gettempdir()) / "acedata-usage"
    default_folder_existed = default_folder.exists()
    run_id = trigger(browser, af, MONITORING, params, "6-monitoring-trigger")
    assert af.wait_for_run(MONITORING, run_id) == "success", af.task_logs(MONITORING, run_id)[-4000:]
    expected = count_usage(served, start, end)
    run = run_path(MONITORING, run_id)
    page = browser.read(f"{run}/tasks/export_usage/xcom", "6-export-xcom", wait_text="records")
    written = xcom(af, MONITORING, run_id, "export_usage")
    assert written in page and xcom(af, MONITORING, run_id, "export_usage", "records") == expected > 0
    assert len(Path(written.removeprefix("file://")).read_text().splitlines()) == expected

    # Unpausing (the dialog's default) also runs the DAG on its @daily schedule, for today's midnight: it
    # exports the day that just ended, yesterday, into the default export folder, named after that day.
    scheduled = wait_for_new_run(af, MONITORING, before | {run_id}, run_type="scheduled")
    assert af.wait_for_run(MONITORING, scheduled) == "success", af.task_logs(MONITORING, scheduled)[-4000:]
    browser.read(run_path(MONITORING, scheduled), "6-scheduled-run", wait_text="Success")
    by_schedule = xcom(af, MONITORING, scheduled, "export_usage")
    assert Path(written).name == Path(by_schedule).name == f"usage-{start:%Y-%m-%d}.jsonl"
    assert xcom(af, MONITORING, scheduled, "export_usage", "records") == expected
    Path(by_schedule.removeprefix("file://")).unlink()
    if not default_folder_existed:
        default_folder.rmdir()
    shutil.rmtree(folder, ignore_errors=True)


def rotate_into_the_variable(browser: Browser, af: RealAirflow, served: Served, env: dict[str, str]) -> str:
    """Step 7: the Rotation Variable extra in the form, then the Variable-store rotation; serve's token is revoked."""
    browser("edit_connection", conn_id="acedata_default", rotation_variable=TOKEN_VARIABLE, shot="7-rotation-variable")
    run_id = trigger(browser, af, ROTATION_VARIABLE, {}, "7-rotation-variable-trigger")
    assert af.wait_for_run(ROTATION_VARIABLE, run_id) == "success", af.task_logs(ROTATION_VARIABLE, run_id)[-4000:]
    new_id = xcom(af, ROTATION_VARIABLE, run_id, "rotate_token")
    log = browser.read(f"{run_path(ROTATION_VARIABLE, run_id)}/tasks/report_rotation", "7-rotation-log", "rotated")
    assert f"Platform token rotated; the connection now uses token {new_id}" in log
    assert me(served.url, served.token) == 401
    assert json.loads(bash(served.command("state"), env))["applications"]  # the admin token outlives it
    assert "too short" not in af.task_logs(ROTATION_VARIABLE, run_id)
    return bash(f"airflow variables get {TOKEN_VARIABLE}", env).strip()


def rotate_into_the_connection(browser: Browser, af: RealAirflow, served: Served, env: dict[str, str]) -> str:
    """Step 8: airflow_api, the switch of stores as the README says it (variables get/delete), the rotation."""
    browser(
        "add_connection",
        conn_id="airflow_api",
        type_label="HTTP",
        host=af.base_url,
        login=af.username,
        password=af.password,
        shot="8-airflow-api-connection",
    )
    token = bash(block_run_by(__file__, "airflow variables get").code, env).strip().splitlines()[-1]
    assert me(served.url, token) == 200
    browser("edit_connection", conn_id="acedata_default", password=token, rotation_variable="", shot="8-switch-store")
    bash(block_run_by(__file__, "airflow variables delete").code, env)

    run_id = trigger(browser, af, ROTATION, {}, "8-rotation-trigger")
    assert af.wait_for_run(ROTATION, run_id) == "success", af.task_logs(ROTATION, run_id)[-4000:]
    new_id = xcom(af, ROTATION, run_id, "rotate_platform_token")
    log = browser.read(f"{run_path(ROTATION, run_id)}/tasks/announce", "8-rotation-log", "now holds")
    assert f"The acedata_default connection now holds platform token {new_id}" in log
    stored = af.get_connection_password("acedata_default")
    assert (me(served.url, stored), me(served.url, token)) == (200, 401)
    logs = af.task_logs(ROTATION, run_id)
    assert "too short" not in logs and "XCom not found" not in logs
    return stored


def call_the_apis(browser: Browser, af: RealAirflow, served: Served, folder: Path) -> list[str]:
    """Step 9: the acedata_api connection through its form, then the API example: deferred calls, images, Credits."""
    browser(
        "add_connection",
        conn_id=API_CONNECTION,
        type_label="Ace Data Cloud API",
        host=served.gateway_url,
        password=served.api_key,
        shot="9-api-connection",
    )
    browser(
        "edit_connection",
        conn_id=API_CONNECTION,
        rotation_variable=API_CONNECTION_VARIABLE,
        shot="9-api-rotation-variable",
    )
    run_id = trigger(browser, af, API, {"output": f"file://{folder}", "poke_interval": 2}, "9-api-trigger")
    wait_for_task_state(af, API, run_id, "generate", "deferred", mapped=True)
    assert af.wait_for_run(API, run_id, timeout=240) == "success", af.task_logs(API, run_id)[-4000:]
    run = run_path(API, run_id)
    assert "Success" in browser.read(run, "9-api-run", wait_text="Success")
    log = browser.read(f"{run}/tasks/report_spend", "9-report-spend-log", wait_text="Credits")
    assert "4 calls took 2 Credits and made 4 images" in log
    images = sorted((folder / "images").rglob("*.*"))
    assert len(images) == 4 and all(image.stat().st_size > 0 for image in images), images
    stored = af.stored_row("SELECT val, is_encrypted FROM variable WHERE key = ?", API_CONNECTION_VARIABLE)
    assert stored is not None
    shutil.rmtree(folder, ignore_errors=True)
    return [str(af.decrypt(stored[0], bool(stored[1])))]


# -- helpers -----------------------------------------------------------------------------------------------


def trigger(browser: Browser, af: RealAirflow, dag_id: str, params: dict[str, Any], shot: str) -> str:
    """Trigger ``dag_id`` from its dialog (Unpause on trigger left ticked, as it comes); the manual run it made."""
    before = {run["dag_run_id"] for run in af.dag_runs(dag_id)}
    browser("trigger", dag_id=dag_id, params=params, unpause=True, shot=shot)
    return wait_for_new_run(af, dag_id, before, run_type="manual")


def wait_for_new_run(af: RealAirflow, dag_id: str, before: set[str], run_type: str, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for run in af.dag_runs(dag_id):
            if run["dag_run_id"] not in before and run["run_type"] == run_type:
                return str(run["dag_run_id"])
        time.sleep(0.5)
    raise AssertionError(f"no new {run_type} run of {dag_id} within {timeout} s")


def wait_for_task_state(
    af: RealAirflow, dag_id: str, run_id: str, task_id: str, state: str, timeout: float = 120, *, mapped: bool = False
) -> None:
    """Wait until the task (with ``mapped``: any of its mapped instances) is in ``state``."""
    deadline = time.monotonic() + timeout
    seen: list[str | None] = []
    while time.monotonic() < deadline:
        states = af.task_states(dag_id, run_id)
        found = [v for k, v in states.items() if k.startswith(f"{task_id}[")] if mapped else [states.get(task_id)]
        if state in found:
            return
        seen = found
        ended = found and all(v in ("success", "failed", "upstream_failed") for v in found)
        assert not ended, af.task_logs(dag_id, run_id)[-4000:]
        time.sleep(0.5)
    raise AssertionError(f"{dag_id}.{task_id} never {state} (last {seen})")


def run_path(dag_id: str, run_id: str) -> str:
    return f"/dags/{dag_id}/runs/{quote(run_id, safe='')}"


def xcom(af: RealAirflow, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
    [value] = [x["value"] for x in af.xcoms(dag_id, run_id) if x["task_id"] == task_id and x["key"] == key]
    return value


def count_usage(served: Served, start: datetime, end: datetime) -> int:
    """How many call records the served platform holds in ``[start, end)``, read with its token."""
    connection = {"conn_type": "acedata", "host": served.url, "password": served.token}
    variable = {"AIRFLOW_CONN_ACEDATA_RECIPE": json.dumps(connection)}
    with mock.patch.dict(os.environ, variable), AceDataHook("acedata_recipe") as hook:
        return hook.count_usage(created_at_from=start, created_at_to=end)


def me(url: str, token: str) -> int:
    """What the offline platform answers ``token`` at GET /platform-tokens/me/."""
    answer = requests.get(f"{url}/api/v1/platform-tokens/me/", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    return int(answer.status_code)
