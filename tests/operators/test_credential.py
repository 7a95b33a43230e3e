"""CreateCredentialOperator and RotateCredentialOperator against a FakeAceDataPlatform on a real socket.

The API-key rotation protocol itself (rotation/credential.py) is tested in tests/rotation/test_credential.py.
"""

from __future__ import annotations

import json
import threading
import time
from unittest import mock

import pytest
from credential_support import MemoryStore, assert_no_key_in, create, credential, named, rotate
from testdata import pushed

from airflow_provider_acedata.exceptions import AceDataConflictError, AceDataInputError
from airflow_provider_acedata.links import AceDataApplicationLink
from airflow_provider_acedata.operators import CreateCredentialOperator, RotateCredentialOperator
from airflow_provider_acedata.platform_lock import LockError, PlatformLock
from airflow_provider_acedata.testing import FakeAceDataPlatform
from airflow_provider_acedata.token_stores import TokenStoreError

APP_ID = "107f8d0f-e465-4a7e-a49e-d633d26f7aa2"


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


class TestRotateCredentialOperator:
    """The operator's own part; the protocol it runs is tested in tests/rotation/test_credential.py."""

    def test_pushes_ids_and_logs_the_steps_without_a_key(self, platform, app_id, context, capsys):
        old_id = create(app_id, name="etl").execute(context)
        context["ti"].reset_mock()
        store = MemoryStore()

        new_id = rotate(old_id, store).execute(context)

        assert new_id != old_id and store.value
        assert pushed(context) == {"application_id": app_id, "revoked_credential_id": old_id}
        logged = capsys.readouterr().out
        assert "Deleted the old API key" in logged
        assert_no_key_in(platform, json.dumps(pushed(context)), logged)

    def test_an_in_place_rotate_revokes_no_id(self, platform, app_id, context):
        old_id = create(app_id, name="etl").execute(context)
        context["ti"].reset_mock()

        assert rotate(old_id, MemoryStore(), strategy="rotate").execute(context) == old_id
        assert pushed(context) == {"application_id": app_id, "revoked_credential_id": None}

    def test_bad_input_fails_before_any_request(self, platform, context):
        with pytest.raises(AceDataInputError, match="credential_id"):
            rotate("etl", MemoryStore()).execute(context)
        with pytest.raises(AceDataInputError, match="strategy"):
            rotate(APP_ID, MemoryStore(), strategy="swap").execute(context)
        assert platform.requests == []

    def test_a_store_is_required(self):
        with pytest.raises(AceDataInputError, match="TokenStore"):
            RotateCredentialOperator(task_id="rotate", credential_id=APP_ID, token_store="acedata_api_key")


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
