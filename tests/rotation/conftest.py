"""Fixtures of the rotation tests: a fresh offline platform; the store sets the connection itself."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from airflow_provider_acedata.testing import FakeAceDataPlatform


@pytest.fixture
def rotation_platform(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAceDataPlatform]:
    monkeypatch.setenv("AIRFLOW_CONN_ACEDATA_DEFAULT", "")
    with FakeAceDataPlatform() as fake:
        yield fake
