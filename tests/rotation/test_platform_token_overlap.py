"""Overlapping rotations of one connection, interleaved deterministically with threads and step checkpoints.

Every case ends with the invariant checked: the stored token authenticates, and after the runs plus one
further clean rotation, no token created by a rotation is alive but the stored one, and no lease is left.

Interleavings (11):
 1  both runs start together: B cannot identify until A has finished (the lease serialises them)
 2  A stores before B creates: B rotates from A's new token, not from the one it saw at start
 3  B stores before A finishes: cannot happen; B's steps all come after A's finish
 4  A fails its test while B succeeds: A's token is revoked, B's is stored
 5  A's store raises after writing while B completes: A carries on (the store holds it), B rotates from it
 6  A is killed after create, B completes: B waits out A's lease, then revokes A's orphan
 7  A is killed after store, before finish: B rotates from A's token and revokes both older tokens
 8  three overlapping runs: all succeed one after another, each rotating from the previous one's token
 9  A stalls past its lease after create: B takes over; A stops before storing and revokes its own token
 10 B cannot get the lease within lease_wait: B fails and changes nothing; A completes
 11 A revokes the token B read while B waits for the lease: B reads the stored token again and completes
"""

from __future__ import annotations

import copy
import itertools
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from rotation_support import (
    EnvConnectionStore,
    Killed,
    assert_converged,
    assert_safe,
    killed_at,
    rotation,
)

from airflow_provider_acedata.exceptions import AceDataError
from airflow_provider_acedata.rotation import RotationResult
from airflow_provider_acedata.testing import FakeAceDataPlatform
from airflow_provider_acedata.token_stores import TokenStore

WAIT = 20.0


@pytest.fixture
def store(rotation_platform: FakeAceDataPlatform) -> EnvConnectionStore:
    return EnvConnectionStore(rotation_platform)


class Run:
    """One rotation in a thread, recording each step it reaches (and optionally pausing there)."""

    def __init__(self, name: str, journal: list[tuple[str, str]], store: TokenStore, **options: Any) -> None:
        self.name = name
        self.journal = journal
        self.result: RotationResult | None = None
        self.error: BaseException | None = None
        self.reached = {step: threading.Event() for step in ("leased", "identified", "created", "tested", "stored")}
        self.reached["finished"] = threading.Event()
        self.pause_at: dict[str, threading.Event] = {}
        self.extra_checkpoint: Callable[[str], None] | None = None
        self.rotation = rotation(store, checkpoint=self._checkpoint, **options)
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _checkpoint(self, step: str) -> None:
        self.journal.append((self.name, step))
        self.reached[step].set()
        if step in self.pause_at:
            assert self.pause_at[step].wait(WAIT), f"{self.name} was never released from {step}"
        if self.extra_checkpoint is not None:
            self.extra_checkpoint(step)

    def _run(self) -> None:
        try:
            self.result = self.rotation.run()
        except BaseException as error:
            self.error = error

    def start(self) -> Run:
        self.thread.start()
        return self

    def join(self) -> Run:
        self.thread.join(WAIT)
        assert not self.thread.is_alive(), f"{self.name} did not finish"
        return self


def steps_of(journal: list[tuple[str, str]], name: str) -> list[int]:
    return [i for i, (who, _) in enumerate(journal) if who == name]


def follow_up(rotation_platform: FakeAceDataPlatform, store: EnvConnectionStore, *old: str) -> None:
    assert_safe(rotation_platform, store, old[0])
    rotation(store).run()
    assert_converged(rotation_platform, store)
    for token in old:
        assert not rotation_platform.is_live(token)


def make(name: str, journal: list[tuple[str, str]], store: EnvConnectionStore, **kwargs: Any) -> Run:
    return Run(name, journal, store, **kwargs)


def test_runs_started_together_are_serialised(rotation_platform, store):
    journal: list[tuple[str, str]] = []
    old = store.value
    a = make("A", journal, store)
    a.pause_at["identified"] = threading.Event()
    a.start()
    assert a.reached["identified"].wait(WAIT)
    b = make("B", journal, store).start()
    assert not b.reached["leased"].wait(0.5), "B took the lease while A held it"
    a.pause_at["identified"].set()
    a.join()
    b.join()
    assert a.error is None and b.error is None
    assert max(steps_of(journal, "A")) < min(steps_of(journal, "B"))
    assert b.result is not None and a.result is not None
    assert b.result.previous_id == a.result.new_id
    follow_up(rotation_platform, store, old)


def test_a_stores_before_b_creates(rotation_platform, store):
    journal: list[tuple[str, str]] = []
    old = store.value
    a = make("A", journal, store)
    a.pause_at["stored"] = threading.Event()
    a.start()
    assert a.reached["stored"].wait(WAIT)
    b = make("B", journal, store).start()
    a.pause_at["stored"].set()
    a.join()
    b.join()
    assert a.result and b.result
    assert b.result.previous_id == a.result.new_id
    assert a.result.new_id in b.result.revoked_ids
    follow_up(rotation_platform, store, old)


def test_b_cannot_store_before_a_finishes(rotation_platform, store):
    journal: list[tuple[str, str]] = []
    old = store.value
    a = make("A", journal, store)
    a.pause_at["tested"] = threading.Event()
    a.start()
    assert a.reached["tested"].wait(WAIT)
    b = make("B", journal, store).start()
    assert not b.reached["stored"].wait(0.5)
    a.pause_at["tested"].set()
    a.join()
    b.join()
    assert a.error is None and b.error is None, (a.error, b.error)
    assert journal.index(("A", "finished")) < journal.index(("B", "stored"))
    follow_up(rotation_platform, store, old)


