"""A throw-away Redis server (Debian's ``redis-server``) on 127.0.0.1, the Celery broker of the real deployment.

Nothing is persisted (``--save ''``, ``--appendonly no``) and its working directory is a temporary folder, so
no dump or AOF file can land in the work tree. It listens on a free TCP port of 127.0.0.1 only, runs in its
own process group, and is stopped by ``stop()`` (SIGTERM, then SIGKILL) or, if the test process dies first,
by the same watchdog process that stops the Airflow components (``real_airflow.start_watchdog``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import IO

from e2e.real_airflow import RealAirflowError, free_port, start_watchdog, tail

__all__ = ["REDIS_SERVER", "RedisServer", "missing_redis"]

#: Where Debian's ``redis-server`` package puts the server (``make redis-deps`` installs it as root).
REDIS_SERVER = Path("/usr/bin/redis-server")


def missing_redis() -> str | None:
    """Why no Redis server can be started here, or None."""
    if REDIS_SERVER.is_file() and os.access(REDIS_SERVER, os.X_OK):
        return None
    found = shutil.which("redis-server")
    if found:
        return None
    return f"{REDIS_SERVER} is missing (Debian package redis-server; `make redis-deps` as root installs it)"


def _ping(port: int, timeout: float = 1.0) -> bool:
    """Whether a Redis server answers PING on 127.0.0.1:``port`` (RESP inline command, no client library)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """``redis-server`` in the foreground under ``workdir``; ``url`` is its ``redis://`` address once started."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir).resolve()
        self.port = 0
        self.log_path = self.workdir / "redis-server.log"
        self.startup_seconds = 0.0
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._watchdog: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        if self._proc is None:
            raise RealAirflowError("the Redis server is not running")
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def start(self, timeout: float = 30, attempts: int = 3) -> None:
        """Start on a free port and wait until it answers PING; retry on another port if the one picked was taken."""
        if (reason := missing_redis()) is not None:
            raise RealAirflowError(reason)
        binary = str(REDIS_SERVER if REDIS_SERVER.is_file() else shutil.which("redis-server"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        t0 = time.monotonic()
        for _ in range(attempts):
            self.port = free_port()
            self._log = self.log_path.open("ab")
            self._proc = subprocess.Popen(
                [
                    binary,
                    "--bind",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--protected-mode",
                    "yes",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(self.workdir),
                    "--daemonize",
                    "no",
                ],
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self._proc.poll() is None and not _ping(self.port):
                time.sleep(0.05)
            if self._proc.poll() is None and _ping(self.port):
                self.startup_seconds = time.monotonic() - t0
                self._watchdog = start_watchdog([self._proc.pid], self.workdir / "watchdog.log")
                return
            self._stop_process()  # port taken meanwhile (or too slow): try another one
        raise RealAirflowError(f"redis-server did not answer PING after {attempts} attempts:\n{tail(self.log_path)}")

    def stop(self) -> None:
        """Stop the server (SIGTERM, SIGKILL after 10 s) and its watchdog. Idempotent."""
        self._stop_process()
        if self._watchdog is not None:
            self._watchdog.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._watchdog.wait(timeout=5)
            self._watchdog = None

    def _stop_process(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
