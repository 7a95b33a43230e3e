"""The "Ace Data Cloud" connection form, as a user sees it in the real Airflow UI (headless Chromium).

Needs Debian's Chromium (/usr/bin/chromium) and playwright-core (``npm ci`` in tests/e2e/browser); ``make
browser-deps`` installs both. Without them the test skips locally, and fails when ``CI=true``.
Saves a screenshot of the form as connection-form.png in a temporary folder, or in the folder that
``ACEDATA_SCREENSHOT_DIR`` names (``make screenshots`` sets it to docs/, refreshing docs/connection-form.png).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from e2e.real_airflow import RealAirflow

from airflow_provider_acedata import DEFAULT_HOST

BROWSER_DIR = Path(__file__).resolve().parent / "browser"
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOT_DIR_ENV = "ACEDATA_SCREENSHOT_DIR"

pytestmark = pytest.mark.airflow_real


def screenshot_path(tmp_path: Path) -> Path:
    """Where the form's screenshot goes: ``$ACEDATA_SCREENSHOT_DIR`` if set, else the test's temporary folder."""
    folder = os.environ.get(SCREENSHOT_DIR_ENV)
    return (Path(folder).resolve() if folder else tmp_path) / "connection-form.png"


def test_connection_form_in_the_browser(node: str, real_airflow: RealAirflow, tmp_path: Path) -> None:
    """Log in, open Admin -> Connections -> Add, pick "Ace Data Cloud", check the fields, take a screenshot."""
    screenshot = screenshot_path(tmp_path)
    started = time.time()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "AIRFLOW_URL": real_airflow.base_url,
        "AIRFLOW_USERNAME": real_airflow.username,
        "AIRFLOW_PASSWORD": real_airflow.password,
        "CONN_TYPE_LABEL": "Ace Data Cloud",
        "SCREENSHOT": str(screenshot),
        "CHROMIUM": str(CHROMIUM),
    }
    done = subprocess.run(
        [node, "connection_form.mjs"], cwd=BROWSER_DIR, env=env, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, f"browser script failed:\n{done.stderr[-4000:]}"
    facts = json.loads(done.stdout.strip().splitlines()[-1])
    fields = facts["fields"]

    assert facts["selectedType"]
    assert fields["password"] is not None, "no password field"
    assert fields["password"]["label"] == "Platform Token"
    assert fields["password"]["type"] == "password", "the token must be a masked input"
    assert fields["host"] is not None, "no host field"
    assert fields["host"]["label"] == "Platform URL"
    assert fields["host"]["placeholder"] == DEFAULT_HOST
    for hidden in ("login", "schema", "port"):
        assert fields[hidden] is None, f"{hidden} should be hidden, got {fields[hidden]}"
    for label in ("Timeout (seconds)", "Retry limit", "Retry delay (seconds)", "Rotation Variable"):
        assert label in facts["extraLabels"]
    taken = screenshot.stat()
    assert taken.st_size > 10_000, f"screenshot {screenshot} empty"
    assert taken.st_mtime >= started - 1, f"screenshot {screenshot} was not rewritten by this run"
