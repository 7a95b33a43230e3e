"""What both hooks share (hooks/_base.py): the hook family, the secret sent, closing."""

from __future__ import annotations

import pytest
from testdata import API, TOKEN, USER, connection_json

from airflow_provider_acedata.exceptions import (
    AceDataConfigError,
)
from airflow_provider_acedata.hooks import AceDataHook

SERVICE = "d87e5e99-b797-4ade-9e73-b896896b0461"
APP_ID = "107f8d0f-e465-4a7e-a49e-d633d26f7aa2"


class TestHookFamily:
    """Hooks made with with_token share the connection, settings and session; the owner closes."""

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


class TestSecretSource:
    """Where the hook's secret comes from, as the requests it sends show."""

    def test_missing_token(self, monkeypatch, requests_mock):
        monkeypatch.setenv("AIRFLOW_CONN_ACEDATA_DEFAULT", connection_json(token=""))
        with pytest.raises(AceDataConfigError, match="password"):
            AceDataHook().get_current_user()
        assert requests_mock.call_count == 0

    def test_rotation_variable_overrides_password(self, monkeypatch, requests_mock):
        rotated = "platform-v1-" + "cd34" * 16
        monkeypatch.setenv("AIRFLOW_CONN_ACEDATA_DEFAULT", connection_json(rotation_variable="acedata_token"))
        monkeypatch.setenv("AIRFLOW_VAR_ACEDATA_TOKEN", rotated)
        route = requests_mock.get(f"{API}/platform-tokens/me/", json=USER)
        AceDataHook().get_current_user()
        assert route.last_request.headers["Authorization"] == f"Bearer {rotated}"

    def test_token_argument_overrides_connection(self, acedata_conn, requests_mock):
        other = "platform-v1-" + "ef56" * 16
        route = requests_mock.get(f"{API}/platform-tokens/me/", json=USER)
        AceDataHook(acedata_conn, token=other).get_current_user()
        assert route.last_request.headers["Authorization"] == f"Bearer {other}"
