"""ApiTaskTrigger and its shared reader against the offline gateway on real sockets.

Shared reads, the 429 pause of every wait, deadlines that do not wait for reads, the client closed with the
last wait (cancelled or not), and kwargs that hold no key.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import math
import time
import uuid
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from api_support import api_connection, batch_reads, submit

from airflow_provider_acedata.testing import FakeAceDataPlatform
from airflow_provider_acedata.triggers import ApiTaskTrigger, _task_reads

FLUX = "/flux/images"


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeAceDataPlatform, str]]:
    """The offline gateway, and an API key of a Global application that ``acedata_api_default`` holds."""
    with FakeAceDataPlatform() as fake:
        key = fake.issue_api_key(None, credits=10_000)["token"]
        monkeypatch.setenv("AIRFLOW_CONN_ACEDATA_API_DEFAULT", api_connection(fake.gateway_url, key))
        yield fake, key
    assert not _task_reads._READERS, "a shared reader outlived its waits"


def trigger(task_id: str, *, path: str = FLUX, interval: float = 0.2, end_in: float | None = 30) -> ApiTaskTrigger:
    return ApiTaskTrigger(
        gateway_task_id=task_id,
        path=path,
        poke_interval=interval,
        end_time=None if end_in is None else time.time() + end_in,
    )


async def first_event(trig: ApiTaskTrigger) -> dict[str, Any]:
    events = trig.run()
    try:
        event = await events.__anext__()
    finally:
        await events.aclose()
    return dict(event.payload)


def run_all(triggers: list[ApiTaskTrigger], limit: float = 60) -> list[dict[str, Any]]:
    async def main() -> list[dict[str, Any]]:
        return await asyncio.wait_for(asyncio.gather(*(first_event(t) for t in triggers)), limit)

    return asyncio.run(main())


class TestSerialize:
    def test_round_trip_and_no_key(self, gateway: tuple[FakeAceDataPlatform, str]) -> None:
        fake, key = gateway
        task_id = submit(fake.gateway_url, key, FLUX)
        trig = ApiTaskTrigger(gateway_task_id=task_id, path=FLUX, acedata_api_conn_id="acedata_api_default",
                              poke_interval=5, end_time=2e9)  # fmt: skip

        classpath, kwargs = trig.serialize()

        module, name = classpath.rsplit(".", 1)
        assert getattr(importlib.import_module(module), name) is ApiTaskTrigger
        assert kwargs == {
            "gateway_task_id": task_id,
            "path": FLUX,
            "acedata_api_conn_id": "acedata_api_default",
            "poke_interval": 5,
            "end_time": 2e9,
        }
        assert ApiTaskTrigger(**kwargs).serialize() == (classpath, kwargs)
        fake.advance(10)
        run_all([trigger(task_id)])
        assert key not in json.dumps(trig.serialize()[1])
        assert key not in repr(trig.__dict__)

    def test_the_triggerer_setting_task_id_changes_nothing(self, gateway: tuple[FakeAceDataPlatform, str]) -> None:
        """The triggerer sets ``trigger.task_id`` to the Airflow task's id before ``run()`` (Airflow 3.3)."""
        fake, key = gateway
        task_id = submit(fake.gateway_url, key, FLUX)
        fake.advance(10)
        trig = trigger(task_id)
        trig.task_instance = SimpleNamespace(task_id="call_flux", dag_id="d", run_id="r", map_index=-1)
        trig.task_id = "call_flux"  # what the 3.3 setter does (3.1's does not)

        [event] = run_all([trig])

        assert trig.task_id == "call_flux"
        assert event["status"] == "succeeded"
        assert event["task_id"] == task_id
        assert trig.serialize()[1]["gateway_task_id"] == task_id


