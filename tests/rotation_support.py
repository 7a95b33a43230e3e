"""Shared pieces of the rotation tests: a readable test store, the invariant checks, a simulated kill."""

from __future__ import annotations

import json
import os
import threading
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


class Kill:
    """Kills a rotation at ``step`` like a SIGKILLed worker, through its public ``checkpoint`` option.

    The run raises ``Killed`` there; a killed worker never deletes its lease token, so the platform refuses
    the run's attempts to (until ``over()``: then the lease token is left behind, as a real kill leaves it).
    """

    def __init__(self, platform: FakeAceDataPlatform, step: str) -> None:
        self.platform = platform
        self.step = step
        self._lease: str | None = None
        self._dead = threading.Event()
        platform.fail(method="DELETE", predicate=self._release_of_the_dead_run, status=503, times=None)

    def _release_of_the_dead_run(self, record: Any) -> bool:
        return self._dead.is_set() and self._lease is not None and record.path.rstrip("/").endswith(self._lease)

    def checkpoint(self, reached: str) -> None:
        if reached != self.step:
            return
        [lease] = [t for t in live(self.platform) if f"{TAG}:lock" in (t.get("tags") or [])]
        self._lease = str(lease["id"])
        self._dead.set()
        raise Killed(reached)

    def over(self) -> None:
        """The dead run has stopped: later runs may delete its lease token once it expires."""
        self._dead.clear()


def killed_at(platform: FakeAceDataPlatform, store: TokenStore, step: str, **kwargs: Any) -> TokenRotation:
    """Run a rotation that dies at ``step`` (raising ``Killed``) and leaves its lease behind."""
    kill = Kill(platform, step)
    try:
        return rotation(store, checkpoint=kill.checkpoint, **kwargs).run()
    finally:
        kill.over()


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
