"""PlatformLock and its helpers (platform_lock.py) against the offline platform over real sockets."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from airflow_provider_acedata.exceptions import AceDataServerError
from airflow_provider_acedata.hooks import AceDataHook
from airflow_provider_acedata.platform_lock import (
    LockError,
    PlatformLock,
    UnconfirmedCreate,
    abandoned_locks,
    create_marked,
    lock_tag,
)

TAG = lock_tag("test", "thing")


def lock(hook: AceDataHook, **options: float) -> PlatformLock:
    settings = {"ttl": 30.0, "wait": 5.0, "poll": 0.05, **options}
    return PlatformLock(hook, tag=TAG, metadata={"run_id": "r1"}, what="test lock", **settings)


def locks(platform) -> list[dict]:
    return [t for t in platform.live_tokens() if TAG in (t.get("tags") or [])]


def test_the_lock_is_a_tagged_token_held_while_taken_and_deleted_on_release(platform):
    with AceDataHook() as hook, lock(hook) as held:
        [token] = locks(platform)
        assert token["id"] == held.token_id
        assert token["metadata"]["purpose"] == "test lock"
        assert token["metadata"]["run_id"] == "r1"
        assert held.user_id == platform.user["id"] == hook.user_id
        held.check()
    assert locks(platform) == []
    assert platform.calls("GET", "/platform-tokens/me/") == [], "the lock token names the account"


def test_a_second_run_waits_for_the_holder_then_takes_the_lock(platform):
    order: list[str] = []
    first = lock(AceDataHook())
    first.acquire()

    def second() -> None:
        with lock(AceDataHook()):
            order.append("second")

    waiter = threading.Thread(target=second)
    waiter.start()
    time.sleep(0.3)
    order.append("first releases")
    first.release()
    waiter.join(10)

    assert order == ["first releases", "second"]
    assert locks(platform) == []


def test_a_run_that_cannot_get_the_lock_in_time_names_the_holder_and_leaves_nothing(platform):
    holder = lock(AceDataHook())
    holder.acquire()

    with pytest.raises(LockError, match=f"Another run holds the test lock \\({holder.token_id}\\); gave up after"):
        lock(AceDataHook(), wait=0.3).acquire()

    assert [t["id"] for t in locks(platform)] == [holder.token_id]
    holder.release()


def test_an_expired_lock_of_a_killed_run_is_deleted_by_the_next(platform):
    dead = lock(AceDataHook(), ttl=0.2)
    dead.acquire()  # never released, as by a SIGKILLed worker
    time.sleep(0.3)

    with lock(AceDataHook()) as held:
        assert [t["id"] for t in locks(platform)] == [held.token_id]


def test_check_refuses_to_go_on_once_the_lock_ran_out(platform):
    with lock(AceDataHook(), ttl=0.2) as held:
        time.sleep(0.2)
        with pytest.raises(LockError, match="ran out"):
            held.check()


def test_current_rereads_the_stored_token_into_the_same_hook(platform, monkeypatch):
    hook = AceDataHook()
    held = lock(hook)
    held.acquire()
    rotated = platform.issue_token()["token"]
    connection = json.loads(platform.connection_json(rotated))
    monkeypatch.setenv("AIRFLOW_CONN_ACEDATA_DEFAULT", json.dumps(connection))

    assert held.current() is hook
    assert hook.token == rotated
    held.release()


def test_a_lock_create_refused_with_401_rereads_the_token_and_tries_once_more(platform, monkeypatch):
    hook = AceDataHook()
    assert hook.token == platform.token
    rotated = platform.issue_token()["token"]
    monkeypatch.setenv("AIRFLOW_CONN_ACEDATA_DEFAULT", platform.connection_json(rotated))
    platform.fail(method="POST", token=platform.token, status=401, body={"detail": "Invalid token."})

    with lock(hook) as held:
        assert held.token_id in [t["id"] for t in locks(platform)]
    assert [r.token for r in platform.calls("POST", "/platform-tokens/$")] == [platform.token, rotated]


def test_create_marked_revokes_what_a_lost_answer_created(platform):
    platform.fail(method="POST", path="/platform-tokens/$", drop=True, after_apply=True)

    with pytest.raises(UnconfirmedCreate) as failed:
        create_marked(AceDataHook(retry_limit=0), tag=TAG, metadata={"who": "me"}, key="nonce")

    assert len(failed.value.revoked) == 1
    assert "was revoked" in failed.value.revoked_note("lock token")
    assert locks(platform) == []


def test_create_marked_with_nothing_created_says_nothing_was_revoked(platform):
    platform.fail(method="POST", path="/platform-tokens/$", status=503)

    with pytest.raises(UnconfirmedCreate) as failed:
        create_marked(AceDataHook(), tag=TAG, metadata={}, key="nonce")

    assert isinstance(failed.value.error, AceDataServerError)
    assert (failed.value.revoked, failed.value.revoked_note("token")) == ([], "")


def test_abandoned_locks_are_lock_tagged_tokens_past_their_declared_ttl():
    now = datetime(2026, 3, 1, tzinfo=UTC)

    def token(token_id: str, age: float, ttl: object, tag: str = TAG) -> dict:
        created = (now - timedelta(seconds=age)).isoformat()
        return {"id": token_id, "tags": [tag], "created_at": created, "metadata": {"ttl_seconds": ttl}}

    tokens = [
        token("expired", 60, 30),
        token("live", 10, 30),
        token("no-ttl", 600, None),
        token("not-a-lock", 600, 1, tag="airflow-rotation:x"),
    ]

    assert abandoned_locks(tokens, now) == ["expired"]
