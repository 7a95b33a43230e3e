"""The transport (hooks/_http.py) through a platform hook.

Sync against requests-mock; async (httpx) over real sockets to the offline platform.
"""

from __future__ import annotations

import asyncio
import json

import pytest
import requests
from testdata import API, TOKEN, USER, connection_json

from airflow_provider_acedata import __version__
from airflow_provider_acedata.exceptions import (
    AceDataApiError,
    AceDataAuthenticationError,
    AceDataConfigError,
    AceDataDuplicationError,
    AceDataNotFoundError,
    AceDataPermissionError,
    AceDataRateLimitError,
    AceDataServerError,
    AceDataTransportError,
    AceDataValidationError,
)
from airflow_provider_acedata.hooks import AceDataHook
from airflow_provider_acedata.hooks import _http as http_module

SERVICE = "d87e5e99-b797-4ade-9e73-b896896b0461"
APP_ID = "107f8d0f-e465-4a7e-a49e-d633d26f7aa2"
UNKNOWN_ID = "107f8d0f-e465-4a7e-a49e-d633d26f7aa2"


class TestRequests:
    """What every request carries and how an answer is read."""

    def test_sends_bearer_token_user_agent_and_timeout(self, hook, me):
        assert hook.get_current_user() == USER
        sent = me.last_request
        assert sent.headers["Authorization"] == f"Bearer {TOKEN}"
        assert sent.headers["Accept"] == "application/json"
        assert sent.headers["User-Agent"].startswith(f"airflow-provider-acedata/{__version__} apache-airflow/")
        assert sent.timeout == 30.0

    def test_one_session_per_hook(self, hook, me):
        hook.get_current_user()
        session = hook.session
        hook.get_current_user()
        assert hook.session is session
        assert me.call_count == 2

    def test_timeout_and_retry_settings_from_extras(self, monkeypatch, requests_mock):
        monkeypatch.setenv("AIRFLOW_CONN_ACEDATA_DEFAULT", connection_json(timeout="5", retry_limit="1", retry_delay=0))
        hook = AceDataHook()
        route = requests_mock.get(f"{API}/platform-tokens/me/", status_code=503)
        with pytest.raises(AceDataServerError):
            hook.get_current_user()
        assert route.last_request.timeout == 5.0
        assert route.call_count == 2

    def test_hook_arguments_override_extras(self, monkeypatch, requests_mock):
        monkeypatch.setenv("AIRFLOW_CONN_ACEDATA_DEFAULT", connection_json(timeout=5))
        hook = AceDataHook(timeout=2.5, retry_limit=0)
        route = requests_mock.get(f"{API}/platform-tokens/me/", status_code=503)
        with pytest.raises(AceDataServerError):
            hook.get_current_user()
        assert route.last_request.timeout == 2.5
        assert route.call_count == 1

    @pytest.mark.parametrize("extra", [{"timeout": "soon"}, {"timeout": 0}, {"retry_limit": -1}])
    def test_bad_extras_are_config_errors(self, monkeypatch, extra):
        monkeypatch.setenv("AIRFLOW_CONN_ACEDATA_DEFAULT", connection_json(**extra))
        with pytest.raises(AceDataConfigError, match=next(iter(extra))):
            AceDataHook().get_current_user()

    def test_redirect_is_an_error_not_followed(self, hook, requests_mock):
        requests_mock.get(
            f"{API}/platform-tokens/me/", status_code=302, headers={"Location": "https://elsewhere.test/x"}
        )
        elsewhere = requests_mock.get("https://elsewhere.test/x", json={})
        with pytest.raises(AceDataApiError, match="redirect") as caught:
            hook.get_current_user()
        assert caught.value.status_code == 302
        assert elsewhere.call_count == 0

    def test_non_json_answer(self, hook, requests_mock):
        requests_mock.get(f"{API}/platform-tokens/me/", text="<html>maintenance</html>")
        with pytest.raises(AceDataApiError, match="not JSON") as caught:
            hook.get_current_user()
        assert caught.value.code == "invalid_response"


