"""RotatePlatformTokenOperator and DeletePlatformTokenOperator against the offline platform on a real socket."""

from __future__ import annotations

import json
import os

import pytest
from testdata import pushed

from airflow_provider_acedata.exceptions import AceDataInputError
from airflow_provider_acedata.operators import DeletePlatformTokenOperator, RotatePlatformTokenOperator
from airflow_provider_acedata.rotation import RotationError
from airflow_provider_acedata.testing import FakeAceDataPlatform
from airflow_provider_acedata.token_stores import TokenStore, VariableTokenStore

ENV = "AIRFLOW_CONN_ACEDATA_DEFAULT"


class ConnectionEnvStore(TokenStore):
    """Writes the token into the AIRFLOW_CONN_ variable the hook reads: the store feeds the connection."""

    def save(self, token: str) -> None:
        connection = json.loads(os.environ[ENV])
        os.environ[ENV] = json.dumps({**connection, "password": token})

    def load(self) -> str | None:
        return json.loads(os.environ[ENV])["password"]


class TestRotatePlatformToken:
    def test_returns_the_new_id_and_pushes_the_revoked_ones(self, platform: FakeAceDataPlatform, context, monkeypatch):
        monkeypatch.setenv(ENV, os.environ[ENV])  # restored after the test, whatever the store wrote
        old = platform.live_tokens()[0]
        operator = RotatePlatformTokenOperator(task_id="rotate", token_store=ConnectionEnvStore(), lease_poll=0.05)

        new_id = operator.execute(context)

        [alive] = platform.live_tokens()
        assert alive["id"] == new_id != old["id"]
        assert pushed(context) == {"revoked_token_ids": [old["id"]]}
        assert json.loads(os.environ[ENV])["password"] == alive["token"]
        assert alive["metadata"]["task_id"] == "rotate" and alive["metadata"]["rotated_from"] == old["id"]

    def test_a_store_the_connection_does_not_read_fails_before_any_call(self, platform, context):
        platform.clear_requests()
        operator = RotatePlatformTokenOperator(task_id="rotate", token_store=VariableTokenStore("acedata_token"))

        with pytest.raises(RotationError, match="rotation_variable"):
            operator.execute(context)

        assert platform.requests == []
        assert pushed(context) == {}

    def test_keep_previous_is_checked_when_the_dag_is_parsed(self):
        with pytest.raises(ValueError, match="keep_previous"):
            RotatePlatformTokenOperator(task_id="rotate", token_store=ConnectionEnvStore(), keep_previous=-1)

    def test_retries_default_to_zero(self):
        assert RotatePlatformTokenOperator(task_id="rotate", token_store=ConnectionEnvStore()).retries == 0


class TestDeletePlatformToken:
    def test_revokes_the_token_and_returns_its_id(self, platform: FakeAceDataPlatform, context):
        spare = platform.issue_token()

        assert DeletePlatformTokenOperator(task_id="delete", token_id=spare["id"]).execute(context) == spare["id"]

        assert not platform.is_live(spare["token"])
        assert platform.is_live(platform.token)

    def test_a_token_already_gone_counts_as_deleted(self, platform: FakeAceDataPlatform, context):
        spare = platform.issue_token()
        DeletePlatformTokenOperator(task_id="delete", token_id=spare["id"]).execute(context)

        assert DeletePlatformTokenOperator(task_id="delete", token_id=spare["id"]).execute(context) == spare["id"]
        assert len(platform.calls("DELETE")) == 2

    def test_a_bad_id_fails_before_any_call(self, platform: FakeAceDataPlatform, context):
        platform.clear_requests()
        with pytest.raises(AceDataInputError, match="token_id"):
            DeletePlatformTokenOperator(task_id="delete", token_id="not-a-uuid").execute(context)
        assert platform.requests == []

    def test_token_id_is_templated(self):
        assert "token_id" in DeletePlatformTokenOperator.template_fields
