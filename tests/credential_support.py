"""Helpers of the API-key tests (tests/operators/test_credential.py, tests/rotation/test_credential.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_acedata.operators import CreateCredentialOperator, RotateCredentialOperator
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


def create(application_id: str, **kwargs: Any) -> CreateCredentialOperator:
    """A CreateCredentialOperator for this application."""
    return CreateCredentialOperator(task_id="create_api_key", application_id=application_id, **kwargs)


def rotate(credential_id: str, store: TokenStore, **kwargs: Any) -> RotateCredentialOperator:
    """A RotateCredentialOperator for this key, writing to ``store``."""
    return RotateCredentialOperator(task_id="rotate_api_key", credential_id=credential_id, token_store=store, **kwargs)
