"""ApplicationBalanceTrigger against a FakeAceDataPlatform on a real socket: events, timeouts, errors, serialization."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from airflow.sdk._shared.module_loading import import_string
from airflow.triggers.base import TriggerEvent
from testdata import raise_balance_after_reads

from airflow_provider_acedata.hooks import _http as http_module
from airflow_provider_acedata.hooks._http import SyncTransport
from airflow_provider_acedata.triggers import ApplicationBalanceTrigger

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
            application_id=APP_ID, min_remaining_amount=12.5, acedata_conn_id="acedata_x", poke_interval=5, end_time=1e9
        )

        classpath, kwargs = trigger.serialize()

        assert import_string(classpath) is ApplicationBalanceTrigger
        assert kwargs == {
            "application_id": APP_ID,
            "min_remaining_amount": 12.5,
            "acedata_conn_id": "acedata_x",
            "poke_interval": 5,
            "end_time": 1e9,
        }
        assert ApplicationBalanceTrigger(**kwargs).serialize() == (classpath, kwargs)

    def test_kwargs_of_a_trigger_deferred_by_0_1_0_still_load(self):
        old = {"application_id": APP_ID, "min_remaining_amount": 1, "acedata_conn_id": "a", "poll_interval": 7}

        assert ApplicationBalanceTrigger(**old).serialize()[1]["poke_interval"] == 7

    def test_kwargs_hold_no_token(self, platform, app_id):
        trigger = ApplicationBalanceTrigger(application_id=app_id, min_remaining_amount=0)
        assert first_event(trigger)["status"] == "success"

        _, kwargs = trigger.serialize()

        assert set(kwargs) == {"application_id", "min_remaining_amount", "acedata_conn_id", "poke_interval", "end_time"}
        assert all(isinstance(v, str | int | float | type(None)) for v in kwargs.values())
        assert platform.token not in json.dumps(kwargs)
        assert platform.token not in repr(trigger.__dict__)


class TestRun:
    def test_success_once_the_balance_arrives(self, platform, app_id):
        platform.schedule_balance(app_id, 150, after_seconds=0.3)
        trigger = ApplicationBalanceTrigger(application_id=app_id, min_remaining_amount=100, poke_interval=0.05)

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
            application_id=app_id, min_remaining_amount=100, poke_interval=0.05, end_time=time.time() + 0.3
        )

        event = first_event(trigger)

        assert event["status"] == "timeout"
        assert event["remaining_amount"] == 0
        assert "below 100" in event["message"]

    @pytest.mark.parametrize("hang", ["slow answer", "retry-after"])
    def test_timeout_event_fires_on_time_whatever_a_read_in_flight_is_doing(self, platform, app_id, hang):
        platform.set_balance(app_id, 3)
        if hang == "slow answer":
            platform.fail(method="GET", path="/applications/", delay=5, times=None, skip=1)
        else:
            platform.fail(method="GET", path="/applications/", status=429, retry_after=30, times=None, skip=1)
        end_time = time.time() + 1.5  # the first read answers; the second, at 0.2 s, hangs past the end
        trigger = ApplicationBalanceTrigger(
            application_id=app_id, min_remaining_amount=100, poke_interval=0.2, end_time=end_time
        )

        event = first_event(trigger)

        assert time.time() - end_time < 1.0
        assert event["status"] == "timeout"
        assert event["remaining_amount"] == 3  # the last balance that was read
        assert "did not answer" in event["message"]

    def test_a_last_check_happens_just_before_end_time_even_with_a_long_interval(self, platform, app_id):
        platform.schedule_balance(app_id, 100, after_seconds=0.2)
        trigger = ApplicationBalanceTrigger(
            application_id=app_id, min_remaining_amount=100, poke_interval=3600, end_time=time.time() + 1.4
        )

        assert first_event(trigger)["status"] == "success"
        assert len(platform.calls("GET", f"/applications/{app_id}")) == 2  # at the start, and 1 s before the end

    def test_the_timeout_event_comes_at_end_time_not_before(self, platform, app_id):
        end_time = time.time() + 1.3

        event = first_event(
            ApplicationBalanceTrigger(
                application_id=app_id, min_remaining_amount=100, poke_interval=0.1, end_time=end_time
            )
        )

        assert event["status"] == "timeout"
        assert 0 <= time.time() - end_time < 0.3

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

    def test_reads_run_on_the_event_loop_not_in_threads(self, platform, app_id, monkeypatch):
        raise_balance_after_reads(platform, app_id, 10, reads=4)
        offloaded: list[object] = []
        real = asyncio.BaseEventLoop.run_in_executor

        def record(self, executor, func, *args):
            offloaded.append(func)
            return real(self, executor, func, *args)

        def no_sync_request(*args, **kwargs):
            raise AssertionError("the trigger used the blocking transport")

        monkeypatch.setattr(asyncio.BaseEventLoop, "run_in_executor", record)
        monkeypatch.setattr(SyncTransport, "request", no_sync_request)
        trigger = ApplicationBalanceTrigger(application_id=app_id, min_remaining_amount=10, poke_interval=0.05)

        assert first_event(trigger)["status"] == "success"
        assert len(platform.calls("GET", f"/applications/{app_id}")) >= 4
        # Airflow's own aget_connection offloads the env-var backend once; no read is offloaded.
        assert len(offloaded) <= 1

    def test_one_client_per_trigger_reused_across_polls_and_closed(self, platform, app_id, clients):
        raise_balance_after_reads(platform, app_id, 10, reads=4)
        trigger = ApplicationBalanceTrigger(application_id=app_id, min_remaining_amount=10, poke_interval=0.05)

        assert first_event(trigger)["status"] == "success"
        assert len(platform.calls("GET", f"/applications/{app_id}")) == 5
        assert len(clients) == 1
        assert clients[0].is_closed

    def test_cancellation_closes_the_client(self, platform, app_id, clients):
        trigger = ApplicationBalanceTrigger(application_id=app_id, min_remaining_amount=10, poke_interval=3600)

        async def cancel_while_waiting() -> None:
            _, task = await after_first_read(trigger, platform, app_id)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

        asyncio.run(cancel_while_waiting())

        assert len(platform.calls("GET", f"/applications/{app_id}")) == 1
        assert len(clients) == 1
        assert clients[0].is_closed

    def test_429_retry_after_is_awaited_not_slept(self, platform, app_id, monkeypatch):
        waits: list[float] = []

        async def record(seconds: float) -> None:
            waits.append(seconds)

        monkeypatch.setattr(http_module, "_async_sleep", record)
        platform.set_balance(app_id, 10)
        platform.fail(method="GET", path="/applications/", status=429, retry_after=7, times=1)

        event = first_event(ApplicationBalanceTrigger(application_id=app_id, min_remaining_amount=10))

        assert event["status"] == "success"
        assert waits == [7.0]
        assert len(platform.calls("GET", "/applications/")) == 2

    def test_retry_after_beyond_max_retry_wait_is_an_error_event(self, platform, app_id):
        platform.fail(method="GET", path="/applications/", status=429, retry_after=86400, times=None)

        event = first_event(ApplicationBalanceTrigger(application_id=app_id, min_remaining_amount=10))

        assert event["status"] == "error"
        assert "AceDataRateLimitError" in event["message"]
        assert len(platform.calls("GET", "/applications/")) == 1

    def test_401_then_the_rotated_token(self, platform, app_id, monkeypatch):
        rotated = platform.issue_token()["token"]
        old = platform.token
        raise_balance_after_reads(platform, app_id, 10, reads=2)
        trigger = ApplicationBalanceTrigger(application_id=app_id, min_remaining_amount=10, poke_interval=0.05)

        async def rotate_after_first_read() -> dict:
            events, task = await after_first_read(trigger, platform, app_id)
            connection = json.loads(platform.connection_json(rotated))
            connection["extra"] = {"retry_delay": 0}
            monkeypatch.setenv("AIRFLOW_CONN_ACEDATA_DEFAULT", json.dumps(connection))
            platform.fail(token=old, status=401, body={"detail": "Invalid token."}, times=None)
            event = await asyncio.wait_for(task, 10)
            await events.aclose()
            return event.payload

        assert asyncio.run(rotate_after_first_read())["status"] == "success"
        reads = platform.calls("GET", f"/applications/{app_id}")
        assert [r.token for r in reads if r.status == 401] == [old]
        assert reads[-1].token == rotated and reads[-1].status == 200


async def after_first_read(
    trigger: ApplicationBalanceTrigger, platform, app_id: str
) -> tuple[AsyncIterator[TriggerEvent], asyncio.Future]:
    """Start the trigger as the triggerer does; return once the platform has answered its first read."""
    events = trigger.run()
    task = asyncio.ensure_future(events.__anext__())
    for _ in range(500):
        if any(read.status for read in platform.calls("GET", f"/applications/{app_id}")):
            break
        await asyncio.sleep(0.01)
    return events, task


@pytest.fixture
def clients(monkeypatch) -> list[httpx.AsyncClient]:
    """Every httpx.AsyncClient created during the test."""
    created: list[httpx.AsyncClient] = []
    real_init = httpx.AsyncClient.__init__

    def init(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        created.append(self)

    monkeypatch.setattr(httpx.AsyncClient, "__init__", init)
    return created