def test_a_fails_its_test_while_b_succeeds(rotation_platform, store):
    journal: list[tuple[str, str]] = []
    old = store.value
    a = make("A", journal, store)

    def refuse_the_new_token(step: str) -> None:
        if step == "created":  # the next identity call is A's test of its new token (B waits for the lease)
            rotation_platform.fail(method="GET", path="/platform-tokens/me/", status=401, body={"detail": "Nope."})

    a.extra_checkpoint = refuse_the_new_token
    b = make("B", journal, store)
    a.start()
    b.start()
    a.join()
    b.join()
    assert isinstance(a.error, AceDataError)
    assert b.error is None and b.result
    assert rotation_platform.is_live(store.value)
    follow_up(rotation_platform, store, old)


def test_a_store_raises_after_writing_while_b_completes(rotation_platform, store):
    journal: list[tuple[str, str]] = []
    old = store.value
    a_store = copy.copy(store)
    a_store.fail = "after"
    a = Run("A", journal, a_store)
    b = make("B", journal, store)
    a.start()
    assert a.reached["leased"].wait(WAIT)
    b.start()
    a.join()
    b.join()
    assert a.error is None and a.result and b.result
    assert b.result.previous_id == a.result.new_id
    follow_up(rotation_platform, store, old)


def test_a_killed_after_create_b_completes(rotation_platform, store):
    journal: list[tuple[str, str]] = []
    old = store.value
    with pytest.raises(Killed):
        killed_at(rotation_platform, store, "created", lease_ttl=1.5)
    orphan = [
        t for t in rotation_platform.live_tokens() if t["token"] not in (old,) and "lock" not in str(t.get("tags"))
    ]
    assert len(orphan) == 1
    b = make("B", journal, store).start().join()
    assert b.error is None and b.result
    assert orphan[0]["id"] in b.result.revoked_ids
    follow_up(rotation_platform, store, old)


def test_a_killed_after_store_b_completes(rotation_platform, store):
    journal: list[tuple[str, str]] = []
    old = store.value
    with pytest.raises(Killed):
        killed_at(rotation_platform, store, "stored", lease_ttl=1.5)
    assert store.value != old and rotation_platform.is_live(old)
    b = make("B", journal, store).start().join()
    assert b.error is None and b.result
    assert not rotation_platform.is_live(old), "B revoked the token A never got to revoke"
    follow_up(rotation_platform, store, old)


def test_three_overlapping_runs(rotation_platform, store):
    journal: list[tuple[str, str]] = []
    old = store.value
    runs = [make(name, journal, store) for name in "ABC"]
    for run in runs:
        run.start()
    for run in runs:
        run.join()
    assert all(run.error is None and run.result for run in runs)
    results = sorted((journal.index((r.name, "leased")), r.result) for r in runs)
    chain = [result for _, result in results]
    for earlier, later in itertools.pairwise(chain):
        assert later.previous_id == earlier.new_id
    follow_up(rotation_platform, store, old)


def test_a_stalls_past_its_lease(rotation_platform, store):
    journal: list[tuple[str, str]] = []
    old = store.value
    a = make("A", journal, store, lease_ttl=1.5)
    a.pause_at["created"] = threading.Event()
    a.start()
    assert a.reached["created"].wait(WAIT)
    b = make("B", journal, store).start().join()
    assert b.error is None and b.result
    a.pause_at["created"].set()
    a.join()
    assert isinstance(a.error, AceDataError)
    assert "lease ran out" in str(a.error)
    assert rotation_platform.is_live(store.value)
    follow_up(rotation_platform, store, old)


def test_b_gives_up_waiting_and_changes_nothing(rotation_platform, store):
    journal: list[tuple[str, str]] = []
    old = store.value
    a = make("A", journal, store)
    a.pause_at["identified"] = threading.Event()
    a.start()
    assert a.reached["identified"].wait(WAIT)
    tokens_before = {t["id"] for t in rotation_platform.live_tokens()}
    b = make("B", journal, store, lease_wait=0.3).start().join()
    assert isinstance(b.error, AceDataError) and "holds the rotation lease" in str(b.error)
    assert {t["id"] for t in rotation_platform.live_tokens()} == tokens_before
    a.pause_at["identified"].set()
    a.join()
    assert a.error is None
    follow_up(rotation_platform, store, old)


def test_waiter_survives_the_holder_revoking_its_token(rotation_platform, store):
    """While B waits, A stores a new token and revokes the one B read: B's next poll gets 401 and re-reads."""
    journal: list[tuple[str, str]] = []
    old = store.value
    a = make("A", journal, store)
    a.pause_at["identified"] = threading.Event()
    a.start()
    assert a.reached["identified"].wait(WAIT)
    refused = rotation_platform.fail(
        method="GET",
        path="/platform-tokens/$",
        predicate=lambda r: r.token == old and r.query.get("tag", [""])[0].endswith(":lock"),
        status=401,
        body={"detail": "Invalid token."},
    )
    b = make("B", journal, store).start()
    deadline = time.monotonic() + WAIT
    while refused.hits == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert refused.hits == 1, "B never polled the lease with the token it had read"
    assert not b.reached["leased"].is_set()
    a.pause_at["identified"].set()
    a.join()
    b.join()
    assert refused.hits == 1
    assert a.error is None and b.error is None, (a.error, b.error)
    follow_up(rotation_platform, store, old)
