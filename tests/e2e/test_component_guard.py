"""The guard that keeps ``make check`` free of Airflow components (tests/e2e/component_guard.py).

It runs in every test session (tests/conftest.py): a test not marked ``airflow_real`` that starts an
Airflow component fails at teardown. These tests feed it a process table of their own, so they start
nothing themselves and run in ``make check``.
"""

from __future__ import annotations

import time

import pytest
from e2e.component_guard import ComponentGuard, component_of

ROOT = 1000


@pytest.mark.parametrize(
    ("argv", "component"),
    [
        (["/venv/bin/python", "-m", "airflow", "scheduler", "--skip-serve-logs"], "scheduler"),
        (["/venv/bin/python", "-m", "airflow", "api-server", "-H", "127.0.0.1"], "api-server"),
        (["/venv/bin/python", "-m", "airflow", "dag-processor"], "dag-processor"),
        (["/venv/bin/airflow", "triggerer"], "triggerer"),
        (["/venv/bin/python", "/venv/bin/airflow", "standalone"], "standalone"),
        (["/venv/bin/python", "-m", "airflow", "celery", "worker", "--without-mingle"], "celery worker"),
        (["airflow scheduler -- DagFileProcessorManager"], "scheduler"),  # a process title Airflow set
        (["/venv/bin/python", "-m", "airflow", "db", "migrate"], None),
        (["/venv/bin/python", "-m", "airflow", "dags", "test", "example"], None),
        (["/venv/bin/python", "-m", "airflow", "celery", "flower"], None),
        (["/venv/bin/python", "-m", "pytest", "-m", "not airflow_real"], None),
        (["/venv/bin/python", "/tmp/acedata-airflow-home-x/scheduler.py"], None),
        (["sh", "-c", "python -m airflow scheduler & sleep 1"], None),  # its child is the component
        ([], None),
    ],
)
def test_component_of(argv: list[str], component: str | None) -> None:
    assert component_of(argv) == component


class FakeTable:
    """A process table the guard reads instead of /proc: ``{pid: (ppid, argv)}``."""

    def __init__(self) -> None:
        self.procs: dict[int, tuple[int, list[str]]] = {ROOT: (1, ["pytest"]), 1: (0, ["init"])}
        self.sweeps = 0

    def parents(self) -> dict[int, int]:
        self.sweeps += 1
        return {pid: ppid for pid, (ppid, _) in list(self.procs.items())}

    def argv(self, pid: int) -> list[str]:
        return self.procs.get(pid, (0, []))[1]

    def guard(self) -> ComponentGuard:
        return ComponentGuard(root=ROOT, processes=self.parents, argv=self.argv)


def test_a_component_started_during_a_test_is_reported_for_that_test_only() -> None:
    table = FakeTable()
    guard = table.guard()
    guard.begin("t1")
    table.procs[2000] = (ROOT, ["python", "-m", "airflow", "scheduler"])
    table.procs[2001] = (2000, ["airflow scheduler -- DagFileProcessorManager"])  # inside it: not counted again
    guard.sweep()
    del table.procs[2001], table.procs[2000]  # stopped before the test ended: still reported
    found = guard.end("t1")
    assert len(found) == 1 and found[0].startswith("pid 2000: scheduler ("), found

    guard.begin("t2")
    assert guard.end("t2") == []


def test_grandchildren_count_and_processes_outside_the_tree_do_not() -> None:
    table = FakeTable()
    guard = table.guard()
    guard.begin("t")
    table.procs[3000] = (ROOT, ["sh", "-c", "python -m airflow triggerer"])
    table.procs[3001] = (3000, ["python", "-m", "airflow", "triggerer"])
    table.procs[4000] = (1, ["python", "-m", "airflow", "scheduler"])  # another session's, not below root
    assert [line.split(":")[0] for line in guard.end("t")] == ["pid 3001"]


def test_a_deployment_started_by_an_earlier_test_is_not_blamed_on_later_ones() -> None:
    table = FakeTable()
    guard = table.guard()
    guard.begin("real")
    table.procs[5000] = (ROOT, ["python", "-m", "airflow", "api-server"])
    assert len(guard.end("real")) == 1
    guard.begin("later")
    table.procs[5001] = (5000, ["python", "-m", "airflow", "api-server"])  # a worker the api-server forks
    assert guard.end("later") == []


def test_the_sampling_thread_sees_a_component_that_is_gone_before_the_test_ends() -> None:
    table = FakeTable()
    guard = table.guard()
    guard.interval = 0.01
    guard.start()
    try:
        guard.begin("t")
        table.procs[6000] = (ROOT, ["python", "-m", "airflow", "dag-processor"])
        seen_by = table.sweeps + 2  # the thread's next complete sweep starts after this one
        deadline = time.monotonic() + 30
        while table.sweeps < seen_by and time.monotonic() < deadline:
            time.sleep(0.01)
        del table.procs[6000]
        assert [line.split(":")[0] for line in guard.end("t")] == ["pid 6000"]
    finally:
        guard.stop()
