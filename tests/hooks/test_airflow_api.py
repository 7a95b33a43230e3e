"""AirflowApiHook against requests-mock: URL forms, auth, PATCH, redaction (its store: tests/test_token_stores.py)."""

from __future__ import annotations

import pytest
from testdata import connection_json

from airflow_provider_acedata.exceptions import AceDataConfigError
from airflow_provider_acedata.hooks.airflow_api import AirflowApiError, AirflowApiHook

NEW = "platform-v1-" + "77aa" * 16


def api_conn(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_AIRFLOW_API", value)


@pytest.mark.parametrize(
    ("conn", "base"),
    [
        ('{"conn_type": "http", "host": "http://127.0.0.1:8080", "password": "t"}', "http://127.0.0.1:8080"),
        (
            '{"conn_type": "http", "host": "airflow.internal", "port": 8080, "password": "t"}',
            "http://airflow.internal:8080",
        ),
        ('{"conn_type": "http", "host": "airflow.test", "schema": "https", "password": "t"}', "https://airflow.test"),
        ("http://admin:secret@127.0.0.1:8080", "http://127.0.0.1:8080"),
    ],
)
def test_base_url_accepts_url_or_host_and_port(monkeypatch, conn, base):
    api_conn(monkeypatch, conn)
    assert AirflowApiHook().base_url == base


def test_login_and_password_are_exchanged_for_a_jwt(monkeypatch, requests_mock):
    api_conn(monkeypatch, "http://admin:s3cret@127.0.0.1:8080")
    monkeypatch.setenv("AIRFLOW_CONN_ACEDATA_DEFAULT", connection_json())
    login = requests_mock.post("http://127.0.0.1:8080/auth/token", status_code=201, json={"access_token": "jwt-abc"})
    patch = requests_mock.patch("http://127.0.0.1:8080/api/v2/connections/acedata_default", json={})
    hook = AirflowApiHook()
    hook.set_connection_password("acedata_default", NEW)
    assert login.last_request.json() == {"username": "admin", "password": "s3cret"}
    sent = patch.last_request
    assert sent.headers["Authorization"] == "Bearer jwt-abc"
    assert "jwt-abc" not in repr(hook.session.auth)
    assert sent.qs == {"update_mask": ["password"]}
    assert sent.json() == {"connection_id": "acedata_default", "conn_type": "acedata", "password": NEW}
    assert sent.timeout == 30.0


def test_password_alone_is_the_bearer_token(monkeypatch, requests_mock):
    api_conn(monkeypatch, '{"conn_type": "http", "host": "http://127.0.0.1:8080", "password": "api-token-1"}')
    monkeypatch.setenv("AIRFLOW_CONN_ACEDATA_DEFAULT", connection_json())
    patch = requests_mock.patch("http://127.0.0.1:8080/api/v2/connections/acedata_default", json={})
    AirflowApiHook().set_connection_password("acedata_default", NEW)
    assert patch.last_request.headers["Authorization"] == "Bearer api-token-1"
    assert requests_mock.call_count == 1


def test_errors_never_echo_the_new_token(monkeypatch, requests_mock):
    api_conn(monkeypatch, '{"conn_type": "http", "host": "http://127.0.0.1:8080", "password": "t"}')
    monkeypatch.setenv("AIRFLOW_CONN_ACEDATA_DEFAULT", connection_json())
    requests_mock.patch(
        "http://127.0.0.1:8080/api/v2/connections/acedata_default",
        status_code=422,
        json={"detail": [{"msg": "bad", "input": {"password": NEW}}]},
    )
    with pytest.raises(AirflowApiError) as caught:
        AirflowApiHook().set_connection_password("acedata_default", NEW)
    assert caught.value.status_code == 422
    assert NEW not in str(caught.value)


def test_missing_credentials_is_a_config_error(monkeypatch):
    api_conn(monkeypatch, '{"conn_type": "http", "host": "http://127.0.0.1:8080"}')
    with pytest.raises(AceDataConfigError, match="login and password"):
        _ = AirflowApiHook().session
