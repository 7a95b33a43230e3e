"""The rotation pre-flight: a store that cannot feed the rotated connection fails before the lease, changes nothing."""

from __future__ import annotations

import pytest
from rotation_support import EnvConnectionStore, live, rotation

from airflow_provider_acedata.exceptions import AceDataError
from airflow_provider_acedata.rotation import RotationError
from airflow_provider_acedata.testing import FakeAceDataPlatform
from airflow_provider_acedata.token_stores import AirflowConnectionTokenStore, TokenStoreError, VariableTokenStore


@pytest.fixture
def connection(rotation_platform: FakeAceDataPlatform) -> EnvConnectionStore:
    """``acedata_default`` on the offline platform, defined by its AIRFLOW_CONN_ variable."""
    connection = EnvConnectionStore(rotation_platform)
    rotation_platform.clear_requests()
    return connection


def assert_nothing_changed(rotation_platform: FakeAceDataPlatform) -> None:
    assert rotation_platform.requests == [], "the pre-flight must run before any platform call"
    assert [t["token"] for t in live(rotation_platform)] == [rotation_platform.token]


def test_variable_store_the_connection_does_not_read(rotation_platform, connection):
    with pytest.raises(RotationError, match="needs the connection extra rotation_variable set to 'acedata_token'"):
        rotation(VariableTokenStore("acedata_token")).run()
    assert_nothing_changed(rotation_platform)


def test_connection_store_for_another_connection(rotation_platform, connection):
    with pytest.raises(TokenStoreError, match="conn_id='acedata_other'"):
        rotation(AirflowConnectionTokenStore(conn_id="acedata_other")).run()
    assert_nothing_changed(rotation_platform)


def test_connection_store_for_a_connection_only_the_environment_defines(rotation_platform, connection):
    with pytest.raises(TokenStoreError, match="environment variable AIRFLOW_CONN_ACEDATA_DEFAULT"):
        rotation(AirflowConnectionTokenStore()).run()
    assert_nothing_changed(rotation_platform)


def test_a_store_whose_own_preflight_fails(rotation_platform, connection):
    class Unreachable(EnvConnectionStore):
        def preflight(self) -> None:
            raise TokenStoreError("the vault is sealed")

    with pytest.raises(AceDataError, match="the vault is sealed"):
        rotation(Unreachable(rotation_platform)).run()
    assert_nothing_changed(rotation_platform)
