"""AceDataHook against requests-mock: auth, envelopes, paging, errors, retries, https, secrets."""

from __future__ import annotations

import json
import secrets
from unittest import mock

import pytest
import requests
from airflow.sdk.log import mask_secret  # noqa: F401  (registers the masker used by redact)
from testdata import API, TOKEN, USER, connection_json, redact

from airflow_provider_acedata import __version__
from airflow_provider_acedata.exceptions import (
    AceDataApiError,
    AceDataAuthenticationError,
    AceDataConfigError,
    AceDataDuplicationError,
    AceDataInputError,
    AceDataNotFoundError,
    AceDataPermissionError,
    AceDataRateLimitError,
    AceDataServerError,
    AceDataTransportError,
    AceDataValidationError,
)
from airflow_provider_acedata.hooks import AceDataHook

SERVICE = "d87e5e99-b797-4ade-9e73-b896896b0461"
APP_ID = "107f8d0f-e465-4a7e-a49e-d633d26f7aa2"


class TestRequests:
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

    def test_missing_token(self, monkeypatch, requests_mock):
        monkeypatch.setenv("AIRFLOW_CONN_ACEDATA_DEFAULT", connection_json(token=""))
        with pytest.raises(AceDataConfigError, match="password"):
            AceDataHook().get_current_user()
        assert requests_mock.call_count == 0

    def test_user_jwt_warns_but_works(self, monkeypatch, requests_mock, capsys):
        jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZGEifQ.c2lnbmF0dXJlc2lnbmF0dXJl"
        monkeypatch.setenv("AIRFLOW_CONN_ACEDATA_DEFAULT", connection_json(token=jwt))
        requests_mock.get(f"{API}/platform-tokens/me/", json=USER)
        assert AceDataHook().get_current_user() == USER
        logged = capsys.readouterr().out
        assert "does not start with 'platform-'" in logged
        assert jwt not in logged

    def test_rotation_variable_overrides_password(self, monkeypatch, requests_mock):
        rotated = "platform-v1-" + "cd34" * 16
        monkeypatch.setenv("AIRFLOW_CONN_ACEDATA_DEFAULT", connection_json(rotation_variable="acedata_token"))
        monkeypatch.setenv("AIRFLOW_VAR_ACEDATA_TOKEN", rotated)
        route = requests_mock.get(f"{API}/platform-tokens/me/", json=USER)
        AceDataHook().get_current_user()
        assert route.last_request.headers["Authorization"] == f"Bearer {rotated}"

    def test_token_variable_is_a_deprecated_alias(self, monkeypatch, requests_mock):
        rotated = "platform-v1-" + "cd34" * 16
        monkeypatch.setenv("AIRFLOW_CONN_ACEDATA_DEFAULT", connection_json(token_variable="acedata_token"))
        monkeypatch.setenv("AIRFLOW_VAR_ACEDATA_TOKEN", rotated)
        route = requests_mock.get(f"{API}/platform-tokens/me/", json=USER)
        with pytest.warns(DeprecationWarning, match="rotation_variable"):
            AceDataHook().get_current_user()
        assert route.last_request.headers["Authorization"] == f"Bearer {rotated}"

    def test_unset_rotation_variable_falls_back_to_password(self, monkeypatch, requests_mock):
        monkeypatch.setenv("AIRFLOW_CONN_ACEDATA_DEFAULT", connection_json(rotation_variable="acedata_missing"))
        route = requests_mock.get(f"{API}/platform-tokens/me/", json=USER)
        AceDataHook().get_current_user()
        assert route.last_request.headers["Authorization"] == f"Bearer {TOKEN}"

    def test_token_argument_overrides_connection(self, acedata_conn, requests_mock):
        other = "platform-v1-" + "ef56" * 16
        route = requests_mock.get(f"{API}/platform-tokens/me/", json=USER)
        AceDataHook(acedata_conn, token=other).get_current_user()
        assert route.last_request.headers["Authorization"] == f"Bearer {other}"

    def test_pasted_bearer_prefix_is_stripped(self, monkeypatch, requests_mock):
        monkeypatch.setenv("AIRFLOW_CONN_ACEDATA_DEFAULT", connection_json(token=f"Bearer {TOKEN}"))
        route = requests_mock.get(f"{API}/platform-tokens/me/", json=USER)
        AceDataHook().get_current_user()
        assert route.last_request.headers["Authorization"] == f"Bearer {TOKEN}"