class TestEvents:
    def test_succeeded_failed_and_unknown(self, gateway: tuple[FakeAceDataPlatform, str]) -> None:
        fake, key = gateway
        fake.configure_route(FLUX, duration=0.5)
        fake.fail_tasks(f"{FLUX}$", code="forbidden", message="Refused by moderation.", skip=1)
        good, bad = submit(fake.gateway_url, key, FLUX), submit(fake.gateway_url, key, FLUX)
        unknown = str(uuid.uuid4())

        events = run_all([trigger(good), trigger(bad), trigger(unknown)])

        assert events[0]["status"] == "succeeded"
        assert events[0]["record"]["response"]["data"][0]["image_url"].startswith(fake.artifacts_url)
        assert events[1]["status"] == "failed"
        assert events[1]["record"]["response"]["error"] == {"code": "forbidden", "message": "Refused by moderation."}
        assert events[2]["status"] == "error"
        assert "did not list task" in events[2]["message"] and unknown in events[2]["message"]

    def test_a_refused_key_ends_the_wait_with_the_error(self, gateway: tuple[FakeAceDataPlatform, str]) -> None:
        fake, key = gateway
        task_id = submit(fake.gateway_url, key, FLUX)
        fake.fail(plane="gateway", path="/flux/tasks$", status=403, times=None,
                  body={"error": {"code": "disabled", "message": "disabled"}, "trace_id": "t"})  # fmt: skip

        [event] = run_all([trigger(task_id)])

        assert event["status"] == "error"
        assert "403" in event["message"] and "disabled" in event["message"]
        assert key not in event["message"]

    def test_transient_failures_are_retried_then_end_the_wait(
        self, gateway: tuple[FakeAceDataPlatform, str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        fake, key = gateway
        monkeypatch.setenv("AIRFLOW_CONN_ACEDATA_API_DEFAULT", api_connection(fake.gateway_url, key, retry_limit=2))
        fake.configure_route(FLUX, duration=0)
        task_id = submit(fake.gateway_url, key, FLUX)
        fake.fail(plane="gateway", path="/flux/tasks$", status=503, times=2)

        [event] = run_all([trigger(task_id)])
        assert event["status"] == "succeeded"
        assert len(batch_reads(fake, "flux")) == 3

        fake.fail(plane="gateway", path="/flux/tasks$", status=503, times=None)
        [event] = run_all([trigger(submit(fake.gateway_url, key, FLUX))])
        assert event["status"] == "error"
        assert "503" in event["message"]

    def test_the_deadline_fires_on_time_while_a_read_is_in_flight(
        self, gateway: tuple[FakeAceDataPlatform, str]
    ) -> None:
        fake, key = gateway
        task_id = submit(fake.gateway_url, key, FLUX)
        fake.fail(plane="gateway", path="/flux/tasks$", status=None, delay=5, times=None)

        async def main() -> tuple[dict[str, Any], float, _task_reads.TaskReads]:
            started = time.monotonic()
            trig = trigger(task_id, interval=0.1, end_in=0.6)
            events = trig.run()
            pending = asyncio.ensure_future(events.__anext__())
            await asyncio.sleep(0.3)  # the first read is on its way and will take 5 s
            reads = _task_reads._READERS[(id(asyncio.get_running_loop()), "acedata_api_default", "flux")]
            event = await pending
            elapsed = time.monotonic() - started
            await events.aclose()
            await asyncio.wait_for(reads.closed.wait(), 2)
            return dict(event.payload), elapsed, reads

        event, elapsed, reads = asyncio.run(main())

        assert event["status"] == "timeout"
        assert "still running" in event["message"]
        assert 0.55 <= elapsed < 1.5
        assert reads.reads == 1
        assert reads.closed.is_set()


class TestSharedReads:
    def test_waits_share_batch_reads(
        self, gateway: tuple[FakeAceDataPlatform, str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        fake, key = gateway
        count, interval = 250, 0.5
        fake.configure_route(FLUX, duration=lambda n: 0.5 + 2.0 * n / count)
        ids = [submit(fake.gateway_url, key, FLUX) for _ in range(count)]
        fake.reset_gateway_stats()
        fake.clear_requests()
        started: list[float] = []  # when the reader started each read (its schedule, free of server jitter)
        read = _task_reads.TaskReads._read

        async def recording(self: _task_reads.TaskReads, slot: _task_reads.Slot) -> None:
            started.append(asyncio.get_running_loop().time())
            await read(self, slot)

        monkeypatch.setattr(_task_reads.TaskReads, "_read", recording)
        began = time.monotonic()

        events = run_all([trigger(task_id, interval=interval) for task_id in ids])

        elapsed = time.monotonic() - began
        assert [event["status"] for event in events] == ["succeeded"] * count
        assert [event["task_id"] for event in events] == ids
        stats = fake.gateway_stats()
        assert stats.retrieves == 0
        assert stats.batch_retrieves == len(started) < count / 10
        assert all(len(record.body["ids"]) <= 100 for record in batch_reads(fake, "flux"))
        # About ceil(N/100) reads per interval (one per group of 100; a group that shrank and folded into
        # another may add one), against N for one read per wait.
        groups = math.ceil(count / 100)
        busiest = max(sum(1 for other in started if start <= other < start + 0.9 * interval) for start in started)
        assert busiest <= groups + 1
        assert len(started) <= groups * (elapsed / interval + 2)

    def test_a_429_pauses_every_wait_together(self, gateway: tuple[FakeAceDataPlatform, str]) -> None:
        """Two slots with different phases: the 429 of one stops the other's reads for Retry-After."""
        fake, key = gateway
        fake.configure_route(FLUX, duration=3.0)
        first = [submit(fake.gateway_url, key, FLUX) for _ in range(100)]
        second = [submit(fake.gateway_url, key, FLUX) for _ in range(20)]
        fake.clear_requests()
        limited = fake.fail(plane="gateway", path="/flux/tasks$", status=429, retry_after=1.5, times=1)

        async def main() -> list[dict[str, Any]]:
            waits = [asyncio.ensure_future(first_event(trigger(t, interval=0.5))) for t in first]
            await asyncio.sleep(0.25)
            waits += [asyncio.ensure_future(first_event(trigger(t, interval=0.5))) for t in second]
            return await asyncio.wait_for(asyncio.gather(*waits), 30)

        events = asyncio.run(main())

        assert {event["status"] for event in events} == {"succeeded"}
        assert limited.hits == 1
        reads = batch_reads(fake, "flux")
        throttled = next(record for record in reads if record.status == 429)
        slot_of = {**dict.fromkeys(first, "first"), **dict.fromkeys(second, "second")}
        after = [
            (record.at - throttled.at, slot_of[record.body["ids"][0]]) for record in reads if record.at > throttled.at
        ]
        assert after and min(at for at, _ in after) >= 1.45, after  # no slot read during the pause
        resumed = {slot: min(at for at, which in after if which == slot) for _, slot in after}
        assert sorted(resumed) == ["first", "second"]
        assert abs(resumed["first"] - resumed["second"]) >= 0.9, resumed  # and the slots resumed one at a time

    def test_a_long_retry_after_is_capped_by_max_retry_wait(
        self, gateway: tuple[FakeAceDataPlatform, str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        fake, key = gateway
        monkeypatch.setenv("AIRFLOW_CONN_ACEDATA_API_DEFAULT", api_connection(fake.gateway_url, key, max_retry_wait=1))
        fake.configure_route(FLUX, duration=0)
        task_id = submit(fake.gateway_url, key, FLUX)
        fake.fail(plane="gateway", path="/flux/tasks$", status=429, retry_after=120, times=1)

        started = time.monotonic()
        [event] = run_all([trigger(task_id, interval=0.2)])

        assert event["status"] == "succeeded"
        assert 1.0 <= time.monotonic() - started < 5

    def test_the_reader_closes_its_client_when_the_last_wait_is_cancelled(
        self, gateway: tuple[FakeAceDataPlatform, str]
    ) -> None:
        fake, key = gateway
        ids = [submit(fake.gateway_url, key, FLUX) for _ in range(3)]
        fake.configure_route(FLUX, duration=60)

        async def main() -> tuple[_task_reads.TaskReads, list[bool]]:
            tasks = [asyncio.ensure_future(first_event(trigger(t, interval=0.1))) for t in ids]
            await asyncio.sleep(0.5)
            reads = _task_reads.reader("acedata_api_default", "flux")
            hook = reads._hook
            assert hook is not None and reads.size == 3 and reads.reads >= 1
            client = hook.family._async.client if hook.family._async is not None else None
            states = []
            for task in tasks:
                task.cancel()
                await asyncio.sleep(0.05)
                states.append(reads.closed.is_set())
            await asyncio.wait_for(reads.closed.wait(), 2)
            assert client is None or client.is_closed
            return reads, states

        reads, states = asyncio.run(main())

        assert states == [False, False, True]  # open until the last wait leaves, closed right after
        assert reads.size == 0
