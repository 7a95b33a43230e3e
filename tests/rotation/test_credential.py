"""CredentialRotation (rotation/credential.py) on its own, against the offline platform over a real socket.

Replace (the default) and in-place rotate; the store-failure rule shared with platform-token rotation;
reruns after a crash find the replacement an earlier attempt stored. Built without a logger, as a
custom DAG might: the steps then log to the rotation module's logger.
"""

from __future__ import annotations

import logging

import pytest
from credential_support import MemoryStore, assert_no_key_in, credential, named

from airflow_provider_acedata.exceptions import AceDataNotFoundError
from airflow_provider_acedata.hooks import AceDataHook
from airflow_provider_acedata.rotation import CredentialRotation, RotationError, RotationResult
from airflow_provider_acedata.rotation.credential import ROTATED_FROM
from airflow_provider_acedata.token_stores import TokenStore

UUID_PATH = r"/credentials/[0-9a-f-]{36}$"


def rotate(credential_id: str, store: TokenStore, **options: object) -> RotationResult:
    """Rotate one API key with the protocol alone: no operator, no logger, no task context."""
    return CredentialRotation(
        conn_id="acedata_default",
        credential_id=credential_id,
        token_store=store,
        **options,  # type: ignore[arg-type]
    ).run()


@pytest.fixture
def old(platform, app_id) -> dict:
    made = AceDataHook().create_credential(app_id, name="etl", limited_amount=40)
    platform.clear_requests()
    return credential(platform, str(made["id"]))


class TestRotateReplace:
    def test_new_key_is_stored_before_the_old_one_is_deleted(self, platform, old, caplog):
        store = MemoryStore()
        old_alive_at_save: list[bool] = []
        store.on_save = lambda token: old_alive_at_save.append(credential(platform, old["id"]) is not None)

        with caplog.at_level(logging.INFO, logger="airflow_provider_acedata.rotation"):
            result = rotate(old["id"], store)

        new = credential(platform, result.new_id)
        assert result.new_id != old["id"]
        assert (result.previous_id, result.revoked_ids) == (old["id"], [old["id"]])
        assert old_alive_at_save == [True]
        assert credential(platform, old["id"]) is None
        assert store.value == new["token"] != old["token"]
        assert (new["name"], new["limited_amount"], new["application_id"]) == ("etl", 40, old["application_id"])
        assert new["metadata"][ROTATED_FROM] == old["id"]
        assert "Deleted the old API key" in caplog.text
        assert_no_key_in(platform, caplog.text, repr(result))

    def test_write_failure_known_unstored_deletes_the_new_key_and_keeps_the_old(self, platform, old):
        with pytest.raises(
            RotationError, match=r"still holds the old API key, which keeps working; the new API key \S+ was deleted"
        ):
            rotate(old["id"], MemoryStore(fail=True))

        assert [c["id"] for c in named(platform, "etl")] == [old["id"]]

    def test_write_failure_that_wrote_carries_on_like_the_platform_token_rotation(self, platform, old):
        store = MemoryStore(write_then_fail=True)

        result = rotate(old["id"], store)

        assert [c["id"] for c in named(platform, "etl")] == [result.new_id]
        assert credential(platform, result.new_id)["token"] == store.value
        assert result.revoked_ids == [old["id"]]
        assert store.saves == 1

    def test_write_failure_unknown_keeps_both_and_a_rerun_finishes(self, platform, old):
        store = MemoryStore(write_then_fail=True, readable=False)
        with pytest.raises(RotationError, match="cannot say what it holds; both the old and the new API key"):
            rotate(old["id"], store)
        assert len(named(platform, "etl")) == 2
        stored = store.value
        store.write_then_fail = False
        store.readable = True

        new_id = rotate(old["id"], store).new_id

        assert [c["id"] for c in named(platform, "etl")] == [new_id]
        assert credential(platform, new_id)["token"] == stored == store.value
        assert store.saves == 1

    def test_rerun_deletes_an_unstored_replacement_left_behind(self, platform, old):
        leftover = AceDataHook().create_credential(
            old["application_id"], name="etl", metadata={ROTATED_FROM: old["id"]}
        )
        store = MemoryStore()

        new_id = rotate(old["id"], store).new_id

        assert [c["id"] for c in named(platform, "etl")] == [new_id]
        assert new_id != leftover["id"]

    def test_unreadable_store_leaves_a_leftover_alive(self, platform, old):
        leftover = AceDataHook().create_credential(
            old["application_id"], name="etl", metadata={ROTATED_FROM: old["id"]}
        )

        new_id = rotate(old["id"], MemoryStore(readable=False)).new_id

        assert {c["id"] for c in named(platform, "etl")} == {new_id, leftover["id"]}

    def test_failed_delete_of_the_old_key_keeps_both_and_a_rerun_finishes(self, platform, old):
        store = MemoryStore()
        platform.fail(method="DELETE", path=old["id"], status=500, times=None)
        with pytest.raises(RotationError, match="both keys work"):
            rotate(old["id"], store)
        assert len(named(platform, "etl")) == 2
        platform.clear_faults()

        new_id = rotate(old["id"], store).new_id

        assert [c["id"] for c in named(platform, "etl")] == [new_id]
        assert store.value == credential(platform, new_id)["token"]
        assert store.saves == 1

    def test_rerun_after_a_completed_rotation_returns_the_successor(self, platform, old):
        store = MemoryStore()
        new_id = rotate(old["id"], store).new_id

        again = rotate(old["id"], store)
        assert (again.new_id, again.revoked_ids) == (new_id, [old["id"]])

    def test_unknown_credential_fails(self, platform):
        with pytest.raises(AceDataNotFoundError):
            rotate("107f8d0f-e465-4a7e-a49e-d633d26f7aa2", MemoryStore())

    def test_read_back_mismatch_deletes_the_new_key(self, platform, old):
        platform.fail(method="GET", path=UUID_PATH, skip=1, status=200, body={"id": "x", "token": "another0key0value"})
        store = MemoryStore()

        with pytest.raises(RotationError, match="different key"):
            rotate(old["id"], store)

        assert [c["id"] for c in named(platform, "etl")] == [old["id"]]
        assert store.saves == 0