class TestConnectionHost:
    """The connection host normalised to a base URL; https except loopback."""

    @pytest.mark.parametrize(
        ("host", "port", "expected"),
        [
            (None, None, "https://platform.acedata.cloud"),
            ("https://platform.acedata.cloud/", None, "https://platform.acedata.cloud"),
            ("https://platform.acedata.cloud/api/v1", None, "https://platform.acedata.cloud"),
            ("platform.acedata.cloud", None, "https://platform.acedata.cloud"),
            ("127.0.0.1", 8080, "http://127.0.0.1:8080"),
            ("http://localhost:9000", None, "http://localhost:9000"),
            ("http://[::1]:9000", None, "http://[::1]:9000"),
            ("https://proxy.example.test", 8443, "https://proxy.example.test:8443"),
        ],
    )
    def test_base_url(self, monkeypatch, host, port, expected):
        conn = {"conn_type": "acedata", "host": host, "port": port, "password": TOKEN}
        monkeypatch.setenv("AIRFLOW_CONN_ACEDATA_DEFAULT", json.dumps(conn))
        assert AceDataHook().base_url == expected

    @pytest.mark.parametrize("host", ["http://platform.acedata.cloud", "http://10.0.0.5:8080", "ftp://x.test"])
    def test_plain_http_to_a_remote_host_is_refused(self, monkeypatch, requests_mock, host):
        monkeypatch.setenv("AIRFLOW_CONN_ACEDATA_DEFAULT", connection_json(host=host))
        with pytest.raises(AceDataConfigError):
            AceDataHook().get_current_user()
        assert requests_mock.call_count == 0

    def test_uri_form_with_loopback_host_and_port(self, monkeypatch):
        monkeypatch.setenv("AIRFLOW_CONN_ACEDATA_DEFAULT", f"acedata://:{TOKEN}@127.0.0.1:8123")
        hook = AceDataHook()
        assert hook.api_url == "http://127.0.0.1:8123/api/v1"
        assert hook.token == TOKEN


class TestErrors:
    """Error answers become typed exceptions keeping status, code, message and request id."""

    @pytest.mark.parametrize(
        ("status", "body", "kind", "code"),
        [
            (400, {"type": ['"Foo" is not a valid choice.']}, AceDataValidationError, None),
            (
                400,
                {"detail": "Application already exists.", "code": "duplication"},
                AceDataDuplicationError,
                "duplication",
            ),
            (409, {"detail": "exists"}, AceDataDuplicationError, None),
            (401, {"detail": "Invalid token."}, AceDataAuthenticationError, None),
            (
                403,
                {"detail": "denied", "code": "permission_denied"},
                AceDataPermissionError,
                "permission_denied",
            ),
            (404, {"detail": "Not found."}, AceDataNotFoundError, None),
            (405, {"detail": 'Method "PATCH" not allowed.'}, AceDataApiError, None),
            (
                429,
                {"error": {"code": "too_many_requests", "message": "slow down"}},
                AceDataRateLimitError,
                "too_many_requests",
            ),
            (502, None, AceDataServerError, None),
        ],
    )
    def test_status_maps_to_exception(self, hook, requests_mock, status, body, kind, code):
        kwargs = {"json": body} if body is not None else {"text": "Bad Gateway"}
        requests_mock.post(f"{API}/applications/", status_code=status, headers={"X-Request-Id": "req-1"}, **kwargs)
        with pytest.raises(kind) as caught:
            hook.create_application(SERVICE)
        error = caught.value
        assert type(error) is kind
        assert (error.status_code, error.code, error.method, error.path) == (
            status,
            code,
            "POST",
            "/applications/",
        )
        assert error.request_id == "req-1"
        assert f"POST /applications/ -> {status}" in str(error)

    def test_validation_error_keeps_field_errors(self, hook, requests_mock):
        requests_mock.post(f"{API}/applications/", status_code=400, json={"service_id": ["Unknown service."]})
        with pytest.raises(AceDataValidationError) as caught:
            hook.create_application(SERVICE)
        assert caught.value.field_errors == {"service_id": "['Unknown service.']"}
        assert "Unknown service." in str(caught.value)

    def test_api_message_and_detail_dict(self, hook, requests_mock):
        requests_mock.post(
            f"{API}/applications/",
            status_code=400,
            json={"detail": {"message": "dup"}, "code": "duplication"},
        )
        with pytest.raises(AceDataDuplicationError) as caught:
            hook.create_application(SERVICE)
        assert caught.value.api_message == "dup"


