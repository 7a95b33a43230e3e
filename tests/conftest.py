"""Test configuration: a throwaway AIRFLOW_HOME set before anything imports Airflow."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from testdata import connection_json

_HOME = Path(tempfile.mkdtemp(prefix="acedata-airflow-home-"))
os.environ["AIRFLOW_HOME"] = str(_HOME)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(Path(__file__).resolve().parents[1] / "example_dags")
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_HOME / 'airflow.db'}"


@pytest.fixture
def acedata_conn(monkeypatch: pytest.MonkeyPatch) -> str:
    """The default acedata connection, pointing at a fake https host; retries without sleeping."""
    monkeypatch.setenv("AIRFLOW_CONN_ACEDATA_DEFAULT", connection_json(retry_delay=0))
    return "acedata_default"


@pytest.fixture(scope="session")
def airflow_db() -> Iterator[None]:
    """A fresh metadata database for tests that run DAGs in-process with dag.test()."""
    from airflow.utils import db

    db.resetdb()
    yield
