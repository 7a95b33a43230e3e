"""The API-key rotation (rotation/credential.py) through RotateCredentialOperator, on a real socket.

Replace (the default) and in-place rotate; the store-failure rule shared with platform-token rotation;
reruns after a crash find the replacement an earlier attempt stored.
"""

from __future__ import annotations

import json

import pytest
from credential_support import MemoryStore, assert_no_key_in, create, credential, named, rotate
from testdata import pushed

from airflow_provider_acedata.exceptions import AceDataNotFoundError
from airflow_provider_acedata.hooks import AceDataHook
from airflow_provider_acedata.rotation import RotationError
from airflow_provider_acedata.rotation.credential import ROTATED_FROM

UUID_PATH = r"/credentials/[0-9a-f-]{36}$"


class TestRotateReplace:
    @pytest.fixture
    def old(self, platform, app_id, context) -> dict:
        credential_id = create(app_id, name="etl", limited_amount=40).execute(context)
        context["ti"].reset_mock()
        platform.clear_requests()
        return credential(platform, credential_id)

    def test_new_key_is_stored_before_the_old_one_is_deleted(self, platform, old, context, capsys):
        store = MemoryStore()
        old_alive_at_save: list[bool] = []
        store.on_save = lambda token: old_alive_at_save.append(credential(platform, old["id"]) is not None)

        new_id = rotate(old["id"], store).execute(context)

        new = credential(platform, new_id)
        assert new_id != old["id"]
        assert old_alive_at_save == [True]
        assert credential(platform, old["id"]) is None
        assert store.value == new["token"] != old["token"]
        assert (new["name"], new["limited_amount"], new["application_id"]) == ("etl", 40, old["application_id"])
        assert new["metadata"][ROTATED_FROM] == old["id"]
        assert pushed(context) == {"application_id": old["application_id"], "revoked_credential_id": old["id"]}
        logged = capsys.readouterr().out
        assert "Deleted the old API key" in logged
        assert_no_key_in(platform, json.dumps(pushed(context)), new_id, logged)
        assert old["token"] not in logged

    def test_write_failure_known_unstored_deletes_the_new_key_and_keeps_the_old(self, platform, old, context):
        with pytest.raises(
            RotationError, match=r"still holds the old API key, which keeps working; the new API key \S+ was deleted"
        ):
            rotate(old["id"], MemoryStore(fail=True)).execute(context)

        assert [c["id"] for c in named(platform, "etl")] == [old["id"]]

    def test_write_failure_that_wrote_carries_on_like_the_platform_token_rotation(self, platform, old, context):
        store = MemoryStore(write_then_fail=True)

        new_id = rotate(old["id"], store).execute(context)

        assert [c["id"] for c in named(platform, "etl")] == [new_id]
        assert credential(platform, new_id)["token"] == store.value
        assert pushed(context)["revoked_credential_id"] == old["id"]
        assert store.saves == 1

    def test_write_failure_unknown_keeps_both_and_a_rerun_finishes(self, platform, old, context):
        store = MemoryStore(write_then_fail=True, readable=False)
        with pytest.raises(RotationError, match="cannot say what it holds; both the old and the new API key"):
            rotate(old["id"], store).execute(context)
        assert len(named(platform, "etl")) == 2
        stored = store.value
        store.write_then_fail = False
        store.readable = True

        new_id = rotate(old["id"], store).execute(context)

        assert [c["id"] for c in named(platform, "etl")] == [new_id]
        assert credential(platform, new_id)["token"] == stored == store.value
        assert store.saves == 1

    def test_rerun_deletes_an_unstored_replacement_left_behind(self, platform, old, context):
        leftover = AceDataHook().create_credential(
            old["application_id"], name="etl", metadata={ROTATED_FROM: old["id"]}
        )
        store = MemoryStore()

        new_id = rotate(old["id"], store).execute(context)

        assert [c["id"] for c in named(platform, "etl")] == [new_id]
        assert new_id != leftover["id"]

    def test_unreadable_store_leaves_a_leftover_alive(self, platform, old, context):
        leftover = AceDataHook().create_credential(
            old["application_id"], name="etl", metadata={ROTATED_FROM: old["id"]}
        )

        new_id = rotate(old["id"], MemoryStore(readable=False)).execute(context)

        assert {c["id"] for c in named(platform, "etl")} == {new_id, leftover["id"]}

    def test_failed_delete_of_the_old_key_keeps_both_and_a_rerun_finishes(self, platform, old, context):
        store = MemoryStore()
        platform.fail(method="DELETE", path=old["id"], status=500, times=None)
        with pytest.raises(RotationError, match="both keys work"):
            rotate(old["id"], store).execute(context)
        assert len(named(platform, "etl")) == 2
        platform.clear_faults()

        new_id = rotate(old["id"], store).execute(context)

        assert [c["id"] for c in named(platform, "etl")] == [new_id]
        assert store.value == credential(platform, new_id)["token"]
        assert store.saves == 1

    def test_rerun_after_a_completed_rotation_returns_the_successor(self, platform, old, context):
        store = MemoryStore()
        new_id = rotate(old["id"], store).execute(context)

        assert rotate(old["id"], store).execute(context) == new_id
        assert pushed(context)["revoked_credential_id"] == old["id"]

    def test_unknown_credential_fails(self, platform, context):
        with pytest.raises(AceDataNotFoundError):
            rotate("107f8d0f-e465-4a7e-a49e-d633d26f7aa2", MemoryStore()).execute(context)

    def test_read_back_mismatch_deletes_the_new_key(self, platform, old, context):
        platform.fail(method="GET", path=UUID_PATH, skip=1, status=200, body={"id": "x", "token": "another0key0value"})
        store = MemoryStore()

        with pytest.raises(RotationError, match="different key"):
            rotate(old["id"], store).execute(context)

        assert [c["id"] for c in named(platform, "etl")] == [old["id"]]
        assert store.saves == 0


