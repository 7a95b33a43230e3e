"""Fixtures for running the example DAGs in-process (``dag.test()``) against a FakeAceDataPlatform on a socket."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_acedata.testing import FakeAceDataPlatform, RequestRecord

if TYPE_CHECKING:
    from airflow.dag_processing.dagbag import DagBag

EXAMPLE_DAGS = Path(__file__).resolve().parents[2] / "example_dags"
TOKEN_VARIABLE = "acedata_platform_token"


def platform_connection(platform: FakeAceDataPlatform, **extra: Any) -> str:
    """An ``AIRFLOW_CONN_ACEDATA_DEFAULT`` value for the fake platform, with these extras."""
    connection = json.loads(platform.connection_json())
    connection["extra"] = {"retry_delay": 0, **extra}
    return json.dumps(connection)


@pytest.fixture
def dag_platform() -> Iterator[FakeAceDataPlatform]:
    """A fresh offline platform per test (new users, tokens and applications)."""
    with FakeAceDataPlatform() as fake:
        yield fake


@pytest.fixture
def platform_conn(dag_platform: FakeAceDataPlatform, monkeypatch: pytest.MonkeyPatch) -> FakeAceDataPlatform:
    """``acedata_default`` points at the fake platform, with its initial token as the password."""
    monkeypatch.setenv("AIRFLOW_CONN_ACEDATA_DEFAULT", platform_connection(dag_platform))
    return dag_platform


@pytest.fixture
def rotation_conn(
    dag_platform: FakeAceDataPlatform, monkeypatch: pytest.MonkeyPatch, airflow_db: None
) -> Iterator[FakeAceDataPlatform]:
    """``acedata_default`` reads its token from the Variable the rotation DAG writes; the Variable starts unset."""
    from airflow.models.variable import Variable

    monkeypatch.setenv(
        "AIRFLOW_CONN_ACEDATA_DEFAULT", platform_connection(dag_platform, rotation_variable=TOKEN_VARIABLE)
    )
    Variable.delete(TOKEN_VARIABLE)
    yield dag_platform
    Variable.delete(TOKEN_VARIABLE)


@pytest.fixture(scope="module")
def example_dag_bag(airflow_db: None) -> tuple[DagBag, list[RequestRecord]]:
    """The example DAGs parsed once, with the connection pointing at a live platform, and its request log."""
    from airflow.dag_processing.dagbag import DagBag

    with FakeAceDataPlatform() as fake, pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRFLOW_CONN_ACEDATA_DEFAULT", platform_connection(fake))
        bag = DagBag(dag_folder=EXAMPLE_DAGS)
        return bag, fake.requests