class TestRetries:
    """Reads are retried on transient failures with backoff; writes never are."""

    def test_429_honours_retry_after(self, hook, requests_mock, no_sleep):
        route = requests_mock.get(
            f"{API}/platform-tokens/me/",
            [{"status_code": 429, "headers": {"Retry-After": "7"}, "json": {}}, {"json": USER}],
        )
        assert hook.get_current_user() == USER
        assert route.call_count == 2
        no_sleep.assert_called_once_with(7.0)

    def test_retry_after_beyond_max_retry_wait_raises_at_once(self, hook, requests_mock, no_sleep):
        route = requests_mock.get(
            f"{API}/platform-tokens/me/", status_code=429, headers={"Retry-After": "86400"}, json={}
        )
        with pytest.raises(AceDataRateLimitError) as caught:
            hook.get_current_user()
        assert caught.value.retry_after == 86400
        assert route.call_count == 1
        no_sleep.assert_not_called()

    def test_max_retry_wait_extra_admits_longer_waits(self, monkeypatch, requests_mock, no_sleep):
        monkeypatch.setenv("AIRFLOW_CONN_ACEDATA_DEFAULT", connection_json(max_retry_wait=600))
        route = requests_mock.get(
            f"{API}/platform-tokens/me/",
            [{"status_code": 429, "headers": {"Retry-After": "300"}, "json": {}}, {"json": USER}],
        )
        assert AceDataHook().get_current_user() == USER
        assert route.call_count == 2
        no_sleep.assert_called_once_with(300.0)

    def test_503_retried_with_exponential_backoff_until_limit(self, monkeypatch, requests_mock, no_sleep):
        monkeypatch.setenv("AIRFLOW_CONN_ACEDATA_DEFAULT", connection_json(retry_delay=2, retry_limit=3))
        route = requests_mock.get(f"{API}/platform-tokens/me/", status_code=503, json={"detail": "down"})
        with pytest.raises(AceDataServerError):
            AceDataHook().get_current_user()
        assert route.call_count == 4
        waits = [c.args[0] for c in no_sleep.call_args_list]
        assert [int(w) for w in waits] == [2, 4, 8]

    def test_503_then_success(self, hook, requests_mock):
        route = requests_mock.get(f"{API}/platform-tokens/me/", [{"status_code": 503}, {"json": USER}])
        assert hook.get_current_user() == USER
        assert route.call_count == 2

    @pytest.mark.parametrize("exc", [requests.ConnectionError, requests.ConnectTimeout, requests.ReadTimeout])
    def test_transport_errors_retried_for_get(self, hook, requests_mock, exc):
        route = requests_mock.get(f"{API}/platform-tokens/me/", [{"exc": exc}, {"json": USER}])
        assert hook.get_current_user() == USER
        assert route.call_count == 2

    def test_delete_retried(self, hook, requests_mock):
        route = requests_mock.delete(f"{API}/platform-tokens/{APP_ID}", [{"status_code": 500}, {"status_code": 204}])
        hook.delete_platform_token(APP_ID)
        assert route.call_count == 2

    @pytest.mark.parametrize(
        "response",
        [
            {"status_code": 503},
            {"status_code": 429, "headers": {"Retry-After": "1"}},
            {"exc": requests.ReadTimeout},
        ],
    )
    def test_post_never_retried(self, hook, requests_mock, response):
        route = requests_mock.post(f"{API}/platform-tokens/", [response, {"status_code": 201, "json": {}}])
        with pytest.raises((AceDataServerError, AceDataRateLimitError, AceDataTransportError)):
            hook.create_platform_token()
        assert route.call_count == 1

    def test_timeout_is_a_transport_error(self, hook, requests_mock):
        requests_mock.post(f"{API}/platform-tokens/", exc=requests.ReadTimeout)
        with pytest.raises(AceDataTransportError, match="timeout") as caught:
            hook.create_platform_token()
        assert caught.value.timed_out

    def test_4xx_not_retried(self, hook, requests_mock):
        route = requests_mock.get(f"{API}/platform-tokens/me/", status_code=401, json={"detail": "Invalid token."})
        with pytest.raises(AceDataAuthenticationError):
            hook.get_current_user()
        assert route.call_count == 1


# -- the async path (httpx), against the offline platform over real sockets ------------------------------


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
