"""Fault matrix of one platform-token rotation against the offline platform, over real sockets.

Each case breaks one step once (or for good), then checks the invariant: the stored token works, the old
token is revoked only if the new one was tested and stored; then a clean re-run converges (only the stored
token is alive, no lease token left). Steps and calls, in order: lease (POST lock token, GET locks; the
lock token's record names the user, so no GET me), identify (GET tokens), create (POST token), test (GET
me with the new token), store (save), finish
(GET tokens, DELETE old), release (DELETE lock token).

Cases (42):
 5-8    identify GET tokens: 503, 429, timeout, dropped -> retried, succeeds
 9-12   lease GET locks: 503, 429, timeout, dropped -> retried, succeeds
 13-16  test GET me with the new token: 503, 429, timeout, dropped -> retried, succeeds
 17-20  finish DELETE old token: 503, 429, timeout, dropped -> retried, succeeds
 21-24  release DELETE lock token: 503, 429, timeout, dropped -> retried, succeeds
 25-28  create POST: 503, 429, dropped before applying -> fails, nothing created
        timeout after the platform created the token -> fails, the orphan is found by nonce and revoked
 29     create POST: connection dropped after the platform created it -> orphan found by nonce, revoked
 30-32  lease POST: 503, timeout after applying, dropped after applying -> fails, nothing left alive
 33     test: the new token gets 401 -> new token revoked, old kept
 34     test: the new token authenticates as another user -> new token revoked, old kept
 35     identify GET tokens: 503 for good -> fails, nothing changed
 36     finish: DELETE old 503 for good -> fails after storing; the new token works; re-run revokes the old
 37     store raises before writing, store readable -> new token revoked, old kept
 38     store raises after writing, store readable -> treated as stored, rotation completes
 39     store raises before writing, store cannot read back -> both kept alive; re-run revokes the new one
 40     store raises after writing, store cannot read back -> both kept alive; re-run revokes the old one
 41-46  killed (no clean-up, lease not released) after lease, identify, create, test, store, finish
        -> re-run waits out the lease and converges
 47     keep_previous=1 over three rotations: the previous token stays alive, older ones are revoked
 48     a store the connection does not read from: fails after storing, the old token is not revoked,
        and repeated runs never leave more than the old token and the latest new one alive
"""

from __future__ import annotations

import json
import os
from typing import Any
from unittest import mock

import pytest
from rotation_support import (
    TAG,
    EnvConnectionStore,
    Killed,
    assert_converged,
    assert_safe,
    authenticates,
    killed_at,
    live,
    rotation,
)

from airflow_provider_acedata.exceptions import AceDataError
from airflow_provider_acedata.platform_lock import lock_tag
from airflow_provider_acedata.rotation import STEPS
from airflow_provider_acedata.testing import FakeAceDataPlatform
from airflow_provider_acedata.token_stores import TokenStore
from airflow_provider_acedata.version_compat import BaseHook

TOKENS = "/platform-tokens/$"
ME = "/platform-tokens/me/$"
DETAIL = "/platform-tokens/[0-9a-f-]{36}/?$"

TRANSIENT = {
    "503": {"status": 503},
    "429": {"status": 429, "retry_after": 0},
    "timeout": {"delay": 2.0},
    "dropped": {"drop": True},
}


@pytest.fixture
def store(rotation_platform: FakeAceDataPlatform) -> EnvConnectionStore:
    assert [t["token"] for t in live(rotation_platform)] == [rotation_platform.token]
    return EnvConnectionStore(rotation_platform, timeout=1.0)


def is_lock_list(record: Any) -> bool:
    return record.query.get("tag", [""])[0].endswith(":lock")


def is_plain_list(record: Any) -> bool:
    return "tag" not in record.query


def finish_and_rerun(
    rotation_platform: FakeAceDataPlatform, store: EnvConnectionStore, old: str, **kwargs: Any
) -> None:
    rotation_platform.clear_faults()
    assert_safe(rotation_platform, store, old)
    rotation(store, **kwargs).run()
    assert_converged(rotation_platform, store)
    assert not rotation_platform.is_live(old)


def assert_rotated(rotation_platform: FakeAceDataPlatform, store: EnvConnectionStore, old: str, new_id: str) -> None:
    assert store.value != old
    assert not rotation_platform.is_live(old)
    assert not authenticates(rotation_platform, old)
    assert [t["id"] for t in live(rotation_platform)] == [new_id]
    assert_converged(rotation_platform, store)


# -- transient faults on GET/DELETE: retried, the rotation succeeds ------------------------------------------

