"""How the real-Airflow harness stops processes (``real_airflow._terminate``), on stand-ins that start no Airflow.

A stand-in that lets its first SIGTERM go by, as Airflow 3.3.2's scheduler sometimes does (its handler's
SystemExit raised inside a garbage-collection callback is ignored), must be stopped by the second SIGTERM,
not by SIGKILL after the whole grace period.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest
from e2e import real_airflow

IGNORES_FIRST_SIGTERM = """
import signal, sys, time
seen = []
def handler(signum, frame):
    seen.append(signum)
    if len(seen) > 1:
        print("second SIGTERM", flush=True)
        sys.exit(0)
signal.signal(signal.SIGTERM, handler)
print("ready", flush=True)
while True:
    time.sleep(0.05)
"""


def start(source: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", source], stdout=subprocess.PIPE, text=True, start_new_session=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def test_a_process_that_lets_sigterm_go_by_gets_it_again(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(real_airflow, "RETERM_AFTER", 0.5)
    proc = start(IGNORES_FIRST_SIGTERM)
    try:
        started = time.monotonic()
        real_airflow._terminate([proc.pid], grace=20)
        took = time.monotonic() - started
        out, _ = proc.communicate(timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    assert proc.returncode == 0, "it was killed, not stopped by the second SIGTERM"
    assert "second SIGTERM" in out
    assert took < 5, f"the stop took {took:.1f} s"


def test_leaders_left_to_stop_their_children_get_one_sigterm_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Celery worker is signalled once (term_leader_only): a second SIGTERM is not sent to it."""
    monkeypatch.setattr(real_airflow, "RETERM_AFTER", 0.5)
    proc = start(IGNORES_FIRST_SIGTERM)
    try:
        real_airflow._terminate([proc.pid], grace=2, term_leader_only=frozenset({proc.pid}))
        proc.wait(timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    assert proc.returncode == -signal.SIGKILL
