"""CreateCredentialOperator and RotateCredentialOperator against a FakeAceDataPlatform on a real socket."""

from __future__ import annotations

import json
import threading
import time
from unittest import mock

import pytest

from airflow_provider_acedata.exceptions import AceDataConflictError, AceDataInputError, AceDataNotFoundError
from airflow_provider_acedata.hooks import AceDataHook
from airflow_provider_acedata.links import AceDataApplicationLink
from airflow_provider_acedata.operators import CreateCredentialOperator, RotateCredentialOperator
from airflow_provider_acedata.platform_lock import LockError, PlatformLock
from airflow_provider_acedata.rotation import RotationError
from airflow_provider_acedata.rotation.credential import ROTATED_FROM
from airflow_provider_acedata.testing import FakeAceDataPlatform
from airflow_provider_acedata.token_stores import TokenStore, TokenStoreError

APP_ID = "107f8d0f-e465-4a7e-a49e-d633d26f7aa2"
UUID_PATH = r"/credentials/[0-9a-f-]{36}$"


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
    return {c.kwargs["key"]: c.kwargs["value"] for c in context["ti"].xcom_push.call_args_list}


def credential(platform: FakeAceDataPlatform, credential_id: str) -> dict | None:
    return next((c for c in platform.credentials() if c["id"] == credential_id), None)


def named(platform: FakeAceDataPlatform, name: str) -> list[dict]:
    return [c for c in platform.credentials() if c["name"] == name]


def create(application_id: str, **kwargs) -> CreateCredentialOperator:
    return CreateCredentialOperator(task_id="create_api_key", application_id=application_id, **kwargs)


def rotate(credential_id: str, store: TokenStore, **kwargs) -> RotateCredentialOperator:
    return RotateCredentialOperator(task_id="rotate_api_key", credential_id=credential_id, token_store=store, **kwargs)


def assert_no_key_in(platform: FakeAceDataPlatform, *texts: str) -> None:
    for key in (c["token"] for c in platform.credentials()):
        for text in texts:
            assert key not in text


class TestCreateCredential:
    def test_creates_stores_and_returns_only_the_id(self, platform, app_id, context, capsys):
        store = MemoryStore()

        credential_id = create(app_id, name="etl", limited_amount="25", token_store=store).execute(context)

        made = credential(platform, credential_id)
        assert made["name"] == "etl"
        assert made["limited_amount"] == 25
        assert store.value == made["token"]
        xcoms = pushed(context)
        assert xcoms["application_id"] == app_id
        assert xcoms["credential"] == {
            "id": credential_id,
            "name": "etl",
            "application_id": app_id,
            "limited_amount": 25,
            "expired_at": None,
            "created": True,
        }
        logged = capsys.readouterr().out
        assert "Created API key" in logged
        assert_no_key_in(platform, json.dumps(xcoms), credential_id, logged)

    def test_rerun_reuses_the_key_without_rewriting_the_store(self, platform, app_id, context):
        store = MemoryStore()
        first = create(app_id, name="etl", token_store=store).execute(context)

        second = create(app_id, name="etl", token_store=store).execute(context)

        assert second == first
        assert len(named(platform, "etl")) == 1
        assert store.saves == 1
        assert pushed(context)["credential"]["created"] is False

    def test_reuse_writes_the_key_to_an_empty_store(self, platform, app_id, context):
        first = create(app_id, name="etl").execute(context)
        store = MemoryStore()

        assert create(app_id, name="etl", token_store=store).execute(context) == first
        assert store.value == credential(platform, first)["token"]

    def test_without_a_store_the_key_stays_on_the_platform_only(self, platform, app_id, context):
        credential_id = create(app_id, name="etl", expired_at="2030-01-31T00:00:00Z").execute(context)

        assert credential(platform, credential_id)["expired_at"].startswith("2030-01-31T00:00:00")

    def test_if_exists_fail(self, platform, app_id, context):
        create(app_id, name="etl").execute(context)

        with pytest.raises(AceDataConflictError, match="etl"):
            create(app_id, name="etl", if_exists="fail").execute(context)

    def test_if_exists_create_makes_another(self, platform, app_id, context):
        first = create(app_id, name="etl").execute(context)

        assert create(app_id, name="etl", if_exists="create").execute(context) != first
        assert len(named(platform, "etl")) == 2

    def test_store_failure_fails_the_task_and_a_rerun_reuses_the_key(self, platform, app_id, context):
        with pytest.raises(TokenStoreError):
            create(app_id, name="etl", token_store=MemoryStore(fail=True)).execute(context)
        store = MemoryStore()

        create(app_id, name="etl", token_store=store).execute(context)

        assert len(named(platform, "etl")) == 1
        assert store.value == named(platform, "etl")[0]["token"]

    @pytest.mark.parametrize(
        ("kwargs", "field"),
        [
            ({"application_id": "{{ ti.xcom_pull('x') }}", "name": "etl"}, "application_id"),
            ({"application_id": APP_ID, "name": ""}, "name"),
            ({"application_id": APP_ID, "name": "etl", "limited_amount": "-5"}, "limited_amount"),
            ({"application_id": APP_ID, "name": "etl", "expired_at": "soon"}, "expired_at"),
            ({"application_id": APP_ID, "name": "etl", "if_exists": "replace"}, "if_exists"),
        ],
    )
    def test_bad_input_fails_before_any_request(self, platform, context, kwargs, field):
        with pytest.raises(AceDataInputError, match=field):
            CreateCredentialOperator(task_id="create_api_key", **kwargs).execute(context)
        assert platform.requests == []

    def test_template_fields_and_link(self):
        operator = create(APP_ID, name="etl", token_store=MemoryStore())

        assert "token_store" not in operator.template_fields
        assert {"application_id", "name", "limited_amount", "expired_at"} <= set(operator.template_fields)
        assert [type(link) for link in operator.operator_extra_links] == [AceDataApplicationLink]


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
            rotate(APP_ID, MemoryStore()).execute(context)

    def test_read_back_mismatch_deletes_the_new_key(self, platform, old, context):
        platform.fail(method="GET", path=UUID_PATH, skip=1, status=200, body={"id": "x", "token": "another0key0value"})
        store = MemoryStore()

        with pytest.raises(RotationError, match="different key"):
            rotate(old["id"], store).execute(context)

        assert [c["id"] for c in named(platform, "etl")] == [old["id"]]
        assert store.saves == 0

    def test_bad_input_fails_before_any_request(self, platform, context):
        with pytest.raises(AceDataInputError, match="credential_id"):
            rotate("etl", MemoryStore()).execute(context)
        with pytest.raises(AceDataInputError, match="strategy"):
            rotate(APP_ID, MemoryStore(), strategy="swap").execute(context)
        assert platform.requests == []

    def test_a_store_is_required(self):
        with pytest.raises(TypeError, match="TokenStore"):
            RotateCredentialOperator(task_id="rotate", credential_id=APP_ID, token_store="acedata_api_key")


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


