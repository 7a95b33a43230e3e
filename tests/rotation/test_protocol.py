"""The frame every rotation shares (rotation/protocol.py): pre-flight, the lease, the store-failure rule, the report."""

from __future__ import annotations

import logging

import pytest
from credential_support import MemoryStore

from airflow_provider_acedata.platform_lock import lock_tag
from airflow_provider_acedata.rotation import RotationError, RotationResult
from airflow_provider_acedata.rotation.protocol import Rotation
from airflow_provider_acedata.token_stores import TokenStoreError

TAG = lock_tag("probe", "x")


class Probe(Rotation):
    """A rotation whose steps only record that they ran (or raise ``failure``)."""

    what = "probe secret"

    def __init__(self, failure: Exception | None = None, **options) -> None:
        super().__init__(conn_id="acedata_default", lease_tag=TAG, identity={"probe": "x"}, **options)
        self.failure = failure
        self.leased_while_rotating: bool | None = None

    def rotate(self) -> RotationResult:
        self.leased_while_rotating = self.lease.token_id is not None
        if self.failure is not None:
            raise self.failure
        return RotationResult(new_id="new-id", previous_id="old-id", revoked_ids=["old-id"])


def locks(platform) -> list[dict]:
    return [t for t in platform.live_tokens() if TAG in (t.get("tags") or [])]


def test_steps_run_under_the_lease_and_the_report_is_one_line(platform, caplog):
    reached: list[str] = []
    probe = Probe(token_store=MemoryStore(), checkpoint=reached.append, lease_poll=0.05)

    with caplog.at_level(logging.INFO, logger="airflow_provider_acedata.rotation"):
        result = probe.run()

    assert result.new_id == "new-id"
    assert probe.leased_while_rotating and reached == ["leased"]
    assert locks(platform) == [], "the lease is released"
    assert "Replaced probe secret old-id with new-id. Revoked: old-id" in caplog.text


def test_a_failing_step_still_releases_the_lease(platform):
    with pytest.raises(RotationError, match="step broke"):
        Probe(RotationError("step broke"), token_store=MemoryStore()).run()

    assert locks(platform) == []


def test_the_preflight_runs_before_anything_is_sent(platform):
    class Sealed(MemoryStore):
        def preflight(self) -> None:
            raise TokenStoreError("the vault is sealed")

    with pytest.raises(TokenStoreError, match="sealed"):
        Probe(token_store=Sealed()).run()

    assert platform.requests == []


class TestStoreNew:
    """One rule when the store raises: ask it what it holds before deciding anything."""

    def store_new(self, store: MemoryStore, revoke_new=lambda: "revoked") -> Probe:
        probe = Probe(token_store=store)
        probe.store_new("new-secret-value", new_id="new-id", revoke_new=revoke_new)
        return probe

    def test_a_store_that_raised_but_holds_the_new_secret_carries_on(self):
        store = MemoryStore(write_then_fail=True)
        self.store_new(store)
        assert store.value == "new-secret-value"

    def test_a_store_that_holds_the_old_secret_revokes_the_new_one(self):
        revoked: list[bool] = []
        with pytest.raises(
            RotationError, match=r"still holds the old probe secret.* new probe secret new-id was revoked"
        ):
            self.store_new(MemoryStore(fail=True), revoke_new=lambda: revoked.append(True) or "revoked")
        assert revoked == [True]

    def test_a_store_that_cannot_tell_keeps_both_alive(self):
        with pytest.raises(RotationError, match="cannot say what it holds; both the old and the new probe secret"):
            self.store_new(MemoryStore(fail=True, readable=False), revoke_new=lambda: pytest.fail("revoked"))

    def test_after_an_in_place_rotate_there_is_nothing_to_fall_back_to(self):
        with pytest.raises(RotationError, match=r"no longer works \(it was rotated in place\)"):
            self.store_new(MemoryStore(fail=True), revoke_new=None)
