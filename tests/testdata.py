"""Constants and helpers shared by the tests (kept out of conftest.py, which is not importable)."""

from __future__ import annotations

import itertools
import json
from typing import TYPE_CHECKING, Any

from airflow_provider_acedata.token_stores import TokenStore, TokenStoreError

if TYPE_CHECKING:
    from airflow_provider_acedata.testing import FakeAceDataPlatform

TOKEN = "platform-v1-" + "ab12" * 16
API = "https://platform.example.test/api/v1"
USER = {"id": "b87f67c1-b04f-4332-99a1-7a5e651331c6", "username": "ada", "email": "ada@example.test"}


def connection_json(host: str = "https://platform.example.test", token: str = TOKEN, **extra: object) -> str:
    """An AIRFLOW_CONN_* value for an acedata connection."""
    return json.dumps({"conn_type": "acedata", "host": host, "password": token, "extra": extra})


def redact(text: str) -> str:
    """What Airflow's secret masker makes of ``text``."""
    from airflow.sdk._shared.secrets_masker import redact as _redact

    return str(_redact(text))


def raise_balance_after_reads(platform: Any, application_id: str, amount: float, reads: int) -> None:
    """Make ``platform`` answer the application's first ``reads`` reads as they are, and later ones with ``amount``."""
    seen = itertools.count(1)

    def on_request(record: Any) -> bool:
        is_read = record.method == "GET" and record.path.rstrip("/").endswith(f"/applications/{application_id}")
        if is_read and next(seen) > reads:
            platform.set_balance(application_id, amount)
        return False

    platform.fail(predicate=on_request, times=None)


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
