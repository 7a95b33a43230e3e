"""Token stores: pre-flight and binding (setup mistakes found by reading only, before a rotation changes anything),
and the REST store's save, which reads the connection back."""

from __future__ import annotations

import json

import pytest
from testdata import TOKEN, connection_json

from airflow_provider_acedata.hooks import AceDataHook
from airflow_provider_acedata.token_stores import (
    AirflowConnectionTokenStore,
    Holding,
    TokenStoreError,
    VariableTokenStore,
)

REST = "http://127.0.0.1:8080/api/v2/connections/acedata_default"
API_CONN = '{"conn_type": "http", "host": "http://127.0.0.1:8080", "password": "t"}'
NEW = "platform-v1-" + "77aa" * 16


@pytest.fixture
def in_database(monkeypatch: pytest.MonkeyPatch) -> None:
    """The acedata connection is not in the environment (it lives in the metadata database); the REST one is."""
    monkeypatch.delenv("AIRFLOW_CONN_ACEDATA_DEFAULT", raising=False)
    monkeypatch.setenv("AIRFLOW_CONN_AIRFLOW_API", API_CONN)


def hook_with(monkeypatch: pytest.MonkeyPatch, **extra: object) -> AceDataHook:
    monkeypatch.setenv("AIRFLOW_CONN_ACEDATA_DEFAULT", connection_json(**extra))
    return AceDataHook()


class TestConnectionStorePreflight:
    def test_passes_for_a_connection_the_rest_api_holds(self, in_database, requests_mock):
        requests_mock.get(REST, json={"connection_id": "acedata_default", "password": "***"})
        AirflowConnectionTokenStore().preflight()
        assert requests_mock.call_count == 1

    def test_refuses_a_connection_defined_by_an_environment_variable(self, in_database, monkeypatch, requests_mock):
        monkeypatch.setenv("AIRFLOW_CONN_ACEDATA_DEFAULT", connection_json())
        with pytest.raises(TokenStoreError, match=r"environment variable AIRFLOW_CONN_ACEDATA_DEFAULT.*Nothing was"):
            AirflowConnectionTokenStore().preflight()
        assert requests_mock.call_count == 0

    def test_refuses_a_connection_the_metadata_database_does_not_hold(self, in_database, requests_mock):
        requests_mock.get(REST, status_code=404, json={"detail": "not found"})
        with pytest.raises(TokenStoreError, match="not in Airflow's metadata database"):
            AirflowConnectionTokenStore().preflight()

    def test_names_a_missing_airflow_api_connection(self, in_database, monkeypatch, requests_mock):
        monkeypatch.delenv("AIRFLOW_CONN_AIRFLOW_API")
        with pytest.raises(TokenStoreError, match="'airflow_api'"):
            AirflowConnectionTokenStore().preflight()
        assert requests_mock.call_count == 0

    def test_names_the_airflow_api_connection_when_the_rest_api_refuses_it(self, in_database, requests_mock):
        requests_mock.get(REST, status_code=401, json={"detail": "Not authenticated"})
        with pytest.raises(TokenStoreError, match=r"through connection 'airflow_api'.*401"):
            AirflowConnectionTokenStore().preflight()


class TestBinding:
    def test_a_store_without_conn_id_binds_to_the_rotated_connection(self):
        bound = AirflowConnectionTokenStore(airflow_api_conn_id="api").for_connection("acedata_prod")
        assert (bound.conn_id, bound.airflow_api_conn_id) == ("acedata_prod", "api")
        assert AirflowConnectionTokenStore().conn_id == "acedata_default"

    def test_a_store_for_another_connection_is_refused(self):
        with pytest.raises(TokenStoreError, match=r"conn_id='acedata_other'.*'acedata_default'"):
            AirflowConnectionTokenStore(conn_id="acedata_other").for_connection("acedata_default")

    def test_a_matching_conn_id_is_kept(self):
        store = AirflowConnectionTokenStore(conn_id="acedata_default")
        assert store.for_connection("acedata_default") is store


class TestMismatch:
    def test_variable_store_needs_the_connection_to_read_its_variable(self, monkeypatch):
        store = VariableTokenStore("acedata_token")
        assert "rotation_variable set to 'acedata_token'" in str(store.mismatch(hook_with(monkeypatch)))
        assert "reads Variable 'other'" in str(store.mismatch(hook_with(monkeypatch, rotation_variable="other")))
        assert store.mismatch(hook_with(monkeypatch, rotation_variable="acedata_token")) is None

    def test_connection_store_refuses_a_connection_that_reads_a_variable(self, monkeypatch):
        reason = AirflowConnectionTokenStore().mismatch(hook_with(monkeypatch, rotation_variable="acedata_token"))
        assert reason is not None
        assert "1) set the connection's password" in reason and "2) remove the extra rotation_variable" in reason
        assert AirflowConnectionTokenStore().mismatch(hook_with(monkeypatch)) is None


class TestConnectionStoreSave:
    def test_reads_back_and_refuses_a_shadowed_connection(self, monkeypatch, requests_mock):
        """An AIRFLOW_CONN_ variable shadows the database the REST API updates: the store must notice."""
        monkeypatch.setenv("AIRFLOW_CONN_AIRFLOW_API", API_CONN)
        monkeypatch.setenv("AIRFLOW_CONN_ACEDATA_DEFAULT", connection_json(token=TOKEN))
        requests_mock.patch(REST, json={})
        store = AirflowConnectionTokenStore()
        with pytest.raises(TokenStoreError, match="shadowing"):
            store.save(NEW)
        assert store.holds(TOKEN) is Holding.THIS
        assert store.holds(NEW) is Holding.OTHER
        assert NEW not in repr(store) and "acedata_default" in repr(store)

    def test_succeeds_when_the_connection_reads_back_the_new_token(self, monkeypatch, requests_mock):
        monkeypatch.setenv("AIRFLOW_CONN_AIRFLOW_API", API_CONN)
        monkeypatch.setenv("AIRFLOW_CONN_ACEDATA_DEFAULT", connection_json(token=TOKEN))

        def applied(request, context):
            password = json.loads(request.body)["password"]
            monkeypatch.setenv("AIRFLOW_CONN_ACEDATA_DEFAULT", connection_json(token=password))
            return {}

        route = requests_mock.patch(REST, json=applied)
        AirflowConnectionTokenStore().save(NEW)
        assert route.call_count == 1


def test_switching_to_the_connection_store_says_how_to_read_and_retire_the_variable(monkeypatch):
    """The UI shows a Variable's value as ***: the message names the CLI that prints it, and what to do after."""
    monkeypatch.setenv("AIRFLOW_CONN_ACEDATA_DEFAULT", connection_json(rotation_variable="acedata_platform_token"))

    message = AirflowConnectionTokenStore().mismatch(AceDataHook())

    assert message is not None
    assert "`airflow variables get acedata_platform_token`" in message
    assert "remove the extra rotation_variable" in message
    assert "`airflow variables delete acedata_platform_token`" in message