# -- concurrent creates: the platform lock of (application, name) ---------------------------------------------

WAIT = 20.0


class Killed(BaseException):
    """A worker killed mid-run: no ``except Exception`` handler runs and the lock is not released."""


class SteeredCreate(CreateCredentialOperator):
    """A CreateCredentialOperator whose lock can pause once held, or die, for deterministic interleavings."""

    def __init__(self, *, application_id: str, **kwargs) -> None:
        kwargs.setdefault("lock_wait", WAIT)
        super().__init__(task_id="create_api_key", application_id=application_id, name="etl", **kwargs)
        self.holding = threading.Event()
        self.waiting = threading.Event()
        self.proceed = threading.Event()
        self.proceed.set()
        self.die_when_holding = False
        self.lock: PlatformLock | None = None
        self.result: str | None = None
        self.error: BaseException | None = None
        self.context = {"ti": mock.MagicMock()}
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _lock(self, context, application_id, name):
        operator = self
        made = super()._lock(context, application_id, name)

        class Steered(PlatformLock):
            def acquire(self) -> None:
                super().acquire()
                operator.lock = self
                operator.holding.set()
                assert operator.proceed.wait(WAIT), "never released"
                if operator.die_when_holding:
                    operator.abandon(self)

        def sleep(seconds: float) -> None:
            self.waiting.set()
            time.sleep(seconds)

        return Steered(
            self.hook,
            tag=made.tag,
            ttl=made.ttl,
            wait=made.wait,
            poll=0.05,
            metadata=made.metadata,
            what=made.what,
            sleep=sleep,
        )

    @staticmethod
    def abandon(lock: PlatformLock | None) -> None:
        assert lock is not None
        lock.release = lambda hook=None: None  # type: ignore[method-assign]
        raise Killed

    def die_after_create(self) -> None:
        """Die right after the key was created, still holding the lock."""
        real = self.hook.create_credential

        def create_then_die(*args, **kwargs):
            real(*args, **kwargs)
            self.abandon(self.lock)

        self.hook.create_credential = create_then_die  # type: ignore[method-assign]

    def _run(self) -> None:
        try:
            self.result = self.execute(self.context)
        except BaseException as error:
            self.error = error

    def start(self) -> SteeredCreate:
        self.thread.start()
        return self

    def join(self) -> SteeredCreate:
        self.thread.join(WAIT)
        assert not self.thread.is_alive(), "the run did not finish"
        return self


