"""Benchmark 4: the HTTP calls and wall time of one token rotation, against the same calls made raw.

``TokenRotation(...).run()`` against an in-process FakeAceDataPlatform, whose request log lists every call;
the raw variant makes the protocol's calls with one ``requests.Session`` and no checks beyond the protocol.
Both rotate the same connection (stored in an ``AIRFLOW_CONN_*`` variable), alternating round by round.
"""

from __future__ import annotations

import json
import os
import re
import time
from typing import Any

import requests

from benchmarks._common import Row, Settings, conn_env, environ, forget_masks, interleave, median, ms, ratio, times

CONN_ID = "bench_rotation"
TAG = f"airflow-rotation:{CONN_ID}"
LOCK_TAG = f"{TAG}:lock"
TOKENS = "/platform-tokens/"
ME = "/platform-tokens/me/"

PROTOCOL = (
    ("lease", "POST /platform-tokens/"),
    ("lease", "GET /platform-tokens/?tag"),
    ("identify", "GET /platform-tokens/"),
    ("create", "POST /platform-tokens/"),
    ("test", "GET /platform-tokens/me/"),
    ("finish", "GET /platform-tokens/"),
    ("finish", "DELETE /platform-tokens/{id}"),
    ("release", "DELETE /platform-tokens/{id}"),
)
"""The protocol's steps and the one call each needs, in order (the lock token's record names the account)."""

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class EnvTokenStore:
    """Keeps the token in the ``AIRFLOW_CONN_*`` variable the hook reads (a TokenStore, built lazily)."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.write(token)

    def write(self, token: str) -> None:
        os.environ.update(conn_env(CONN_ID, {"conn_type": "acedata", "host": self.url, "password": token}))

    @property
    def value(self) -> str:
        return str(json.loads(os.environ[f"AIRFLOW_CONN_{CONN_ID.upper()}"])["password"])

    def as_token_store(self) -> Any:
        from airflow_provider_acedata.token_stores import TokenStore

        outer = self

        class _Store(TokenStore):
            def save(self, token: str) -> None:
                outer.write(token)

            def load(self) -> str | None:
                return outer.value

        return _Store()


def label(method: str, path: str, query: dict[str, list[str]]) -> str:
    """A call as ``METHOD /path`` with ids replaced by ``{id}`` and ``?tag`` when the list is filtered by tag."""
    path = _UUID.sub("{id}", path.removeprefix("/api/v1"))
    return f"{method} {path}" + ("?tag" if method == "GET" and "tag" in query else "")


def rotate_raw(session: requests.Session, api_url: str, store: EnvTokenStore) -> None:
    """The protocol's calls, made directly: lease, identify, create, test, store, finish, release."""

    def call(method: str, path: str, token: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {token}"}
        response = session.request(method, api_url + path, headers=headers, timeout=30, **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None

    current = store.value
    lock = call("POST", TOKENS, current, json={"tags": [LOCK_TAG], "metadata": {"purpose": "rotation-lease"}})
    page = {"user_id": lock["user_id"], "limit": 100, "offset": 0}
    locks = call("GET", TOKENS, lock["token"], params={**page, "tag": LOCK_TAG})["items"]
    assert min(locks, key=lambda item: item["created_at"])["id"] == lock["id"]
    old = next(item for item in call("GET", TOKENS, current, params=page)["items"] if item["token"] == current)
    new = call("POST", TOKENS, current, json={"tags": [TAG], "metadata": {"rotated_from": old["id"]}})
    assert call("GET", ME, new["token"])["id"] == lock["user_id"]
    store.write(new["token"])
    alive = {item["id"] for item in call("GET", TOKENS, new["token"], params=page)["items"]}
    assert old["id"] in alive
    call("DELETE", f"{TOKENS}{old['id']}", new["token"])
    call("DELETE", f"{TOKENS}{lock['id']}", new["token"])


def run(settings: Settings) -> Row:
    from airflow_provider_acedata.rotation import TokenRotation
    from airflow_provider_acedata.testing import FakeAceDataPlatform

    with FakeAceDataPlatform() as platform, environ(), requests.Session() as session:
        store = EnvTokenStore(platform.url, platform.token)
        token_store = store.as_token_store()
        calls: dict[str, list[str]] = {}

        def measure(name: str, rotate: Any) -> float:
            forget_masks(airflow_masker=True)
            platform.clear_requests()
            started = time.perf_counter()
            rotate()
            elapsed = time.perf_counter() - started
            calls[name] = [label(r.method, r.path, r.query) for r in platform.requests]
            if len(platform.live_tokens()) != 1 or not platform.is_live(store.value):
                raise AssertionError(f"{name}: the rotation did not leave exactly the stored token alive")
            return elapsed

        def hook() -> float:
            rotation = TokenRotation(conn_id=CONN_ID, token_store=token_store, lease_wait=30, lease_poll=0.05)
            return measure("hook", rotation.run)

        def raw() -> float:
            return measure("raw", lambda: rotate_raw(session, platform.api_url, store))

        samples = interleave({"hook": hook, "raw": raw}, settings.rotation_rounds, warmup=0 if settings.smoke else 1)
        forget_masks(airflow_masker=True)

    expected = [call for _, call in PROTOCOL]
    wall = {name: median(values) for name, values in samples.items()}
    extra = len(calls["hook"]) - len(expected)
    notes = [
        "hook calls: " + "; ".join(calls["hook"]),
        f"protocol: {len(expected)} calls ("
        + ", ".join(f"{step}: {call}" for step, call in PROTOCOL)
        + f"); raw variant made {len(calls['raw'])}",
        f"wall per rotation: hook {ms(wall['hook'])}, raw {ms(wall['raw'])}; {settings.rotation_rounds} interleaved "
        "rounds, medians; both use one HTTP session per rotation (the hook family shares its session)",
    ]
    return Row(
        "4. Token rotation",
        f"{len(calls['hook'])} calls ({extra:+d} vs protocol), {times(ratio(wall['hook'], wall['raw']))} raw wall time",
        f"{len(expected)} calls, none extra",
        calls["hook"] == expected,
        notes,
    )
