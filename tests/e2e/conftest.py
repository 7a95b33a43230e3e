"""Fixtures for end-to-end tests against a real Airflow deployment (tests marked ``airflow_real``).

The session fixture ``real_airflow`` starts one deployment for the whole test session: its dags folder
is a temporary copy of ``<repo>/example_dags/*.py`` plus ``real_airflow_extra_dag_files``; tests can add
more DAG files at run time with ``real_airflow.add_dag_file(name, source)``.

Set ``ACEDATA_SKIP_REAL_AIRFLOW=1`` to skip these tests locally (CI runs them).
"""

from __future__ import annotations

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

SKIP_ENV_VAR = "ACEDATA_SKIP_REAL_AIRFLOW"
_TIMINGS_KEY = pytest.StashKey[dict[str, float]]()


def _skip_reason() -> str | None:
    if os.environ.get(SKIP_ENV_VAR) == "1":
        return f"real Airflow tests skipped because {SKIP_ENV_VAR}=1"
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test using ``real_airflow`` as ``airflow_real``; skip them all if asked to."""
    reason = _skip_reason()
    for item in items:
        if "real_airflow" in getattr(item, "fixturenames", ()) and not item.get_closest_marker("airflow_real"):
            item.add_marker(pytest.mark.airflow_real)
        if reason and item.get_closest_marker("airflow_real"):
            item.add_marker(pytest.mark.skip(reason=reason))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    """Print how long the real deployment took to start and stop (wall-time budget tracking)."""
    timings = config.stash.get(_TIMINGS_KEY, None)
    if timings:
        shown = ", ".join(f"{name}={seconds:.1f}s" for name, seconds in timings.items())
        terminalreporter.write_line(f"real_airflow timings: {shown}")


@pytest.fixture(scope="session")
def real_airflow_extra_dag_files() -> list[Path]:
    """DAG files copied into the deployment's dags folder before start; override in a conftest."""
    return []


@pytest.fixture(scope="session")
def real_airflow_env() -> dict[str, str]:
    """Extra environment (e.g. ``AIRFLOW_CONN_*``) for every Airflow process; override in a conftest."""
    return {}


@pytest.fixture(scope="session")
def real_airflow(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    real_airflow_extra_dag_files: list[Path],
    real_airflow_env: dict[str, str],
) -> Iterator[RealAirflow]:
    """A started real Airflow deployment shared by the session; always stopped at the end."""
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    base = tmp_path_factory.mktemp("real-airflow")
    dags = base / "dags"
    dags.mkdir()
    for src in [*sorted((REPO_ROOT / "example_dags").glob("*.py")), *real_airflow_extra_dag_files]:
        shutil.copy2(src, dags / Path(src).name)
    airflow = RealAirflow(base / "home", dags, env=real_airflow_env)
    try:
        airflow.start()
        yield airflow
    finally:
        airflow.stop()
        request.config.stash[_TIMINGS_KEY] = airflow.timings
