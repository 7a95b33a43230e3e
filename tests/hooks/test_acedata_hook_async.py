"""The async request path (httpx) against the offline platform over real sockets: the sync path's semantics."""

from __future__ import annotations

import asyncio
import json

import pytest

from airflow_provider_acedata.exceptions import (
    AceDataApiError,
    AceDataAuthenticationError,
    AceDataConfigError,
    AceDataNotFoundError,
    AceDataRateLimitError,
    AceDataServerError,
    AceDataTransportError,
)
from airflow_provider_acedata.hooks import AceDataHook
from airflow_provider_acedata.hooks import _http as http_module

UNKNOWN_ID = "107f8d0f-e465-4a7e-a49e-d633d26f7aa2"


@pytest.fixture
def waits(monkeypatch) -> list[float]:
    """The retry waits the async path asked for (none is really slept)."""
    asked: list[float] = []

    async def record(seconds: float) -> None:
        asked.append(seconds)

    monkeypatch.setattr(http_module, "_async_sleep", record)
    return asked


def remaining(application_id: str, hook: AceDataHook | None = None) -> float:
    async def read() -> float:
        client = hook or AceDataHook()
        try:
            return await client.aget_remaining_amount(application_id)
        finally:
            await client.aclose()

    return asyncio.run(read())


def test_reads_the_balance_with_the_connections_token(platform, app_id):
    platform.set_balance(app_id, 12.5)

    assert remaining(app_id) == 12.5
    [read] = platform.calls("GET", f"/applications/{app_id}")
    assert read.token == platform.token


def test_sync_and_async_twins_agree(platform, app_id):
    platform.set_balance(app_id, 3)

    with AceDataHook() as hook:
        assert hook.get_remaining_amount(app_id) == remaining(app_id) == 3


def test_5xx_and_dropped_connections_are_retried_with_backoff(platform, app_id, waits):
    platform.fail(method="GET", path="/applications/", status=503, times=1)
    platform.fail(method="GET", path="/applications/", drop=True, times=1)

    assert remaining(app_id) == 0
    assert len(platform.calls("GET", "/applications/")) == 3
    assert len(waits) == 2


def test_retries_stop_at_the_limit(platform, app_id, waits):
    platform.fail(method="GET", path="/applications/", status=502, times=None)

    with pytest.raises(AceDataServerError):
        remaining(app_id)
    assert len(platform.calls("GET", "/applications/")) == 4


def test_429_retry_after_is_awaited(platform, app_id, waits):
    platform.fail(method="GET", path="/applications/", status=429, retry_after=3, times=1)

    assert remaining(app_id) == 0
    assert waits == [3.0]


def test_429_beyond_max_retry_wait_raises_at_once_with_retry_after(platform, app_id, waits):
    platform.fail(method="GET", path="/applications/", status=429, retry_after=86400, times=None)

    with pytest.raises(AceDataRateLimitError) as caught:
        remaining(app_id)
    assert caught.value.retry_after == 86400
    assert waits == []
    assert len(platform.calls("GET", "/applications/")) == 1


def test_max_retry_wait_extra_admits_a_longer_wait(platform, app_id, waits, monkeypatch):
    connection = json.loads(platform.connection_json())
    connection["extra"] = {"retry_delay": 0, "max_retry_wait": 90000}
    monkeypatch.setenv("AIRFLOW_CONN_ACEDATA_DEFAULT", json.dumps(connection))
    platform.fail(method="GET", path="/applications/", status=429, retry_after=86400, times=1)

    assert remaining(app_id) == 0
    assert waits == [86400.0]


def test_timeout_is_a_transport_error(platform, app_id, waits):
    platform.fail(method="GET", path="/applications/", delay=1, times=None)

    with pytest.raises(AceDataTransportError) as caught:
        remaining(app_id, AceDataHook(timeout=0.1, retry_limit=1))
    assert caught.value.timed_out


def test_errors_keep_status_code_and_never_the_token(platform, waits):
    with pytest.raises(AceDataNotFoundError) as caught:
        remaining(UNKNOWN_ID)
    assert caught.value.status_code == 404
    assert platform.token not in str(caught.value)
    assert platform.calls("GET", "/applications/")[0].status == 404


def test_redirect_is_not_followed(platform, app_id, waits):
    platform.fail(method="GET", path="/applications/", status=302, body={}, times=1)

    with pytest.raises(AceDataApiError, match="not followed"):
        remaining(app_id)
    assert len(platform.calls("GET")) == 1


def test_401_rereads_the_token_once(platform, app_id, monkeypatch):
    rotated = platform.issue_token()["token"]
    hook = AceDataHook()

    async def rotate_between_reads() -> float:
        await hook.aget_remaining_amount(app_id)
        platform.fail(token=platform.token, status=401, body={"detail": "Invalid token."}, times=None)
        connection = json.loads(platform.connection_json(rotated))
        monkeypatch.setenv("AIRFLOW_CONN_ACEDATA_DEFAULT", json.dumps(connection))
        try:
            return await hook.aget_remaining_amount(app_id)
        finally:
            await hook.aclose()

    assert asyncio.run(rotate_between_reads()) == 0
    assert [(r.token, r.status) for r in platform.calls("GET")] == [
        (platform.token, 200),
        (platform.token, 401),
        (rotated, 200),
    ]


def test_401_with_an_unchanged_token_raises(platform, app_id):
    platform.fail(method="GET", status=401, body={"detail": "Invalid token."}, times=None)

    with pytest.raises(AceDataAuthenticationError):
        remaining(app_id)
    assert len(platform.calls("GET")) == 1


def test_plain_http_to_a_remote_host_is_refused_before_any_request(monkeypatch, requests_mock):
    monkeypatch.setenv(
        "AIRFLOW_CONN_ACEDATA_DEFAULT",
        json.dumps({"conn_type": "acedata", "host": "http://platform.example.test", "password": "platform-x"}),
    )

    with pytest.raises(AceDataConfigError, match="https"):
        remaining(UNKNOWN_ID)
