"""Step 1 of the README's "Try it in the Airflow UI", run as written: an Airflow with the examples.

The block is read from README.md (``<!-- run-by: tests/e2e/test_readme_airflow.py -->``) and run in bash from
the repository root, in a fresh ``$HOME`` (so ``~/airflow`` is a new ``AIRFLOW_HOME``) and with no Airflow
setting of the test session, with port 8080 replaced by a free one. Then what the README promises: the four
components healthy, the admin password where it says, the example DAGs listed without import errors, and the
connection test of step 3 enabled. Everything the block started is stopped.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests
from e2e.real_airflow import _terminate
from readme import REPO_ROOT, block_run_by, substitute

from airflow_provider_acedata.testing import FakeAceDataPlatform

pytestmark = pytest.mark.airflow_real

HEALTH_PARTS = ("metadatabase", "scheduler", "dag_processor", "triggerer")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_readme_starts_an_airflow_with_the_examples(tmp_path: Path) -> None:
    if os.environ.get("ACEDATA_SKIP_REAL_AIRFLOW") == "1":
        pytest.skip("real Airflow tests skipped because ACEDATA_SKIP_REAL_AIRFLOW=1")
    block = block_run_by(__file__, "airflow db migrate")
    port = free_port()
    script = substitute(block.code, {"8080": str(port)})
    assert f"--port {port}" in script and "airflow triggerer" in script
    env = {k: v for k, v in os.environ.items() if not k.upper().lstrip("_").startswith("AIRFLOW")}
    # Only the machine's size differs from a reader's: four worker slots instead of 32 on two cores.
    env.update({"HOME": str(tmp_path), "AIRFLOW__CORE__PARALLELISM": "4"})
    log = (tmp_path / "components.log").open("wb")
    shell = subprocess.Popen(
        ["bash", "-c", f"{script}\nwait"],  # wait: the shell stays the parent of what it started, to stop it
        cwd=REPO_ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        health = wait_healthy(base, shell, tmp_path / "components.log")
        assert all(health[part]["status"] == "healthy" for part in HEALTH_PARTS), health

        passwords = tmp_path / "airflow" / "simple_auth_manager_passwords.json.generated"
        password = json.loads(passwords.read_text())["admin"]
        token = requests.post(f"{base}/auth/token", json={"username": "admin", "password": password}, timeout=30)
        assert token.status_code == 201, token.text
        api = requests.Session()
        api.headers["Authorization"] = f"Bearer {token.json()['access_token']}"

        examples = {path.stem for path in (REPO_ROOT / "example_dags").glob("example_acedata_*.py")}
        listed = wait_for_dags(api, base, examples)
        assert examples <= listed
        errors = api.get(f"{base}/api/v2/importErrors", timeout=30).json()["import_errors"]
        assert errors == []

        with FakeAceDataPlatform() as platform:
            body = {"connection_id": "acedata_readme", "conn_type": "acedata", "host": platform.url}
            tested = api.post(f"{base}/api/v2/connections/test", json={**body, "password": platform.token}, timeout=60)
        assert tested.status_code == 200, tested.text
        assert tested.json() == {"status": True, "message": "Connected as demo"}
    finally:
        _terminate([shell.pid], grace=30)
        shell.wait(timeout=30)
        log.close()
    assert not list(REPO_ROOT.glob("airflow*.cfg")), "the block must not write into the work tree"


def wait_healthy(
    base: str, shell: subprocess.Popen[bytes], log: Path, timeout: float = 240
) -> dict[str, dict[str, str]]:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        if shell.poll() is not None:
            raise AssertionError(f"the README's shell exited ({shell.returncode}):\n{log.read_text()[-4000:]}")
        try:
            answer = requests.get(f"{base}/api/v2/monitor/health", timeout=5)
            last = answer.text
            health = answer.json()
            if all(health.get(part, {}).get("status") == "healthy" for part in HEALTH_PARTS):
                return dict(health)
        except (requests.RequestException, ValueError) as error:
            last = error
        time.sleep(1)
    raise AssertionError(f"not healthy after {timeout} s: {last}\n{log.read_text()[-4000:]}")


def wait_for_dags(api: requests.Session, base: str, dag_ids: set[str], timeout: float = 120) -> set[str]:
    deadline = time.monotonic() + timeout
    listed: set[str] = set()
    while time.monotonic() < deadline and not dag_ids <= listed:
        answer = api.get(f"{base}/api/v2/dags", params={"limit": 100}, timeout=30).json()
        listed = {dag["dag_id"] for dag in answer["dags"]}
        time.sleep(1)
    return listed
