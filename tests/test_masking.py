"""The masking helpers: which values reach Airflow's masker (once each), which are blanked, what a hint shows.

That the hooks call them on every secret they read or receive is tested in tests/hooks/test_token.py and
tests/hooks/test_acedata.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from unittest import mock

import pytest

from airflow_provider_acedata import masking
from airflow_provider_acedata.masking import fingerprint, mask, mask_payload, without_secrets


@pytest.fixture
def masker(monkeypatch: pytest.MonkeyPatch) -> Iterator[mock.MagicMock]:
    """Airflow's mask_secret as masking.py calls it, with no value registered yet in this process."""
    monkeypatch.setattr(masking, "_masked", set())
    with mock.patch("airflow_provider_acedata.masking.mask_secret") as mask_secret:
        yield mask_secret


def registered(masker: mock.MagicMock) -> list[str]:
    return [call.args[0] for call in masker.call_args_list]


def test_each_secret_is_registered_once_per_process(masker):
    mask("k1-secret-value")
    mask("k1-secret-value")
    mask("k2-secret-value")

    assert registered(masker) == ["k1-secret-value", "k2-secret-value"]


@pytest.mark.parametrize("empty", [None, ""])
def test_nothing_to_mask(masker, empty):
    mask(empty)

    assert masker.call_count == 0


def test_payload_secrets_are_found_at_any_depth_by_key(masker):
    payload = {
        "id": "not-a-secret",
        "token": "t-top",
        "credentials": [{"name": "etl", "token": "t-nested"}, {"api_key": "k-nested"}],
        "order": {"pay_url": "https://pay.example.test/p", "state": "Pending"},
        "tokens": ["listed-not-named"],
        "password": None,
        "access_token": 123,
    }

    mask_payload(payload)

    assert sorted(registered(masker)) == ["https://pay.example.test/p", "k-nested", "t-nested", "t-top"]


def test_without_secrets_blanks_secret_strings_and_leaves_the_input_alone():
    payload = {"id": "a", "token": "t", "items": [{"api_key": "k", "tags": ["token"]}], "password": 5}

    assert without_secrets(payload) == {
        "id": "a",
        "token": None,
        "items": [{"api_key": None, "tags": ["token"]}],
        "password": 5,
    }
    assert payload["token"] == "t" and payload["items"][0]["api_key"] == "k"


def test_fingerprint_shows_four_characters_of_long_secrets_only():
    assert fingerprint("platform-v1-" + "ab12" * 4) == "...ab12"
    assert fingerprint("short-secr") == "..."
    assert fingerprint("x" * 12) == "...xxxx"