def lock_tokens(platform: FakeAceDataPlatform) -> list[dict]:
    return [t for t in platform.live_tokens() if any(tag.startswith("airflow-lock:") for tag in t.get("tags") or [])]


class TestConcurrentCreate:
    def test_two_runs_end_with_one_key_and_both_return_its_id(self, platform, app_id):
        a = SteeredCreate(application_id=app_id)
        a.proceed.clear()
        a.start()
        assert a.holding.wait(WAIT)
        b = SteeredCreate(application_id=app_id).start()
        assert b.waiting.wait(WAIT), "B did not wait for A's lock"
        assert named(platform, "etl") == []

        a.proceed.set()
        a.join()
        b.join()

        assert a.error is None and b.error is None
        assert a.result == b.result
        assert [c["id"] for c in named(platform, "etl")] == [a.result]
        assert pushed(a.context)["credential"]["created"] is True
        assert pushed(b.context)["credential"]["created"] is False
        assert lock_tokens(platform) == []

    def test_if_exists_fail_fails_the_run_that_lost_the_race(self, platform, app_id):
        a = SteeredCreate(application_id=app_id, if_exists="fail")
        a.proceed.clear()
        a.start()
        assert a.holding.wait(WAIT)
        b = SteeredCreate(application_id=app_id, if_exists="fail").start()
        assert b.waiting.wait(WAIT)

        a.proceed.set()
        a.join()
        b.join()

        assert a.error is None
        assert isinstance(b.error, AceDataConflictError)
        assert [c["id"] for c in named(platform, "etl")] == [a.result]
        assert lock_tokens(platform) == []

    def test_a_run_killed_holding_the_lock_is_waited_out(self, platform, app_id):
        a = SteeredCreate(application_id=app_id, lock_ttl=1.0)
        a.die_when_holding = True
        a.start().join()
        assert isinstance(a.error, Killed)
        assert len(lock_tokens(platform)) == 1, "a killed run leaves its lock"

        b = SteeredCreate(application_id=app_id, lock_ttl=1.0).start().join()

        assert b.error is None
        assert [c["id"] for c in named(platform, "etl")] == [b.result]
        assert lock_tokens(platform) == []

    def test_a_run_killed_after_creating_leaves_the_key_to_the_next(self, platform, app_id):
        a = SteeredCreate(application_id=app_id, lock_ttl=1.0)
        a.die_after_create()
        a.start().join()
        assert isinstance(a.error, Killed)
        created = named(platform, "etl")
        assert len(created) == 1 and len(lock_tokens(platform)) == 1

        b = SteeredCreate(application_id=app_id, lock_ttl=1.0).start().join()

        assert b.error is None
        assert b.result == created[0]["id"]
        assert [c["id"] for c in named(platform, "etl")] == [b.result]
        assert len(lock_tokens(platform)) == 1, "B reused the key without the lock; the next rotation sweeps A's"

    def test_a_run_that_cannot_get_the_lock_in_time_changes_nothing(self, platform, app_id):
        a = SteeredCreate(application_id=app_id)
        a.proceed.clear()
        a.start()
        assert a.holding.wait(WAIT)

        b = SteeredCreate(application_id=app_id, lock_wait=0.3).start().join()
        assert isinstance(b.error, LockError) and "credential lock" in str(b.error)
        assert named(platform, "etl") == []

        a.proceed.set()
        a.join()
        assert [c["id"] for c in named(platform, "etl")] == [a.result]
        assert lock_tokens(platform) == []

    def test_an_existing_key_is_reused_without_taking_the_lock(self, platform, app_id, context):
        first = create(app_id, name="etl").execute(context)
        platform.clear_requests()

        assert create(app_id, name="etl").execute(context) == first
        assert platform.calls("POST") == []

    def test_creating_takes_and_releases_one_lock(self, platform, app_id, context):
        create(app_id, name="etl").execute(context)

        lock_calls = [r.method for r in platform.calls(path="/platform-tokens/(?!me/)")]
        assert lock_calls == ["POST", "GET", "DELETE"], "take the lock, check the holder, release it"
        assert len(platform.calls("POST", "/credentials/$")) == 1
        assert lock_tokens(platform) == []
