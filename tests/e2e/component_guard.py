"""Catch a test that starts an Airflow component without the ``airflow_real`` marker.

``make check`` runs every test not marked ``airflow_real`` and promises that none of them starts an Airflow
component (api-server, scheduler, dag-processor, triggerer, celery worker, standalone, webserver). The marker
is added automatically to tests that use the ``real_airflow`` fixtures, but a test could also start a
component some other way (``subprocess.Popen([... "airflow", "scheduler"])``, a helper script, a child that
does it). So a thread of the test process looks at its descendant processes twice a second, and a test
during which a new component process appeared fails unless it is marked ``airflow_real``.

A component is recognised by its command line: ``airflow`` (the script, or ``python -m airflow``) followed
by a component name, or a process title Airflow set that starts that way. Processes below a component that already
ran (task runners, the scheduler's children) belong to that component and are not counted again.
Standard library only, and Linux only (``/proc``); elsewhere it does nothing.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["ComponentGuard", "component_of"]

COMPONENTS = frozenset({"api-server", "scheduler", "dag-processor", "triggerer", "standalone", "webserver"})


def component_of(argv: list[str]) -> str | None:
    """The Airflow component this command line runs (``"scheduler"``, ``"celery worker"``, ...), or None.

    ``argv`` as the kernel has it: ``python -m airflow scheduler``, ``.../bin/airflow scheduler``, or a
    process title Airflow set (``airflow scheduler -- ...`` in ``argv[0]``). A shell whose ``-c`` string
    mentions a component is not one itself; the process it starts is.
    """
    for words in (argv, argv[0].split() if argv else []):
        for i, word in enumerate(words):
            if os.path.basename(word) != "airflow" or not (i <= 1 or words[i - 1] == "-m"):
                continue
            rest = words[i + 1 : i + 3]
            if rest[:1] and rest[0] in COMPONENTS:
                return rest[0]
            if rest == ["celery", "worker"]:
                return "celery worker"
    return None


def _processes() -> dict[int, int]:
    """``{pid: ppid}`` of every live process (empty where there is no /proc)."""
    parents: dict[int, int] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return parents
    for name in entries:
        if not name.isdigit():
            continue
        try:
            raw = Path(f"/proc/{name}/stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rfind(")") + 2 :].split()
        if fields and fields[0] not in ("Z", "X"):
            parents[int(name)] = int(fields[1])
    return parents


def _argv(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return raw.decode(errors="replace").rstrip("\0").split("\0")


@dataclass
class _Seen:
    pid: int
    component: str
    cmdline: str
    test: str | None
    """The node id of the test running when it was first seen (None: between tests)."""


@dataclass
class ComponentGuard:
    """Samples the descendants of ``root`` (this process); ``begin``/``end`` bracket each test.

    ``processes`` and ``argv`` read the process table (``{pid: ppid}``) and a command line; tests of the
    guard pass their own.
    """

    interval: float = 0.5
    root: int = field(default_factory=os.getpid)
    processes: Callable[[], dict[int, int]] = _processes
    argv: Callable[[int], list[str]] = _argv
    _known: dict[int, _Seen] = field(default_factory=dict)
    _current: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        """Sample in a daemon thread every ``interval`` seconds (Linux; elsewhere only at begin/end)."""
        if self._thread is None and os.path.isdir("/proc"):
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="airflow-component-guard", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def begin(self, nodeid: str) -> None:
        """A test starts (its setup, higher-scoped fixtures included): components from now on are its own."""
        self.sweep()
        with self._lock:
            self._current = nodeid

    def end(self, nodeid: str) -> list[str]:
        """Describe each component process that first appeared while ``nodeid`` ran."""
        self.sweep()
        with self._lock:
            self._current = None
            return [f"pid {s.pid}: {s.component} ({s.cmdline[:200]})" for s in self._known.values() if s.test == nodeid]

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sweep()

    def sweep(self) -> None:
        """Record component processes below ``root`` not seen before, except those inside another component."""
        parents = self.processes()
        with self._lock:
            found: dict[int, tuple[str, list[str], list[int]]] = {}
            for pid in parents:
                if pid in self._known:
                    continue
                chain, cursor = [], parents.get(pid)
                while cursor is not None and cursor not in (0, self.root) and len(chain) < 64:
                    chain.append(cursor)
                    cursor = parents.get(cursor)
                if cursor != self.root or any(p in self._known for p in chain):
                    continue  # not below root, or inside a component already recorded
                argv = self.argv(pid)
                if (component := component_of(argv)) is not None:
                    found[pid] = (component, argv, chain)
            for pid, (component, argv, chain) in found.items():
                if not any(p in found for p in chain):  # a component's own children are not counted again
                    self._known[pid] = _Seen(pid, component, " ".join(argv), self._current)
            for pid in [pid for pid in self._known if pid not in parents]:
                test = self._known[pid].test
                if test is None or test != self._current:  # the running test's finds stay until its end()
                    del self._known[pid]
