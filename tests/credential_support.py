"""Helpers of the API-key tests (tests/operators/test_credential.py, tests/rotation/test_credential_rotation.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_provider_acedata.token_stores import TokenStore, TokenStoreError

if TYPE_CHECKING:
    from airflow_provider_acedata.testing import FakeAceDataPlatform


class MemoryStore(TokenStore):
    """A token store in memory that can fail to write, fail after writing, or be unreadable."""

    def __init__(self, *, fail: bool = False, write_then_fail: bool = False, readable: bool = True) -> None:
        self.value: str | None = None
        self.fail = fail
        self.write_then_fail = write_then_fail
        self.readable = readable
        self.saves = 0
        self.on_save = lambda token: None

    def save(self, token: str) -> None:
        self.saves += 1
        self.on_save(token)
        if self.write_then_fail:
            self.value = token
        if self.fail or self.write_then_fail:
            raise TokenStoreError("store is down")
        self.value = token

    def load(self) -> str | None:
        if not self.readable:
            raise NotImplementedError
        return self.value


def pushed(context: dict) -> dict:
    """What a task pushed to XCom through the ``context`` fixture's mock task instance, by key."""
    return {c.kwargs["key"]: c.kwargs["value"] for c in context["ti"].xcom_push.call_args_list}


def credential(platform: FakeAceDataPlatform, credential_id: str) -> dict | None:
    """The platform's record of one API key, or None once it is deleted."""
    return next((c for c in platform.credentials() if c["id"] == credential_id), None)


def named(platform: FakeAceDataPlatform, name: str) -> list[dict]:
    """The platform's API keys with this name."""
    return [c for c in platform.credentials() if c["name"] == name]


def assert_no_key_in(platform: FakeAceDataPlatform, *texts: str) -> None:
    """No API key the platform ever issued appears in any of ``texts``."""
    for key in (c["token"] for c in platform.credentials()):
        for text in texts:
            assert key not in text