class TestHookFamily:
    def test_with_token_shares_connection_settings_and_session(self, monkeypatch, requests_mock):
        monkeypatch.setenv("AIRFLOW_CONN_ACEDATA_DEFAULT", connection_json(timeout=7))
        other = "platform-v1-" + "ef56" * 16
        route = requests_mock.get(f"{API}/platform-tokens/me/", json=USER)
        parent = AceDataHook()
        parent.get_current_user()
        child = parent.with_token(other, user_id=USER["id"])

        child.get_current_user()

        assert child.session is parent.session
        assert child.connection is parent.connection
        assert child.user_id == USER["id"]
        assert route.last_request.headers["Authorization"] == f"Bearer {other}"
        assert route.last_request.timeout == 7.0
        assert parent.token == TOKEN

    def test_given_user_id_skips_the_identity_call(self, acedata_conn, requests_mock):
        route = requests_mock.get(f"{API}/applications/", json={"count": 0, "items": []})
        assert list(AceDataHook(acedata_conn, user_id=USER["id"]).iter_applications()) == []
        assert route.last_request.qs["user_id"] == [USER["id"]]
        assert requests_mock.call_count == 1

    def test_close_closes_the_owned_session_only(self, acedata_conn, me):
        with AceDataHook(acedata_conn) as parent:
            parent.get_current_user()
            session = parent.session
            child = parent.with_token("platform-v1-" + "ef56" * 16)
            child.close()
            assert parent.session is session
        assert parent.session is not session


class TestPaging:
    @staticmethod
    def pages(requests_mock, total: int, page_size: int, key: str = "items"):
        """Serve ``total`` applications, at most ``page_size`` per page whatever limit is asked."""

        def answer(request, context):
            offset = int(request.qs["offset"][0])
            limit = min(int(request.qs["limit"][0]), page_size)
            items = [{"id": f"app-{i}"} for i in range(offset, min(offset + limit, total))]
            return {"count": total, key: items}

        return requests_mock.get(f"{API}/applications/", json=answer)

    def test_pages_of_100_until_count(self, hook, me, requests_mock):
        route = self.pages(requests_mock, total=250, page_size=1000)
        ids = [app["id"] for app in hook.iter_applications()]
        assert ids == [f"app-{i}" for i in range(250)]
        assert [r.qs["offset"] for r in route.request_history] == [["0"], ["100"], ["200"]]
        assert {r.qs["limit"][0] for r in route.request_history} == {"100"}

    def test_advances_by_items_received_when_server_clamps(self, hook, me, requests_mock):
        route = self.pages(requests_mock, total=120, page_size=50)
        assert len(list(hook.iter_applications())) == 120
        assert [r.qs["offset"][0] for r in route.request_history] == ["0", "50", "100"]

    def test_reads_legacy_results_envelope(self, hook, me, requests_mock):
        self.pages(requests_mock, total=3, page_size=100, key="results")
        assert len(list(hook.iter_applications())) == 3

    def test_stops_on_empty_page_even_if_count_lies(self, hook, me, requests_mock):
        route = requests_mock.get(
            f"{API}/applications/",
            [{"json": {"count": 500, "items": [{"id": "a"}]}}, {"json": {"count": 500, "items": []}}],
        )
        assert [a["id"] for a in hook.iter_applications()] == ["a"]
        assert route.call_count == 2

    def test_owner_lists_send_user_id_resolved_once(self, hook, me, requests_mock):
        apps = requests_mock.get(f"{API}/applications/", json={"count": 0, "items": []})
        tokens = requests_mock.get(f"{API}/platform-tokens/", json={"count": 0, "items": []})
        list(hook.iter_applications(service_id=SERVICE, application_type="Usage", scope="Individual"))
        list(hook.iter_platform_tokens(tag="rotation"))
        assert me.call_count == 1
        assert apps.last_request.qs == {
            "user_id": [USER["id"]],
            "service_id": [SERVICE],
            "type": ["usage"],
            "scope": ["individual"],
            "ordering": ["created_at"],
            "limit": ["100"],
            "offset": ["0"],
        }
        assert tokens.last_request.qs["user_id"] == [USER["id"]]
        assert tokens.last_request.qs["tag"] == ["rotation"]

    def test_find_application_matches_exactly(self, hook, me, requests_mock):
        requests_mock.get(
            f"{API}/applications/",
            json={
                "count": 2,
                "items": [
                    {"id": "wrong", "service_id": SERVICE, "type": "Period", "scope": "Individual"},
                    {"id": APP_ID, "service_id": SERVICE, "type": "Usage", "scope": "Individual"},
                ],
            },
        )
        assert hook.find_application(SERVICE)["id"] == APP_ID