TRANSIENT_TARGETS = {
    "identify-list": {"method": "GET", "path": TOKENS, "predicate": is_plain_list},
    "lease-list": {"method": "GET", "path": TOKENS, "predicate": is_lock_list},
    "test-me": {"method": "GET", "path": ME, "skip": 0},
    "finish-delete-old": {"method": "DELETE", "path": DETAIL, "skip": 0},
    "release-lock": {"method": "DELETE", "path": DETAIL, "skip": 1},
}


@pytest.mark.parametrize("fault", TRANSIENT)
@pytest.mark.parametrize("target", TRANSIENT_TARGETS)
def test_transient_fault_is_retried(rotation_platform, store, target, fault):
    old = store.value
    rule = rotation_platform.fail(**TRANSIENT_TARGETS[target], **TRANSIENT[fault])
    result = rotation(store).run()
    assert rule.hits == 1
    assert_rotated(rotation_platform, store, old, result.new_id)


# -- faults on POST: never retried; nothing is left alive ----------------------------------------------------

CREATE_FAULTS = {
    "503": {"status": 503},
    "429": {"status": 429, "retry_after": 0},
    "dropped": {"drop": True},
    "timeout-after-apply": {"delay": 2.0, "after_apply": True},
    "dropped-after-apply": {"drop": True, "after_apply": True},
}


@pytest.mark.parametrize("fault", CREATE_FAULTS)
def test_create_fault(rotation_platform, store, fault):
    old = store.value
    rotation_platform.fail(method="POST", path=TOKENS, skip=1, **CREATE_FAULTS[fault])
    posts_before = len(rotation_platform.calls("POST"))
    with pytest.raises(AceDataError, match="Creating the new token failed"):
        rotation(store).run()
    assert len(rotation_platform.calls("POST")) == posts_before + 2, "the create POST was sent exactly once"
    assert store.value == old
    assert [t["token"] for t in live(rotation_platform)] == [old], "an orphan or the lease token was left alive"
    finish_and_rerun(rotation_platform, store, old)


@pytest.mark.parametrize(
    "fault",
    [{"status": 503}, {"delay": 2.0, "after_apply": True}, {"drop": True, "after_apply": True}],
    ids=["503", "timeout-after-apply", "dropped-after-apply"],
)
def test_lease_create_fault(rotation_platform, store, fault):
    old = store.value
    rotation_platform.fail(method="POST", path=TOKENS, **fault)
    with pytest.raises(AceDataError, match="rotation lease"):
        rotation(store).run()
    assert [t["token"] for t in live(rotation_platform)] == [old]
    finish_and_rerun(rotation_platform, store, old)


# -- the new token fails its test ------------------------------------------------------------------------


def test_new_token_gets_401(rotation_platform, store):
    old = store.value
    rotation_platform.fail(method="GET", path=ME, predicate=lambda r: r.token != old, status=401, times=None)
    with pytest.raises(AceDataError, match="Stopped before storing"):
        rotation(store).run()
    assert store.value == old
    assert [t["token"] for t in live(rotation_platform)] == [old], "the untested token was not revoked"
    finish_and_rerun(rotation_platform, store, old)


def test_new_token_is_another_users(rotation_platform, store):
    old = store.value
    other = rotation_platform.users[1]
    rotation_platform.fail(
        method="GET", path=ME, predicate=lambda r: r.token != old, status=200, body=other, times=None
    )
    with pytest.raises(AceDataError, match="authenticates as"):
        rotation(store).run()
    assert [t["token"] for t in live(rotation_platform)] == [old]
    finish_and_rerun(rotation_platform, store, old)


# -- faults that persist ------------------------------------------------------------------------------------


def test_identify_down_changes_nothing(rotation_platform, store):
    old = store.value
    rotation_platform.fail(method="GET", path=TOKENS, predicate=is_plain_list, times=None)
    with pytest.raises(AceDataError, match="503"):
        rotation(store).run()
    assert [t["token"] for t in live(rotation_platform)] == [old]
    finish_and_rerun(rotation_platform, store, old)


def test_revoking_old_token_keeps_failing(rotation_platform, store):
    old = store.value
    rotation_platform.fail(method="DELETE", path=DETAIL, predicate=lambda r: r.token != old, times=4)
    with pytest.raises(AceDataError):
        rotation(store).run()
    assert store.value != old, "the new token was stored before the finish step"
    assert rotation_platform.is_live(old), "the old token could not be revoked"
    finish_and_rerun(rotation_platform, store, old)


# -- the store fails ----------------------------------------------------------------------------------------


def test_store_fails_before_writing(rotation_platform, store):
    old = store.value
    store.fail = "before"
    with pytest.raises(AceDataError, match="store still holds the old platform token"):
        rotation(store).run()
    assert store.value == old
    assert [t["token"] for t in live(rotation_platform)] == [old], "the new token, known not stored, stayed alive"
    finish_and_rerun(rotation_platform, store, old)