class TestRotateInPlace:
    def test_rotate_keeps_the_id_and_stores_the_new_key(self, platform, old):
        store = MemoryStore()

        result = rotate(old["id"], store, strategy="rotate")

        assert (result.new_id, result.revoked_ids) == (old["id"], [])
        assert store.value == credential(platform, old["id"])["token"] != old["token"]
        assert len(platform.calls("POST", "/rotate")) == 1

    def test_store_failure_after_rotate_says_the_old_key_is_dead(self, platform, old):
        with pytest.raises(RotationError, match="old API key no longer works"):
            rotate(old["id"], MemoryStore(fail=True), strategy="rotate")

    @pytest.mark.parametrize("status", [404, 405])
    def test_missing_route_falls_back_to_replace_and_says_so(self, platform, old, status, caplog):
        platform.fail(method="POST", path="/rotate", status=status, body={"detail": "Not found."})
        store = MemoryStore()

        with caplog.at_level(logging.WARNING, logger="airflow_provider_acedata.rotation"):
            result = rotate(old["id"], store, strategy="rotate")

        assert result.new_id != old["id"]
        assert credential(platform, old["id"]) is None
        assert store.value == credential(platform, result.new_id)["token"]
        assert result.revoked_ids == [old["id"]]
        assert f"The platform has no in-place rotate (HTTP {status}); replacing the key instead" in caplog.text

    def test_other_rotate_errors_fail(self, platform, old):
        platform.fail(method="POST", path="/rotate", status=500)

        with pytest.raises(Exception, match="500"):
            rotate(old["id"], MemoryStore(), strategy="rotate")
        assert credential(platform, old["id"])["token"] == old["token"]
