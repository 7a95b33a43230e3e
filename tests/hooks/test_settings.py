"""The one table of connection settings: what the hooks read and what both connection forms show."""

from __future__ import annotations

import re

import pytest

from airflow_provider_acedata.exceptions import AceDataConfigError
from airflow_provider_acedata.get_provider_info import get_provider_info
from airflow_provider_acedata.hooks._settings import SETTINGS, ConnectionSettings

WHERE = "Connection 'x'"


def test_defaults_when_nothing_is_set():
    assert ConnectionSettings.read({}, {}, WHERE) == ConnectionSettings(
        timeout=30.0, retry_limit=3, retry_delay=1.0, max_retry_wait=60.0
    )


def test_hook_arguments_win_over_extras_and_strings_are_read():
    read = ConnectionSettings.read({"timeout": "5", "retry_limit": "1", "max_retry_wait": 2}, {"timeout": 2.5}, WHERE)

    assert read == ConnectionSettings(timeout=2.5, retry_limit=1, retry_delay=1.0, max_retry_wait=2.0)
    assert isinstance(read.retry_limit, int)


@pytest.mark.parametrize(
    ("extras", "message"),
    [
        ({"timeout": "soon"}, "'timeout' must be a number, got 'soon'"),
        ({"timeout": 0.05}, "'timeout' must be >= 0.1, got 0.05"),
        ({"retry_limit": -1}, "'retry_limit' must be >= 0, got -1"),
        ({"retry_limit": 1.5}, "'retry_limit' must be an integer, got 1.5"),
        ({"retry_delay": True}, "'retry_delay' must be a number, got True"),
        ({"max_retry_wait": [60]}, "'max_retry_wait' must be a number"),
    ],
)
def test_bad_values_name_the_connection_and_the_extra(extras, message):
    with pytest.raises(AceDataConfigError, match="^" + re.escape(f"{WHERE}: extra {message}")):
        ConnectionSettings.read(extras, {}, WHERE)


def test_both_forms_offer_exactly_the_table_with_its_defaults_and_minimums():
    forms = {entry["connection-type"]: entry["conn-fields"] for entry in get_provider_info()["connection-types"]}

    assert set(forms) == {"acedata", "acedata_api"}
    for fields in forms.values():
        for setting in SETTINGS:
            schema = fields[setting.name]["schema"]
            assert schema["default"] == setting.default
            assert schema["minimum"] == setting.minimum
            assert ConnectionSettings.read({setting.name: setting.minimum}, {}, WHERE)
    assert "max_retry_wait" in forms["acedata"]
    assert forms["acedata"]["rotation_variable"]["label"] == forms["acedata_api"]["rotation_variable"]["label"]
    assert "overrides the API Key" in forms["acedata_api"]["rotation_variable"]["description"]
