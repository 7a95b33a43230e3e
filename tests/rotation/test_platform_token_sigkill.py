"""A rotation process SIGKILLed between two steps (no ``finally`` runs): the next run converges."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from airflow_provider_acedata.testing import FakeAceDataPlatform

SCRIPT = Path(__file__).with_name("rotate_process.py")
REPO = Path(__file__).resolve().parents[2]


def start(state: Path, rotation_platform: FakeAceDataPlatform, kill_step: str | None = None) -> subprocess.Popen[str]:
    args = [sys.executable, str(SCRIPT), str(state), rotation_platform.url] + ([kill_step] if kill_step else [])
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_")}
    env["PYTHONPATH"] = str(REPO)
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env, cwd=REPO)


def wait_for(process: subprocess.Popen[str], marker: str, timeout: float = 60) -> list[str]:
    deadline = time.monotonic() + timeout
    lines: list[str] = []
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line.strip())
        if line.startswith(marker):
            return lines
    raise AssertionError(f"{marker!r} not seen; got {lines}")


@pytest.mark.parametrize("step", ["created", "stored"])
def test_sigkilled_rotation_then_next_run_converges(tmp_path, step):
    with FakeAceDataPlatform() as rotation_platform:
        state = tmp_path / "token"
        state.write_text(rotation_platform.token)
        old = rotation_platform.token
        victim = start(state, rotation_platform, kill_step=step)
        try:
            wait_for(victim, "PAUSED")
            os.kill(victim.pid, signal.SIGKILL)
            victim.wait(10)
        finally:
            if victim.poll() is None:
                victim.kill()
                victim.wait(10)
        assert victim.returncode == -signal.SIGKILL
        stored = state.read_text()
        assert rotation_platform.is_live(stored), "the killed run left a stored token that does not work"

        survivor = start(state, rotation_platform)
        try:
            lines = wait_for(survivor, "DONE")
            survivor.wait(30)
        finally:
            if survivor.poll() is None:
                survivor.kill()
                survivor.wait(10)
        assert survivor.returncode == 0, lines
        stored = state.read_text()
        me = requests.get(
            f"{rotation_platform.api_url}/platform-tokens/me/", headers={"Authorization": f"Bearer {stored}"}, timeout=5
        )
        assert me.status_code == 200
        assert [t["token"] for t in rotation_platform.live_tokens()] == [stored]
        assert not rotation_platform.is_live(old)