class TestRotateInPlace:
    @pytest.fixture
    def old(self, platform, app_id, context) -> dict:
        credential_id = create(app_id, name="etl").execute(context)
        context["ti"].reset_mock()
        platform.clear_requests()
        return credential(platform, credential_id)

    def test_rotate_keeps_the_id_and_stores_the_new_key(self, platform, old, context):
        store = MemoryStore()

        assert rotate(old["id"], store, strategy="rotate").execute(context) == old["id"]

        assert store.value == credential(platform, old["id"])["token"] != old["token"]
        assert pushed(context) == {"application_id": old["application_id"], "revoked_credential_id": None}
        assert len(platform.calls("POST", "/rotate")) == 1

    def test_store_failure_after_rotate_says_the_old_key_is_dead(self, platform, old, context):
        with pytest.raises(RotationError, match="old API key no longer works"):
            rotate(old["id"], MemoryStore(fail=True), strategy="rotate").execute(context)

    @pytest.mark.parametrize("status", [404, 405])
    def test_missing_route_falls_back_to_replace(self, platform, old, context, status):
        platform.fail(method="POST", path="/rotate", status=status, body={"detail": "Not found."})
        store = MemoryStore()

        new_id = rotate(old["id"], store, strategy="rotate").execute(context)

        assert new_id != old["id"]
        assert credential(platform, old["id"]) is None
        assert store.value == credential(platform, new_id)["token"]
        assert pushed(context)["revoked_credential_id"] == old["id"]

    def test_other_rotate_errors_fail(self, platform, old, context):
        platform.fail(method="POST", path="/rotate", status=500)

        with pytest.raises(Exception, match="500"):
            rotate(old["id"], MemoryStore(), strategy="rotate").execute(context)
        assert credential(platform, old["id"])["token"] == old["token"]