class TestErrors:
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

    def test_delete_of_missing_token_counts_as_deleted(self, hook, requests_mock):
        route = requests_mock.delete(f"{API}/platform-tokens/{APP_ID}", status_code=404, json={"detail": "Not found."})
        assert hook.delete_platform_token(APP_ID) is None
        assert route.call_count == 1

    def test_delete_204(self, hook, requests_mock):
        route = requests_mock.delete(f"{API}/platform-tokens/{APP_ID}", status_code=204)
        hook.delete_platform_token(APP_ID)
        assert route.call_count == 1

    @pytest.mark.parametrize(
        ("call", "field"),
        [
            (lambda h: h.create_application("not-a-uuid"), "service_id"),
            (lambda h: h.create_application(SERVICE, application_type="Daily"), "application_type"),
            (lambda h: h.create_application(SERVICE, scope="Team"), "scope"),
            (lambda h: h.create_application(SERVICE, scope="Global"), "service_id"),
            (lambda h: h.get_application("../platform-tokens"), "application_id"),
            (lambda h: h.delete_platform_token("x"), "token_id"),
        ],
    )
    def test_bad_input_fails_before_any_request(self, hook, requests_mock, call, field):
        with pytest.raises(AceDataInputError, match=field):
            call(hook)
        assert requests_mock.call_count == 0

    def test_global_application_sends_no_service(self, hook, requests_mock):
        route = requests_mock.post(f"{API}/applications/", status_code=201, json={"id": APP_ID})
        hook.create_application(None, scope="Global")
        assert route.last_request.json() == {"type": "Usage", "scope": "Global"}


class TestRetries:
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

    def test_test_connection_does_not_name_airflows_temporary_connection_id(self, monkeypatch, requests_mock):
        monkeypatch.setenv("AIRFLOW_CONN_XKQ3J9ZTEMP", connection_json(token=""))
        ok, message = AceDataHook("xkq3j9ztemp").test_connection()
        assert not ok
        assert "Platform Token (password) of this connection is empty" in message
        assert "xkq3j9ztemp" not in message
        assert requests_mock.call_count == 0

    def test_test_connection_is_not_retried(self, hook, requests_mock, no_sleep):
        route = requests_mock.get(f"{API}/platform-tokens/me/", status_code=503, json={"detail": "down"})
        ok, message = hook.test_connection()
        assert not ok
        assert "503" in message
        assert route.call_count == 1

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


