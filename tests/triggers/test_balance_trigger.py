"""ApplicationBalanceTrigger against a FakeAceDataPlatform on a real socket: events, timeouts, errors, serialization."""

from __future__ import annotations

import asyncio
import json
import threading
import time

from airflow.sdk._shared.module_loading import import_string

from airflow_provider_acedata.triggers import ApplicationBalanceTrigger
from airflow_provider_acedata.triggers import balance as balance_module

APP_ID = "107f8d0f-e465-4a7e-a49e-d633d26f7aa2"


def first_event(trigger: ApplicationBalanceTrigger, limit: float = 10.0) -> dict:
    """Drive the trigger as the triggerer does and return its first event's payload."""

    async def run() -> dict:
        events = trigger.run()
        try:
            event = await asyncio.wait_for(events.__anext__(), limit)
        finally:
            await events.aclose()
        return event.payload

    return asyncio.run(run())


class TestSerialize:
    def test_round_trip(self):
        trigger = ApplicationBalanceTrigger(
            application_id=APP_ID, min_remaining_amount=12.5, acedata_conn_id="acedata_x", poll_interval=5, end_time=1e9
        )

        classpath, kwargs = trigger.serialize()

        assert import_string(classpath) is ApplicationBalanceTrigger
        assert kwargs == {
            "application_id": APP_ID,
            "min_remaining_amount": 12.5,
            "acedata_conn_id": "acedata_x",
            "poll_interval": 5,
            "end_time": 1e9,
        }
        assert ApplicationBalanceTrigger(**kwargs).serialize() == (classpath, kwargs)

    def test_kwargs_hold_no_token(self, platform, app_id):
        trigger = ApplicationBalanceTrigger(application_id=app_id, min_remaining_amount=0)
        assert first_event(trigger)["status"] == "success"

        _, kwargs = trigger.serialize()

        assert set(kwargs) == {"application_id", "min_remaining_amount", "acedata_conn_id", "poll_interval", "end_time"}
        assert all(isinstance(v, str | int | float | type(None)) for v in kwargs.values())
        assert platform.token not in json.dumps(kwargs)
        assert platform.token not in repr(trigger.__dict__)


class TestRun:
    def test_success_once_the_balance_arrives(self, platform, app_id):
        platform.schedule_balance(app_id, 150, after_seconds=0.3)
        trigger = ApplicationBalanceTrigger(application_id=app_id, min_remaining_amount=100, poll_interval=0.05)

        started = time.monotonic()
        event = first_event(trigger)

        assert event == {"status": "success", "application_id": app_id, "remaining_amount": 150.0}
        assert time.monotonic() - started >= 0.3
        assert len(platform.calls("GET", f"/applications/{app_id}")) > 1

    def test_success_at_once_when_already_enough(self, platform, app_id):
        platform.set_balance(app_id, 5)

        event = first_event(ApplicationBalanceTrigger(application_id=app_id, min_remaining_amount=5))

        assert event["status"] == "success"
        assert event["remaining_amount"] == 5
        assert len(platform.calls("GET")) == 1

    def test_timeout_event_after_end_time(self, platform, app_id):
        trigger = ApplicationBalanceTrigger(
            application_id=app_id, min_remaining_amount=100, poll_interval=0.05, end_time=time.time() + 0.3
        )

        event = first_event(trigger)

        assert event["status"] == "timeout"
        assert event["remaining_amount"] == 0
        assert "below 100" in event["message"]

    def test_final_check_happens_at_end_time_even_with_a_long_interval(self, platform, app_id):
        platform.schedule_balance(app_id, 100, after_seconds=0.2)
        trigger = ApplicationBalanceTrigger(
            application_id=app_id, min_remaining_amount=100, poll_interval=3600, end_time=time.time() + 0.4
        )

        assert first_event(trigger)["status"] == "success"

    def test_unknown_application_is_an_error_event(self, platform):
        event = first_event(ApplicationBalanceTrigger(application_id=APP_ID, min_remaining_amount=1))

        assert event["status"] == "error"
        assert "AceDataNotFoundError" in event["message"]
        assert platform.token not in event["message"]

    def test_missing_connection_is_an_error_event(self, platform, app_id):
        trigger = ApplicationBalanceTrigger(application_id=app_id, min_remaining_amount=1, acedata_conn_id="nope")

        event = first_event(trigger)

        assert event["status"] == "error"
        assert "nope" in event["message"]

    def test_revoked_token_is_an_error_event_without_the_token(self, platform, app_id):
        platform.fail(method="GET", status=401, body={"detail": "Invalid token."}, times=None)

        event = first_event(ApplicationBalanceTrigger(application_id=app_id, min_remaining_amount=1))

        assert event["status"] == "error"
        assert "AceDataAuthenticationError" in event["message"]
        assert platform.token not in event["message"]

    def test_transient_failures_use_the_hooks_retries(self, platform, app_id):
        platform.set_balance(app_id, 10)
        platform.fail(method="GET", path="/applications/", status=503, times=2)

        event = first_event(ApplicationBalanceTrigger(application_id=app_id, min_remaining_amount=10))

        assert event["status"] == "success"
        assert len(platform.calls("GET", "/applications/")) == 3

    def test_missing_amount_is_an_error_event(self, platform, app_id):
        platform.fail(method="GET", path="/applications/", status=200, body={"id": app_id})

        event = first_event(ApplicationBalanceTrigger(application_id=app_id, min_remaining_amount=1))

        assert event["status"] == "error"
        assert "no usable remaining_amount" in event["message"]

    def test_hook_runs_off_the_event_loop_thread(self, platform, app_id, monkeypatch):
        threads: list[int] = []
        real = balance_module.fetch_remaining_amount

        def spy(conn_id: str, application_id: str) -> float:
            threads.append(threading.get_ident())
            return real(conn_id, application_id)

        monkeypatch.setattr(balance_module, "fetch_remaining_amount", spy)

        first_event(ApplicationBalanceTrigger(application_id=app_id, min_remaining_amount=0))

        assert threads
        assert threading.get_ident() not in threads

    def test_picks_up_a_rotated_token_between_polls(self, platform, app_id, monkeypatch):
        rotated = platform.issue_token()["token"]
        platform.schedule_balance(app_id, 10, after_seconds=0.2)
        original = balance_module.fetch_remaining_amount

        def rotate_after_first_poll(conn_id: str, application_id: str) -> float:
            amount = original(conn_id, application_id)
            connection = json.loads(platform.connection_json(rotated))
            monkeypatch.setenv("AIRFLOW_CONN_ACEDATA_DEFAULT", json.dumps(connection))
            return amount

        monkeypatch.setattr(balance_module, "fetch_remaining_amount", rotate_after_first_poll)
        trigger = ApplicationBalanceTrigger(application_id=app_id, min_remaining_amount=10, poll_interval=0.05)

        assert first_event(trigger)["status"] == "success"
        assert {r.token for r in platform.calls("GET")} == {platform.token, rotated}
