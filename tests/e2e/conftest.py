"""Fixtures for end-to-end tests against a real Airflow deployment (tests marked ``airflow_real``).

The session fixture ``real_airflow`` starts ONE deployment for the whole test session and every real test
shares it: api-server, scheduler, dag-processor, triggerer and an ``airflow celery worker``, on
``CeleryExecutor,LocalExecutor`` (CeleryExecutor is the default; a task runs on the LocalExecutor when it
names it) with a Redis server (``redis_server``) as the Celery broker. Its dags folder is a temporary copy
of ``<repo>/example_dags/*.py`` plus ``real_airflow_extra_dag_files``; tests add DAG files at run time with
``real_airflow.add_dag_file(name, source)``. Tests isolate themselves by ids, not by processes: their own
DAG ids, connection ids, Variable names and offline platform (see README, "Development").

Set ``ACEDATA_SKIP_REAL_AIRFLOW=1`` to skip these tests locally (CI runs them). Without ``redis-server``
they skip locally too, and fail under ``CI=true``.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = TESTS_DIR.parent
if str(TESTS_DIR) not in sys.path:  # so that ``from e2e.real_airflow import RealAirflow`` works everywhere
    sys.path.insert(0, str(TESTS_DIR))

from e2e.real_airflow import RealAirflow  # noqa: E402
from e2e.redis_server import RedisServer, missing_redis  # noqa: E402

SKIP_ENV_VAR = "ACEDATA_SKIP_REAL_AIRFLOW"
BROWSER_DIR = Path(__file__).resolve().parent / "browser"
CHROMIUM = Path("/usr/bin/chromium")
_TIMINGS_KEY = pytest.StashKey[dict[str, float]]()
_REDIS_TIMINGS_KEY = pytest.StashKey[dict[str, float]]()
#: The deployment's ``[core] executor``: CeleryExecutor (what users deploy) by default, LocalExecutor on request.
EXECUTORS = "CeleryExecutor,LocalExecutor"
#: Fixtures that start real Airflow processes; tests using one are marked ``airflow_real``.
REAL_AIRFLOW_FIXTURES = ("real_airflow", "real_airflow_celery")


def _skip_reason() -> str | None:
    if os.environ.get(SKIP_ENV_VAR) == "1":
        return f"real Airflow tests skipped because {SKIP_ENV_VAR}=1"
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test using ``real_airflow`` (or ``real_airflow_celery``) as ``airflow_real``; skip if asked to."""
    reason = _skip_reason()
    for item in items:
        uses_real = any(name in getattr(item, "fixturenames", ()) for name in REAL_AIRFLOW_FIXTURES)
        if uses_real and not item.get_closest_marker("airflow_real"):
            item.add_marker(pytest.mark.airflow_real)
        if reason and item.get_closest_marker("airflow_real"):
            item.add_marker(pytest.mark.skip(reason=reason))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    """Print how long the real deployment (and its Redis) took to start and stop (wall-time budget tracking)."""
    for label, key in (("redis_server", _REDIS_TIMINGS_KEY), ("real_airflow", _TIMINGS_KEY)):
        timings = config.stash.get(key, None)
        if timings:
            shown = ", ".join(f"{name}={seconds:.1f}s" for name, seconds in timings.items())
            terminalreporter.write_line(f"{label} timings: {shown}")


@pytest.fixture(scope="session")
def real_airflow_extra_dag_files() -> list[Path]:
    """DAG files copied into the deployment's dags folder before start; override in a conftest."""
    return []


@pytest.fixture(scope="session")
def real_airflow_env() -> dict[str, str]:
    """Extra environment (e.g. ``AIRFLOW_CONN_*``) for every Airflow process; override in a conftest."""
    return {}


def _skip_or_fail_in_ci(reason: str) -> None:
    """Skip locally; under ``CI=true`` a missing prerequisite is a failure, not a silent skip."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"cannot run in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def redis_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A Redis server on 127.0.0.1 (free port, nothing persisted, temp dir) for the session; always stopped."""
    if (reason := _skip_reason()) is not None:
        pytest.skip(reason)
    if (reason := missing_redis()) is not None:
        _skip_or_fail_in_ci(reason)
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    try:
        server.start()
        yield server
    finally:
        server.stop()
        request.config.stash[_REDIS_TIMINGS_KEY] = {"start": server.startup_seconds}


@pytest.fixture(scope="session")
def real_airflow(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    redis_server: RedisServer,
    real_airflow_extra_dag_files: list[Path],
    real_airflow_env: dict[str, str],
) -> Iterator[RealAirflow]:
    """The session's one real Airflow deployment (see the module docstring); always stopped at the end."""
    if (reason := _skip_reason()) is not None:
        pytest.skip(reason)
    if importlib.util.find_spec("airflow.providers.celery") is None:
        pytest.fail("CeleryExecutor tests need apache-airflow-providers-celery (the 'test' extra): run make venv")
    base = tmp_path_factory.mktemp("real-airflow")
    dags = base / "dags"
    dags.mkdir()
    for src in [*sorted((REPO_ROOT / "example_dags").glob("*.py")), *real_airflow_extra_dag_files]:
        shutil.copy2(src, dags / Path(src).name)
    airflow = RealAirflow(base / "home", dags, env=real_airflow_env, executor=EXECUTORS, broker_url=redis_server.url)
    try:
        airflow.start()
        yield airflow
    finally:
        airflow.stop()
        request.config.stash[_TIMINGS_KEY] = airflow.timings


@pytest.fixture(scope="session")
def real_airflow_celery(real_airflow: RealAirflow) -> RealAirflow:
    """The same deployment as ``real_airflow``, whose default executor is CeleryExecutor (kept for old tests)."""
    return real_airflow


def _missing_browser() -> str | None:
    """Why the browser cannot run here, or None."""
    if not CHROMIUM.is_file():
        return f"{CHROMIUM} is missing (Debian package chromium; `make browser-deps` as root installs it)"
    if shutil.which("node") is None:
        return "node is missing (needed to drive Chromium with playwright-core)"
    if not (BROWSER_DIR / "node_modules" / "playwright-core").is_dir():
        return f"playwright-core is not installed: run `npm ci` in {BROWSER_DIR} (or `make browser-deps`)"
    return None


@pytest.fixture(scope="session")
def node() -> str:
    """The node executable; skip (locally) or fail (CI=true) before Airflow starts if the browser is missing."""
    if (reason := _missing_browser()) is not None:
        _skip_or_fail_in_ci(f"no browser: {reason}")
    return str(shutil.which("node"))
