"""Shared pieces of the rotation tests: a readable test store, the invariant checks, a simulated kill."""

from __future__ import annotations

import json
import os
from typing import Any

import requests

from airflow_provider_acedata.rotation import TokenRotation
from airflow_provider_acedata.testing import FakeAceDataPlatform
from airflow_provider_acedata.token_stores import TokenStore

ENV = "AIRFLOW_CONN_ACEDATA_DEFAULT"
TAG = "airflow-rotation:acedata_default"


class Killed(BaseException):
    """A worker killed between two steps: no ``except Exception`` handler runs."""


class EnvConnectionStore(TokenStore):
    """Stores the token in the AIRFLOW_CONN_ env var the hook reads, like a connection in a secrets backend.

    ``fail`` makes the next save raise: ``"before"`` (nothing written) or ``"after"`` (written, then raise).
    ``readable=False`` makes it a store that cannot read back.
    """

    def __init__(self, platform: FakeAceDataPlatform, *, timeout: float = 5.0) -> None:
        self.platform = platform
        self.timeout = timeout
        self.fail: str | None = None
        self.readable = True
        self.saves = 0
        self.write(platform.token)

    def write(self, token: str) -> None:
        conn = json.loads(self.platform.connection_json(token))
        conn["extra"] = {"timeout": self.timeout, "retry_delay": 0}
        os.environ[ENV] = json.dumps(conn)

    @property
    def value(self) -> str:
        return json.loads(os.environ[ENV])["password"]

    def save(self, token: str) -> None:
        self.saves += 1
        fail, self.fail = self.fail, None
        if fail == "before":
            raise OSError("store unreachable")
        self.write(token)
        if fail == "after":
            raise TimeoutError("store timed out after writing")

    def load(self) -> str | None:
        if not self.readable:
            raise NotImplementedError
        return self.value


def rotation(store: TokenStore, **kwargs: Any) -> TokenRotation:
    options: dict[str, Any] = {"lease_ttl": 30.0, "lease_wait": 10.0, "lease_poll": 0.05}
    options.update(kwargs)
    return TokenRotation(conn_id="acedata_default", token_store=store, **options)


def kill_at(rotation_run: TokenRotation, step: str) -> None:
    """Make the run die at ``step`` like a SIGKILLed worker: no clean-up and no lease release."""

    def checkpoint(reached: str) -> None:
        if reached == step:
            raise Killed(step)

    rotation_run._checkpoint = checkpoint
    rotation_run.lease.release = lambda hook=None: None  # type: ignore[method-assign]


def authenticates(platform: FakeAceDataPlatform, token: str) -> bool:
    answer = requests.get(
        f"{platform.api_url}/platform-tokens/me/", headers={"Authorization": f"Bearer {token}"}, timeout=5
    )
    return answer.status_code == 200


def live(platform: FakeAceDataPlatform) -> list[dict[str, Any]]:
    return platform.live_tokens(platform.user["id"])


def assert_safe(platform: FakeAceDataPlatform, store: EnvConnectionStore, old: str) -> None:
    """After any run, ended as it may: the stored token works; the old one is gone only if replaced."""
    stored = store.value
    assert platform.is_live(stored), "the stored token was revoked: locked out"
    assert authenticates(platform, stored)
    if not platform.is_live(old):
        assert stored != old


def assert_converged(platform: FakeAceDataPlatform, store: EnvConnectionStore, keep_previous: int = 0) -> None:
    """After a clean rotation: only the stored token and the grace window are alive; no lock is left."""
    stored = store.value
    assert authenticates(platform, stored)
    tokens = live(platform)
    assert not [t for t in tokens if f"{TAG}:lock" in (t.get("tags") or [])], "a lease token was left alive"
    others = [t for t in tokens if t["token"] != stored]
    assert len(others) <= keep_previous, f"{len(others)} tokens alive besides the stored one"