class TestSecrets:
    def test_token_never_in_exception_or_repr(self, hook, requests_mock):
        requests_mock.get(f"{API}/platform-tokens/me/", status_code=401, json={"detail": f"Invalid token {TOKEN}"})
        with pytest.raises(AceDataAuthenticationError) as caught:
            hook.get_current_user()
        for text in (
            str(caught.value),
            repr(caught.value),
            caught.value.api_message,
            repr(hook),
            repr(hook.session.headers),
            repr(hook.family.endpoint),
            repr(hook.family.source),
            repr(hook.family.policy),
        ):
            assert TOKEN not in text

    def test_token_from_the_rotation_variable_masked_when_read(self, monkeypatch, requests_mock):
        """Airflow masks a Variable only if its key looks sensitive; this key does not, so the hook must."""
        from airflow.sdk import Variable

        rotated = "platform-v1-" + secrets.token_hex(32)
        monkeypatch.setenv("AIRFLOW_CONN_ACEDATA_DEFAULT", connection_json(rotation_variable="acedata_rotated"))
        monkeypatch.setenv("AIRFLOW_VAR_ACEDATA_ROTATED", rotated)
        requests_mock.get(f"{API}/platform-tokens/me/", json=USER)
        assert Variable.get("acedata_rotated") == rotated
        assert rotated in redact(f"token is {rotated}"), "Airflow masked the Variable itself: this test proves nothing"

        AceDataHook().get_current_user()

        assert rotated not in redact(f"token is {rotated}")

    def test_new_platform_token_masked_on_receipt(self, hook, requests_mock):
        new = "platform-v1-" + "9f8e" * 16
        route = requests_mock.post(f"{API}/platform-tokens/", status_code=201, json={"id": APP_ID, "token": new})
        created = hook.create_platform_token(tags=["rotation"], metadata={"rotated_from": "x"})
        assert created["token"] == new
        assert route.last_request.json() == {"tags": ["rotation"], "metadata": {"rotated_from": "x"}}
        assert new not in redact(f"new {new}")

    def test_api_keys_inside_applications_masked(self, hook, requests_mock):
        key = "c0ffee" * 6
        requests_mock.get(
            f"{API}/applications/{APP_ID}", json={"id": APP_ID, "credentials": [{"id": "c", "token": key}]}
        )
        hook.get_application(APP_ID)
        assert key not in redact(key)

    def test_test_connection_ok_and_failure(self, hook, requests_mock):
        requests_mock.get(
            f"{API}/platform-tokens/me/", [{"json": USER}, {"status_code": 401, "json": {"detail": TOKEN}}]
        )
        assert hook.test_connection() == (True, "Connected as ada")
        ok, message = hook.test_connection()
        assert not ok
        assert "401" in message
        assert TOKEN not in message

    def test_test_connection_never_raises(self, monkeypatch):
        monkeypatch.setenv("AIRFLOW_CONN_ACEDATA_DEFAULT", connection_json(host="http://remote.test"))
        ok, message = AceDataHook().test_connection()
        assert not ok
        assert "https" in message


class TestListsKeepSecretsInside:
    """List pages carry every token in clear; the hook drops them instead of registering each with the masker."""

    def test_token_values_blanked_and_not_registered(self, hook, me, requests_mock):
        listed = "platform-v1-" + "1234" * 16
        requests_mock.get(
            f"{API}/platform-tokens/",
            json={"count": 1, "items": [{"id": APP_ID, "token": listed, "tags": ["x"], "metadata": {"k": 1}}]},
        )
        with mock.patch("airflow_provider_acedata.masking.mask_secret") as masker:
            items = list(hook.iter_platform_tokens())
        assert items == [{"id": APP_ID, "token": None, "tags": ["x"], "metadata": {"k": 1}}]
        assert listed not in [c.args[0] for c in masker.call_args_list]

    def test_find_platform_token_compares_inside_the_hook(self, hook, me, requests_mock):
        other = "platform-v1-" + "5678" * 16
        requests_mock.get(
            f"{API}/platform-tokens/",
            json={"count": 2, "items": [{"id": "a", "token": other}, {"id": APP_ID, "token": TOKEN}]},
        )
        assert hook.find_platform_token(TOKEN) == {"id": APP_ID, "token": None}
        assert hook.find_platform_token("platform-v1-unknown") is None