def test_store_fails_after_writing(rotation_platform, store):
    old = store.value
    store.fail = "after"
    result = rotation(store).run()
    assert_rotated(rotation_platform, store, old, result.new_id)


@pytest.mark.parametrize("when", ["before", "after"])
def test_store_fails_and_cannot_read_back(rotation_platform, store, when):
    old = store.value
    store.fail = when
    store.readable = False
    with pytest.raises(AceDataError, match="cannot say what it holds"):
        rotation(store).run()
    tokens = live(rotation_platform)
    assert len(tokens) == 2, "both tokens must stay alive when the store's state is unknown"
    assert_safe(rotation_platform, store, old)
    store.readable = True
    finish_and_rerun(rotation_platform, store, old)


# -- killed workers -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("step", STEPS)
def test_killed_between_steps_then_rerun_converges(rotation_platform, store, step):
    old = store.value
    with pytest.raises(Killed):
        killed_at(rotation_platform, store, step, lease_ttl=1.5)
    assert_safe(rotation_platform, store, old)
    assert any(f"{TAG}:lock" in (t.get("tags") or []) for t in live(rotation_platform)), "a killed run leaves its lease"
    rotation(store, lease_wait=10.0).run()
    assert_converged(rotation_platform, store)
    assert not rotation_platform.is_live(old)


def test_grace_window_keeps_previous_tokens(rotation_platform, store):
    tokens = [store.value]
    for _ in range(3):
        result = rotation(store, keep_previous=1).run()
        tokens.append(store.value)
        assert result.kept_ids == [result.previous_id]
    assert [rotation_platform.is_live(t) for t in tokens] == [False, False, True, True]
    assert_converged(rotation_platform, store, keep_previous=1)


class DetachedStore(EnvConnectionStore):
    """Writes somewhere the connection does not read from (VariableTokenStore without rotation_variable)."""

    def save(self, token: str) -> None:
        self.saved = token

    def load(self) -> str | None:
        return getattr(self, "saved", None)


def test_store_that_does_not_feed_the_connection(rotation_platform, store):
    old = store.value
    detached = DetachedStore(rotation_platform, timeout=1.0)
    for _ in range(3):
        with pytest.raises(AceDataError, match="not where its token comes from"):
            rotation(detached).run()
        assert store.value == old and authenticates(rotation_platform, old)
        assert len(live(rotation_platform)) == 2, "runs of a misconfigured store must not pile up tokens"
    finish_and_rerun(rotation_platform, store, old)


def test_rotation_revokes_locks_abandoned_by_killed_runs(rotation_platform, store):
    """A CreateCredentialOperator killed while holding its lock leaves a live token; the next rotation revokes it."""
    abandoned = rotation_platform.issue_token(tags=[lock_tag("credential", "app", "etl")], metadata={"ttl_seconds": 0})
    held = rotation_platform.issue_token(tags=[lock_tag("credential", "app", "other")], metadata={"ttl_seconds": 600})
    undeclared = rotation_platform.issue_token(tags=[lock_tag("credential", "app", "third")])

    result = rotation(store).run()

    assert not rotation_platform.is_live(abandoned["token"])
    assert rotation_platform.is_live(held["token"]) and rotation_platform.is_live(undeclared["token"])
    assert abandoned["id"] not in result.revoked_ids


class EnvVariableStore(TokenStore):
    """Keeps the token in the Variable the connection names (``rotation_variable``), as an AIRFLOW_VAR_ variable."""

    key = "AIRFLOW_VAR_ACEDATA_ROTATED"

    def save(self, token: str) -> None:
        os.environ[self.key] = token

    def load(self) -> str | None:
        return os.environ.get(self.key)


def test_one_rotation_reads_the_connection_once(rotation_platform, monkeypatch):
    connection = json.loads(rotation_platform.connection_json())
    connection["extra"] = {"rotation_variable": "acedata_rotated", "retry_delay": 0}
    monkeypatch.setenv("AIRFLOW_CONN_ACEDATA_DEFAULT", json.dumps(connection))
    monkeypatch.setenv(EnvVariableStore.key, rotation_platform.token)
    reads = mock.MagicMock(side_effect=BaseHook.get_connection)
    monkeypatch.setattr(BaseHook, "get_connection", reads)

    result = rotation(EnvVariableStore()).run()

    assert [c.args for c in reads.call_args_list] == [("acedata_default",)]
    assert os.environ[EnvVariableStore.key] != rotation_platform.token
    assert result.revoked_ids == [result.previous_id]
