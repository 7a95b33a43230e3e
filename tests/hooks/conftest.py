"""Fixtures of the hook tests: a hook on a fake https host, the identity route, and no real sleeping."""

from __future__ import annotations

from collections.abc import Iterator
from unittest import mock

import pytest
from testdata import API, USER

from airflow_provider_acedata.hooks import AceDataHook


@pytest.fixture
def hook(acedata_conn: str) -> AceDataHook:
    return AceDataHook(acedata_conn)


@pytest.fixture
def me(requests_mock):
    return requests_mock.get(f"{API}/platform-tokens/me/", json=USER)


@pytest.fixture(autouse=True)
def no_sleep() -> Iterator[mock.MagicMock]:
    with mock.patch("airflow_provider_acedata.hooks._http._sleep") as sleep:
        yield sleep
