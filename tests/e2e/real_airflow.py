"""Run a real Airflow 3 deployment (api-server, scheduler, dag-processor, triggerer) for end-to-end tests.

``dag.test()`` runs tasks in the test process: ORM writes are allowed there and task logs are not masked.
Token rotation has to be proven under real task execution, so this harness starts the real components as
separate processes on 127.0.0.1 (random free port, SQLite, LocalExecutor) and drives them via the REST API.
``executor`` is Airflow's ``[core] executor`` setting: one executor, or several separated by commas (the
first is the default; a task picks another with ``executor="LocalExecutor"``). With CeleryExecutor it also
starts ``airflow celery worker``, with the Redis server at ``broker_url`` as the broker (the one users
deploy; ``redis_server.RedisServer`` starts one) and a SQLite result backend.

Only the standard library, ``requests`` and ``cryptography`` (to read stored secrets as Airflow does) are
needed; every process runs from the current interpreter (``sys.executable -m airflow``), so the venv
running pytest is the venv running Airflow.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import json
import os
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

import requests

__all__ = ["RealAirflow", "RealAirflowError", "free_port", "start_watchdog", "tail"]

#: The long-running components, in start order. Each runs in its own process group.
COMPONENTS: tuple[str, ...] = ("api-server", "scheduler", "dag-processor", "triggerer")
#: The extra component started when CeleryExecutor is configured (``airflow celery worker``).
CELERY_WORKER = "celery-worker"
EXECUTORS: tuple[str, ...] = ("LocalExecutor", "CeleryExecutor")
TERMINAL_RUN_STATES = frozenset({"success", "failed"})
#: Seconds after which a component that ignored SIGTERM gets it again (see ``_terminate``).
RETERM_AFTER = 6.0
_POLL = 0.5


class RealAirflowError(RuntimeError):
    """Raised when the real Airflow deployment does not behave (start failure, timeout, API error)."""


def free_port() -> int:
    """Return a TCP port that is free on 127.0.0.1 right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _proc_stat(pid: int) -> tuple[int, int, str] | None:
    """(ppid, pgid, state) of a live process from /proc, or None if it is gone (Linux only)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may contain spaces: split after the last ")".
    fields = raw[raw.rfind(")") + 2 :].split()
    state, ppid, pgid = fields[0], int(fields[1]), int(fields[2])
    return (ppid, pgid, state) if state not in ("Z", "X") else None


def _all_pids() -> list[int]:
    return [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]


def _descendants(roots: list[int]) -> set[int]:
    """Every live process below ``roots`` (task runners call setpgid, so process groups miss them)."""
    children: dict[int, list[int]] = {}
    for pid in _all_pids():
        if (stat := _proc_stat(pid)) is not None:
            children.setdefault(stat[0], []).append(pid)
    found: set[int] = set()
    todo = list(roots)
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _alive(pids: set[int]) -> set[int]:
    return {pid for pid in pids if _proc_stat(pid) is not None}


def _signal(pid: int, sig: int, *, group: bool) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        (os.killpg if group else os.kill)(pid, sig)


def _terminate(leaders: list[int], grace: float, term_leader_only: frozenset[int] = frozenset()) -> None:
    """SIGTERM the process group of each leader, then SIGKILL whatever is left after ``grace`` seconds.

    Task runners move to their own process group, so every descendant is tracked explicitly too.
    All groups get SIGTERM at once: a normal stop then takes about 3-5 s (stopping the api-server
    last was measured at about 10 s, as the scheduler waits for lingering task processes).
    Leaders in ``term_leader_only`` get SIGTERM alone and stop their children themselves (the Celery
    worker: when its pool processes are SIGTERMed with it, its warm shutdown hung until SIGKILL).

    A leader (not in ``term_leader_only``) still alive ``RETERM_AFTER`` seconds later gets SIGTERM again:
    Airflow 3.3.2's scheduler raises SystemExit from its signal handler, and when the signal lands in a
    garbage-collection callback Python prints "Exception ignored" and the scheduler runs on (seen in one
    stop of three; that stop took the whole grace period, 20 s). The second signal stops it.
    """
    start = time.monotonic()
    deadline = start + grace
    everything = set(leaders) | _descendants(leaders)
    for pid in leaders:
        _signal(pid, signal.SIGTERM, group=pid not in term_leader_only)
    reterm_at = start + RETERM_AFTER
    while _alive(everything) and time.monotonic() < deadline:
        if time.monotonic() >= reterm_at:
            for pid in _alive(set(leaders) - term_leader_only):
                _signal(pid, signal.SIGTERM, group=False)
            reterm_at += RETERM_AFTER
        time.sleep(0.2)
    everything |= _descendants(leaders)
    live_groups = {stat[1] for pid in _all_pids() if (stat := _proc_stat(pid)) is not None}
    for pid in leaders:
        if pid in live_groups:  # a group id is only reused once the whole group is gone
            _signal(pid, signal.SIGKILL, group=True)
    for pid in _alive(everything):
        _signal(pid, signal.SIGKILL, group=False)


def _watchdog_main(parent: int, leaders_arg: str) -> None:
    """Separate process: once the test process is gone (even SIGKILLed), stop the components it left."""
    leaders = [int(pid) for pid in leaders_arg.split(",") if pid]
    while _proc_stat(parent) is not None:
        time.sleep(1)
    _terminate(leaders, grace=20)


def _clean_base_env() -> dict[str, str]:
    """The test process environment without any Airflow setting, so the test config cannot leak in."""
    return {k: v for k, v in os.environ.items() if not k.upper().lstrip("_").startswith("AIRFLOW")}


def start_watchdog(leaders: list[int], log_path: Path) -> subprocess.Popen[bytes]:
    """Start a process that stops the process groups of ``leaders`` once this test process is gone.

    It covers a test process that dies without calling ``stop()`` (SIGKILL, a crash); ``stop()`` ends the
    watchdog itself. Standard library only: it runs this file with the current interpreter.
    """
    pids = ",".join(str(pid) for pid in leaders)
    with log_path.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--watchdog", str(os.getpid()), pids],
            env=_clean_base_env(),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


class RealAirflow:
    """A throw-away Airflow deployment under ``home``; see the module docstring.

    Typical use::

        af = RealAirflow(tmp / "home", tmp / "dags")
        af.start()
        try:
            af.wait_for_dag("my_dag")
            run_id = af.trigger("my_dag")
            assert af.wait_for_run("my_dag", run_id) == "success"
        finally:
            af.stop()
    """

    def __init__(
        self,
        home: Path,
        dags_folder: Path,
        *,
        env: dict[str, str] | None = None,
        parallelism: int = 4,
        executor: str = "LocalExecutor",
        broker_url: str | None = None,
    ) -> None:
        self.executors = tuple(name.strip() for name in executor.split(","))
        if not self.executors or len(set(self.executors)) != len(self.executors):
            raise ValueError(f"executor must name each executor once, not {executor!r}")
        if unknown := [name for name in self.executors if name not in EXECUTORS]:
            raise ValueError(f"executors must be among {EXECUTORS}, not {unknown}")
        self.celery = "CeleryExecutor" in self.executors
        if self.celery != (broker_url is not None):
            raise ValueError("CeleryExecutor needs a broker_url (and only CeleryExecutor takes one)")
        self.executor = self.executors[0]
        """The default executor: tasks that name none run on it."""
        self.home = Path(home).resolve()
        self.dags_folder = Path(dags_folder).resolve()
        self.proc_logs = self.home / "proc-logs"
        self.logs_folder = self.home / "logs"
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.username = "admin"
        self.password = secrets.token_urlsafe(16)
        self.env: dict[str, str] = _clean_base_env()
        self.env.update(self._airflow_settings(parallelism))
        if self.celery:
            self.env.update(self._celery_settings(str(broker_url), parallelism))
        self.env.update(env or {})
        self.timings: dict[str, float] = {}
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._log_files: list[IO[bytes]] = []
        self._session = requests.Session()
        self._token: str | None = None
        self._atexit_registered = False
        self._t_start = 0.0
        self._watchdog: subprocess.Popen[bytes] | None = None

    # ------------------------------------------------------------------ configuration

    def _airflow_settings(self, parallelism: int) -> dict[str, str]:
        """Airflow config (as env vars) for a fast, local-only, isolated deployment."""
        fernet_key = base64.urlsafe_b64encode(os.urandom(32)).decode()
        # Log-server ports are never served (--skip-serve-logs), but must not point at someone else's.
        spare_port = str(free_port())
        return {
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
            "AIRFLOW__CORE__EXECUTOR": ",".join(self.executors),
            "AIRFLOW__CORE__PARALLELISM": str(parallelism),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__CORE__FERNET_KEY": fernet_key,
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
            "AIRFLOW__CORE__AUTH_MANAGER": (
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
            ),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{self.username}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.home / "passwords.json"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.home / 'airflow.db'}",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__BASE_URL": self.base_url,
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
            "AIRFLOW__API__EXPOSE_CONFIG": "False",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.logs_folder),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": spare_port,
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": spare_port,
            "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_STORAGE_PATH": str(self.home / "bundles"),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "2",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "10",
            "AIRFLOW__DAG_PROCESSOR__PRINT_STATS_INTERVAL": "0",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            "AIRFLOW__SCHEDULER__JOB_HEARTBEAT_SEC": "1",
            "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
        }

    def _celery_settings(self, broker_url: str, parallelism: int) -> dict[str, str]:
        """Celery on a Redis broker (kombu's redis transport) with the results in a SQLite file under ``home``.

        The worker runs as many tasks at once as the scheduler may (``parallelism``), with --skip-serve-logs
        (its log server would bind every interface) and without remote control (nothing here uses it).
        """
        return {
            "AIRFLOW__CELERY__BROKER_URL": broker_url,
            "AIRFLOW__CELERY__RESULT_BACKEND": f"db+sqlite:///{self.home / 'celery-results.db'}",
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(parallelism),
            "AIRFLOW__CELERY__WORKER_ENABLE_REMOTE_CONTROL": "False",
            # Send from the scheduler process itself (no process pool: fewer processes on a 2-core machine),
            # and give a busy machine more than the default 1 s per broker operation.
            "AIRFLOW__CELERY__SYNC_PARALLELISM": "1",
            "AIRFLOW__CELERY__OPERATION_TIMEOUT": "15",
        }

    @property
    def components(self) -> tuple[str, ...]:
        """The long-running components this deployment starts, in start order."""
        return (*COMPONENTS, CELERY_WORKER) if self.celery else COMPONENTS

    # ------------------------------------------------------------------ lifecycle

    def start(self, timeout: float = 180) -> None:
        """Migrate the DB, start the four components and wait until /api/v2/monitor/health is all healthy."""
        t0 = self._t_start = time.monotonic()
        deadline = t0 + timeout
        for folder in (self.home, self.dags_folder, self.proc_logs, self.logs_folder):
            folder.mkdir(parents=True, exist_ok=True)
        (self.home / "passwords.json").write_text(json.dumps({self.username: self.password}) + "\n")
        if not self._atexit_registered:
            atexit.register(self.stop)
            self._atexit_registered = True

        migrate_log = self.proc_logs / "db-migrate.log"
        with migrate_log.open("wb") as out:
            done = subprocess.run(
                [*self._airflow_cmd(), "db", "migrate"],
                env=self.env,
                cwd=self.home,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=max(1.0, deadline - time.monotonic()),
                check=False,
            )
        if done.returncode != 0:
            raise RealAirflowError(f"airflow db migrate failed (rc={done.returncode}):\n{tail(migrate_log)}")
        self.timings["db_migrate"] = time.monotonic() - t0

        try:
            for name in self.components:
                self._spawn(name, self._component_args(name))
            self._watchdog = start_watchdog([p.pid for p in self._procs.values()], self.proc_logs / "watchdog.log")
            self._wait_healthy(deadline)
            if self.celery:
                self._wait_celery_worker_ready(deadline)
        except BaseException:
            self.stop()
            raise
        self.timings["start_total"] = time.monotonic() - t0

    def _airflow_cmd(self) -> list[str]:
        return [sys.executable, "-m", "airflow"]

    def _component_args(self, name: str) -> list[str]:
        if name == "api-server":
            return ["api-server", "-H", "127.0.0.1", "-p", str(self.port), "-w", "1"]
        if name in ("scheduler", "triggerer"):
            # serve-logs would listen on 0.0.0.0; the api-server reads the local log files anyway.
            return [name, "--skip-serve-logs"]
        if name == CELERY_WORKER:
            # Same for the worker's log server (WORKER_LOG_SERVER_PORT on all interfaces). Mingle and
            # gossip only talk to other workers: there are none, and mingle would wait for their replies.
            return [
                "celery",
                "worker",
                "--skip-serve-logs",
                "--without-mingle",
                "--without-gossip",
            ]
        return [name]

    def _spawn(self, name: str, args: list[str]) -> None:
        out = (self.proc_logs / f"{name}.log").open("ab")
        self._log_files.append(out)
        self._procs[name] = subprocess.Popen(
            [*self._airflow_cmd(), *args],
            env=self.env,
            cwd=self.home,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def _wait_celery_worker_ready(self, deadline: float) -> None:
        """Wait until the Celery worker logs that it is connected to the broker and consuming."""
        log_file = self.proc_logs / f"{CELERY_WORKER}.log"
        while time.monotonic() < deadline:
            self._check_alive()
            if " ready." in log_file.read_text(errors="replace"):
                self.timings["celery_worker_ready"] = time.monotonic() - self._t_start
                return
            time.sleep(_POLL)
        raise RealAirflowError(f"the Celery worker did not become ready in time:\n{tail(log_file)}")

    def celery_worker_log(self) -> str:
        """What the Celery worker printed so far (empty without CeleryExecutor)."""
        log_file = self.proc_logs / f"{CELERY_WORKER}.log"
        return log_file.read_text(errors="replace") if log_file.is_file() else ""

    def _check_alive(self) -> None:
        for name, proc in self._procs.items():
            if proc.poll() is not None:
                log_tail = tail(self.proc_logs / f"{name}.log")
                raise RealAirflowError(f"airflow {name} exited with rc={proc.returncode}:\n{log_tail}")

    def _wait_healthy(self, deadline: float) -> None:
        last: Any = None
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                resp = self._session.get(f"{self.base_url}/api/v2/monitor/health", timeout=5)
                last = resp.text
                if resp.status_code == 200:
                    body = resp.json()
                    if "api_server_ready" not in self.timings:
                        self.timings["api_server_ready"] = time.monotonic() - self._t_start
                    if all(body.get(part, {}).get("status") == "healthy" for part in _HEALTH_PARTS):
                        return
            except requests.RequestException as exc:
                last = repr(exc)
            time.sleep(_POLL)
        raise RealAirflowError(f"Airflow not healthy in time; last health answer: {last}")

    def stop(self) -> None:
        """Stop every component: SIGTERM to each process group, up to 20 s grace, then SIGKILL. Idempotent."""
        procs, self._procs = self._procs, {}
        if procs:
            t0 = time.monotonic()
            worker = procs.get(CELERY_WORKER)
            leader_only = frozenset({worker.pid}) if worker is not None else frozenset()
            _terminate([p.pid for p in procs.values()], grace=20, term_leader_only=leader_only)
            for proc in procs.values():
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=5)
            self.timings["stop"] = time.monotonic() - t0
        if self._watchdog is not None:
            self._watchdog.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._watchdog.wait(timeout=5)
            self._watchdog = None
        for out in self._log_files:
            out.close()
        self._log_files = []
        self._session.close()
        if self._atexit_registered:
            atexit.unregister(self.stop)
            self._atexit_registered = False

    def __enter__(self) -> RealAirflow:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ REST

    def _fetch_token(self) -> str:
        resp = self._session.post(
            f"{self.base_url}/auth/token",
            json={"username": self.username, "password": self.password},
            timeout=30,
        )
        if resp.status_code not in (200, 201):
            raise RealAirflowError(f"POST /auth/token -> {resp.status_code}: {resp.text}")
        return str(resp.json()["access_token"])

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Call the REST API (``path`` like "/api/v2/dags") with a cached JWT; no raise_for_status.

        The token is fetched again once if the server rejects it (401, or 403 "Invalid JWT token",
        which is what Airflow 3.3.2 answers for a bad or expired token).
        """
        kwargs.setdefault("timeout", 30)
        extra_headers = dict(kwargs.pop("headers", None) or {})
        url = f"{self.base_url}{path}"
        if self._token is None:
            self._token = self._fetch_token()
        resp = self._session.request(method, url, headers=self._headers(extra_headers), **kwargs)
        if resp.status_code == 401 or (resp.status_code == 403 and "Invalid JWT" in resp.text):
            self._token = self._fetch_token()
            resp = self._session.request(method, url, headers=self._headers(extra_headers), **kwargs)
        return resp

    def _headers(self, extra: dict[str, str]) -> dict[str, str]:
        return {**extra, "Authorization": f"Bearer {self._token}"}

    def _api_ok(self, method: str, path: str, **kwargs: Any) -> Any:
        """Like api(), but raise RealAirflowError unless 2xx; return the decoded JSON body (or None)."""
        resp = self.api(method, path, **kwargs)
        if not resp.ok:
            raise RealAirflowError(f"{method} {path} -> {resp.status_code}: {resp.text}")
        return resp.json() if resp.content else None

    # ------------------------------------------------------------------ connections and stored rows

    def create_connection(
        self,
        conn_id: str,
        conn_type: str,
        *,
        host: str | None = None,
        login: str | None = None,
        password: str | None = None,
        port: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        """Create (or re-create) a connection through the REST API."""
        self.api("DELETE", f"/api/v2/connections/{quote(conn_id, safe='')}")
        body: dict[str, Any] = {"connection_id": conn_id, "conn_type": conn_type}
        for key, value in (("host", host), ("login", login), ("password", password), ("port", port)):
            if value is not None:
                body[key] = value
        if extra is not None:
            body["extra"] = json.dumps(extra)
        self._api_ok("POST", "/api/v2/connections", json=body)

    def get_connection_password(self, conn_id: str) -> str:
        """The real stored password (the REST API masks it as ***), read from the metadata database.

        Reading the row and decrypting it with the deployment's Fernet key is what ``airflow connections
        get`` does, without the seconds an Airflow CLI process takes to start.
        """
        row = self.stored_row("SELECT password, is_encrypted FROM connection WHERE conn_id = ?", conn_id)
        if row is None:
            raise RealAirflowError(f"connection {conn_id!r} is not in the metadata database")
        return self.decrypt(row[0], bool(row[1])) or ""

    def stored_row(self, query: str, *params: object) -> tuple[Any, ...] | None:
        """The first row ``query`` finds in the metadata database (secrets still encrypted), or None."""
        with contextlib.closing(sqlite3.connect(self.home / "airflow.db", timeout=10)) as db:
            row = db.execute(query, params).fetchone()
        return None if row is None else tuple(row)

    def decrypt(self, value: str | None, encrypted: bool) -> str | None:
        """A stored value in clear: decrypted with the deployment's Fernet key when ``encrypted``."""
        if value is None or not encrypted:
            return value
        from cryptography.fernet import Fernet

        return Fernet(self.env["AIRFLOW__CORE__FERNET_KEY"].encode()).decrypt(value.encode()).decode()

    # ------------------------------------------------------------------ DAGs and runs

    def add_dag_file(self, name: str, source: str) -> Path:
        """Write a DAG file into the running deployment's dags folder (atomically); return its path."""
        target = self.dags_folder / name
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_text(source)
        tmp.replace(target)
        return target

    def import_errors(self) -> list[dict[str, Any]]:
        """Current DAG import errors (GET /api/v2/importErrors)."""
        body = self._api_ok("GET", "/api/v2/importErrors", params={"limit": 100})
        return list(body.get("import_errors", []))

    def wait_for_dag(self, dag_id: str, timeout: float = 120) -> None:
        """Wait until the dag-processor has parsed ``dag_id``; on timeout, raise with the import errors."""
        deadline = time.monotonic() + timeout
        path = f"/api/v2/dags/{quote(dag_id, safe='')}"
        while time.monotonic() < deadline:
            self._check_alive()
            if self.api("GET", path).status_code == 200:
                return
            time.sleep(_POLL)
        errors = "\n".join(f"{e.get('filename')}: {e.get('stack_trace')}" for e in self.import_errors())
        raise RealAirflowError(f"DAG {dag_id!r} not parsed within {timeout} s. Import errors:\n{errors}")

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        """Unpause ``dag_id`` and start a manual run now; return its dag_run_id."""
        dag_path = f"/api/v2/dags/{quote(dag_id, safe='')}"
        self._api_ok("PATCH", dag_path, json={"is_paused": False})
        body = self._api_ok("POST", f"{dag_path}/dagRuns", json={"logical_date": None, "conf": conf or {}})
        return str(body["dag_run_id"])

    def dag_runs(self, dag_id: str) -> list[dict[str, Any]]:
        """Every run of ``dag_id``, as the REST API lists them."""
        return list(
            self._api_ok("GET", f"/api/v2/dags/{quote(dag_id, safe='')}/dagRuns", params={"limit": 100})["dag_runs"]
        )

    def wait_until_idle(self, dag_id: str, timeout: float = 240, *, at_least: int = 0) -> list[dict[str, Any]]:
        """Wait until ``dag_id`` has at least ``at_least`` runs and none queued or running; return them all."""
        deadline = time.monotonic() + timeout
        while True:
            runs = self.dag_runs(dag_id)
            if len(runs) >= at_least and all(run["state"] in ("success", "failed") for run in runs):
                return runs
            if time.monotonic() > deadline:
                raise RealAirflowError(f"runs of {dag_id} still active after {timeout:g}s: {runs}")
            time.sleep(0.5)

    def _run_path(self, dag_id: str, run_id: str) -> str:
        return f"/api/v2/dags/{quote(dag_id, safe='')}/dagRuns/{quote(run_id, safe='')}"

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 180) -> str:
        """Poll until the run is success or failed; return that state (raise on timeout)."""
        deadline = time.monotonic() + timeout
        state = None
        while time.monotonic() < deadline:
            self._check_alive()
            state = self._api_ok("GET", self._run_path(dag_id, run_id)).get("state")
            if state in TERMINAL_RUN_STATES:
                return str(state)
            time.sleep(_POLL)
        raise RealAirflowError(
            f"run {dag_id}/{run_id} still {state!r} after {timeout} s; task states: {self.task_states(dag_id, run_id)}"
        )

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """All task instances of the run as the REST API returns them."""
        body = self._api_ok("GET", f"{self._run_path(dag_id, run_id)}/taskInstances", params={"limit": 1000})
        return list(body.get("task_instances", []))

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str]:
        """``{task_id: state}`` (mapped task instances as ``task_id[map_index]``)."""
        states: dict[str, str] = {}
        for ti in self.task_instances(dag_id, run_id):
            key = ti["task_id"] if ti.get("map_index", -1) < 0 else f"{ti['task_id']}[{ti['map_index']}]"
            states[key] = str(ti.get("state"))
        return states

    def task_log_files(self, dag_id: str, run_id: str) -> list[Path]:
        """Every task log file of the run (all tasks, map indexes and attempts)."""
        run_dir = self.logs_folder / f"dag_id={dag_id}" / f"run_id={run_id}"
        return sorted(p for p in run_dir.rglob("*") if p.is_file()) if run_dir.is_dir() else []

    def task_logs(self, dag_id: str, run_id: str) -> str:
        """Raw text of every task log file of the run, then what the REST logs endpoint returns."""
        parts = [f"===== file {p}\n{p.read_text(errors='replace')}" for p in self.task_log_files(dag_id, run_id)]
        for ti in self.task_instances(dag_id, run_id):
            ti_path = f"{self._run_path(dag_id, run_id)}/taskInstances/{quote(ti['task_id'], safe='')}"
            for try_number in range(1, int(ti.get("try_number") or 0) + 1):
                resp = self.api(
                    "GET",
                    f"{ti_path}/logs/{try_number}",
                    params={"full_content": "true", "map_index": ti.get("map_index", -1)},
                    headers={"Accept": "application/json"},
                )
                content = resp.json().get("content", []) if resp.ok else resp.text
                lines = content if isinstance(content, list) else [content]
                text = "\n".join(ln if isinstance(ln, str) else json.dumps(ln) for ln in lines)
                parts.append(f"===== REST {ti['task_id']} try {try_number} ({resp.status_code})\n{text}")
        return "\n".join(parts)

    def all_logs(self) -> str:
        """Every file under $AIRFLOW_HOME/logs plus the component logs (proc-logs), concatenated.

        Beware: with LocalExecutor, Airflow 3.3.2 also copies each task's stdout and log records into the
        scheduler's own output (``proc-logs/scheduler.log``) WITHOUT masking. So a secret a task prints or
        logs is in clear text there even after ``mask_secret``; "never appears anywhere" therefore means
        "never printed or logged at all", which is the guarantee the provider should give.
        """
        files = [p for folder in (self.logs_folder, self.proc_logs) for p in sorted(folder.rglob("*"))]
        return "\n".join(f"===== {p}\n{p.read_text(errors='replace')}" for p in files if p.is_file())

    def xcoms(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """Every XCom of the run: the listing entries, each with ``value`` (deserialized, JSON-native)."""
        entries: list[dict[str, Any]] = []
        list_path = f"{self._run_path(dag_id, run_id)}/taskInstances/~/xcomEntries"
        while True:
            body = self._api_ok("GET", list_path, params={"limit": 100, "offset": len(entries)})
            page = body.get("xcom_entries", [])
            entries.extend(page)
            if not page or len(entries) >= int(body.get("total_entries", 0)):
                break
        for entry in entries:
            entry_path = (
                f"{self._run_path(dag_id, run_id)}/taskInstances/{quote(entry['task_id'], safe='')}"
                f"/xcomEntries/{quote(entry['key'], safe='')}"
            )
            params = {"map_index": entry.get("map_index", -1), "deserialize": "true"}
            entry["value"] = self._api_ok("GET", entry_path, params=params).get("value")
        return entries


_HEALTH_PARTS = ("metadatabase", "scheduler", "dag_processor", "triggerer")


def tail(path: Path, lines: int = 60) -> str:
    """The last ``lines`` lines of a text file (for error messages)."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"<cannot read {path}: {exc}>"


if __name__ == "__main__" and len(sys.argv) == 4 and sys.argv[1] == "--watchdog":
    _watchdog_main(int(sys.argv[2]), sys.argv[3])
