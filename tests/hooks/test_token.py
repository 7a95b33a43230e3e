"""TokenSource: the connection read once, the secret from the Variable or the password, re-read on demand."""

from __future__ import annotations

import asyncio
import secrets
from unittest import mock

import pytest
from testdata import TOKEN, connection_json, redact

from airflow_provider_acedata.exceptions import AceDataConfigError
from airflow_provider_acedata.hooks._token import TokenSource
from airflow_provider_acedata.version_compat import BaseHook

ENV = "AIRFLOW_CONN_ACEDATA_DEFAULT"
ROTATED = "platform-v1-" + "cd34" * 16


def source(check=None) -> TokenSource:
    return TokenSource("acedata_default", conn_type="acedata", secret_name="Platform Token", check=check)


@pytest.fixture
def reads(monkeypatch) -> mock.MagicMock:
    """Counts the connection look-ups (``BaseHook.get_connection``) while still answering them."""
    counter = mock.MagicMock(side_effect=BaseHook.get_connection)
    monkeypatch.setattr(BaseHook, "get_connection", counter)
    return counter


def test_the_password_is_the_secret_and_the_connection_is_read_once(monkeypatch, reads):
    monkeypatch.setenv(ENV, connection_json(timeout=5))
    tokens = source()

    assert tokens.token == TOKEN
    assert tokens.extras == {"timeout": 5}
    assert tokens.connection.host == "https://platform.example.test"
    assert reads.call_count == 1


def test_the_rotation_variable_overrides_the_password(monkeypatch, reads):
    monkeypatch.setenv(ENV, connection_json(rotation_variable="acedata_token"))
    monkeypatch.setenv("AIRFLOW_VAR_ACEDATA_TOKEN", ROTATED)

    assert source().token == ROTATED


def test_an_unset_rotation_variable_falls_back_to_the_password(monkeypatch):
    monkeypatch.setenv(ENV, connection_json(rotation_variable="acedata_missing"))

    assert source().token == TOKEN


def test_token_variable_is_a_deprecated_alias(monkeypatch):
    monkeypatch.setenv(ENV, connection_json(token_variable="acedata_token"))
    monkeypatch.setenv("AIRFLOW_VAR_ACEDATA_TOKEN", ROTATED)

    with pytest.warns(DeprecationWarning, match="rename it to 'rotation_variable'"):
        assert source().token == ROTATED


def test_legacy_prefixed_extras_are_read(monkeypatch):
    monkeypatch.setenv(ENV, connection_json(extra__acedata__rotation_variable="acedata_token"))
    monkeypatch.setenv("AIRFLOW_VAR_ACEDATA_TOKEN", ROTATED)

    assert source().rotation_variable == "acedata_token"


def test_a_pasted_bearer_prefix_is_stripped(monkeypatch):
    monkeypatch.setenv(ENV, connection_json(token=f"Bearer {TOKEN}"))

    assert source().token == TOKEN


def test_an_empty_secret_names_the_field_and_where_it_was_read(monkeypatch):
    monkeypatch.setenv(ENV, connection_json(token="  "))

    with pytest.raises(AceDataConfigError, match=r"No Platform Token: the Platform Token \(password\) of connection"):
        _ = source().token


def test_fresh_rereads_the_password_from_the_connection(monkeypatch, reads):
    monkeypatch.setenv(ENV, connection_json())
    tokens = source()
    assert tokens.token == TOKEN
    monkeypatch.setenv(ENV, connection_json(token=ROTATED))

    assert tokens.token == TOKEN
    assert tokens.fresh() == ROTATED
    assert tokens.token == ROTATED
    assert reads.call_count == 2


def test_fresh_rereads_only_the_variable_when_the_connection_names_one(monkeypatch, reads):
    monkeypatch.setenv(ENV, connection_json(rotation_variable="acedata_token"))
    monkeypatch.setenv("AIRFLOW_VAR_ACEDATA_TOKEN", TOKEN)
    tokens = source()
    assert tokens.token == TOKEN
    monkeypatch.setenv("AIRFLOW_VAR_ACEDATA_TOKEN", ROTATED)

    assert tokens.fresh() == ROTATED
    assert reads.call_count == 1


def test_async_reads_never_use_the_blocking_lookup(monkeypatch):
    monkeypatch.setenv(ENV, connection_json())
    tokens = source()

    async def read() -> tuple[str, str]:
        first = await tokens.atoken()
        monkeypatch.setenv(ENV, connection_json(token=ROTATED))
        return first, await tokens.afresh()

    with mock.patch.object(BaseHook, "get_connection", side_effect=AssertionError("sync lookup in a trigger")):
        assert asyncio.run(read()) == (TOKEN, ROTATED)


def test_every_secret_read_or_given_is_masked_and_redacted(monkeypatch):
    secret = "platform-v1-" + secrets.token_hex(32)
    given = "platform-v1-" + secrets.token_hex(32)
    monkeypatch.setenv(ENV, connection_json(token=secret))
    tokens = source()
    assert tokens.token == secret
    tokens.remember(given)

    text = f"failed with {secret} and {given}"
    assert tokens.redact(text) == "failed with *** and ***"
    assert secret not in redact(text) and given not in redact(text)
    assert secret not in repr(tokens)


def test_the_check_sees_each_secret_and_where_it_came_from(monkeypatch):
    monkeypatch.setenv(ENV, connection_json(rotation_variable="acedata_token"))
    monkeypatch.setenv("AIRFLOW_VAR_ACEDATA_TOKEN", ROTATED)
    seen = []

    assert source(check=lambda secret, where: seen.append((secret, where))).token == ROTATED

    assert seen == [(ROTATED, "Variable 'acedata_token'")]
