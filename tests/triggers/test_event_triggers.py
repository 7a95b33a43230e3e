"""The asset-watcher triggers against a FakeAceDataPlatform on a real socket: crossings, windows, restarts.

``poll`` is driven step by step (a fake clock where time matters), ``run`` as the triggerer drives it.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk._shared.module_loading import import_string
from airflow.triggers.base import BaseEventTrigger

from airflow_provider_acedata.exceptions import AceDataInputError
from airflow_provider_acedata.hooks import AceDataHook
from airflow_provider_acedata.triggers import (
    ApplicationLowBalanceTrigger,
    NewCallRecordsTrigger,
    call_record_windows,
)
from airflow_provider_acedata.triggers import events as events_module

WINDOW = 60
BASE = 1_700_000_000 - 1_700_000_000 % WINDOW  # a window boundary in the past (2023-11-14T22:13:00Z)


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(BASE + seconds, UTC)


def iso(seconds: float) -> str:
    return at(seconds).isoformat().replace("+00:00", "Z")


def starts(events: list[dict]) -> list[int]:
    """Which windows (numbered from BASE) the events announce."""
    return [
        int((datetime.fromisoformat(e["start"].replace("Z", "+00:00")) - at(0)).total_seconds()) // WINDOW
        for e in events
    ]


class Clock:
    """Stands in for the ``time`` module of the triggers: the tests move it."""

    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now


class Store:
    """The asset state store's async accessor, as Airflow 3.3's triggerer injects it (one per asset)."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    async def aget(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    async def aset(self, key: str, value: Any) -> None:
        self.values[key] = json.loads(json.dumps(value))


def poll(trigger, hook: AceDataHook | None = None) -> list[dict]:
    """One poll, as ``run`` makes it; the payloads of its events."""

    async def go() -> list[dict]:
        own = hook or AceDataHook()
        try:
            return [payload async for payload in trigger.poll(own)]
        finally:
            if hook is None:
                await own.aclose()

    return asyncio.run(go())


def start(trigger) -> None:
    asyncio.run(trigger.start())


@pytest.fixture
def clock(monkeypatch) -> Clock:
    fake = Clock(BASE)
    monkeypatch.setattr(events_module, "time", fake)
    return fake


class TestKwargs:
    @pytest.mark.parametrize(
        ("trigger", "kwargs"),
        [
            (
                ApplicationLowBalanceTrigger,
                {
                    "application_id": "107f8d0f-e465-4a7e-a49e-d633d26f7aa2",
                    "min_remaining_amount": 50,
                    "acedata_conn_id": "acedata_x",
                    "poke_interval": 30,
                },
            ),
            (
                NewCallRecordsTrigger,
                {
                    "window": 3600,
                    "settle": 120,
                    "acedata_conn_id": "acedata_x",
                    "application_id": None,
                    "poke_interval": 60,
                },
            ),
        ],
    )
    def test_kwargs_round_trip_json_stable_and_secret_free(self, trigger, kwargs, platform):
        instance = trigger(**kwargs)

        classpath, serialized = instance.serialize()

        assert isinstance(instance, BaseEventTrigger)
        assert import_string(classpath) is trigger
        assert serialized == kwargs
        assert json.loads(json.dumps(serialized)) == serialized
        assert trigger(**serialized).serialize() == (classpath, serialized)
        assert BaseEventTrigger.hash(classpath, serialized) == BaseEventTrigger.hash(*trigger(**kwargs).serialize())
        assert platform.token not in json.dumps(serialized) + repr(instance.__dict__)

    @pytest.mark.parametrize(
        ("build", "field"),
        [
            (lambda: ApplicationLowBalanceTrigger(application_id="app", min_remaining_amount=1), "application_id"),
            (
                lambda: ApplicationLowBalanceTrigger(
                    application_id="107f8d0f-e465-4a7e-a49e-d633d26f7aa2", min_remaining_amount="lots"
                ),
                "min_remaining_amount",
            ),
            (lambda: NewCallRecordsTrigger(window=0), "window"),
            (lambda: NewCallRecordsTrigger(window=90.5), "window"),
            (lambda: NewCallRecordsTrigger(settle=-1), "settle"),
            (lambda: NewCallRecordsTrigger(poke_interval=0), "poke_interval"),
            (lambda: NewCallRecordsTrigger(application_id="x"), "application_id"),
        ],
    )
    def test_bad_kwargs_fail_when_the_dag_is_parsed(self, build, field):
        with pytest.raises(AceDataInputError, match=field):
            build()


class TestApplicationLowBalanceTrigger:
    def test_one_event_per_crossing_none_while_below_rearmed_by_a_top_up(self, platform, app_id):
        trigger = ApplicationLowBalanceTrigger(application_id=app_id, min_remaining_amount=10)
        platform.set_balance(app_id, 50)
        seen: list[list[dict]] = [poll(trigger)]
        platform.set_balance(app_id, 4)
        seen += [poll(trigger) for _ in range(11)]  # the drop, then ten more polls below
        platform.set_balance(app_id, 10)  # at the threshold: re-armed, nothing to announce
        seen += [poll(trigger)]
        platform.set_balance(app_id, 9.5)
        seen += [poll(trigger), poll(trigger)]

        fired = [(number, payload) for number, events in enumerate(seen) for payload in events]
        assert [number for number, _ in fired] == [1, 13]
        first = fired[0][1]
        assert first["application_id"] == app_id
        assert (first["remaining_amount"], first["min_remaining_amount"]) == (4, 10)
        assert datetime.fromisoformat(first["observed_at"].replace("Z", "+00:00")).tzinfo is not None
        assert fired[1][1]["remaining_amount"] == 9.5
        assert len(platform.calls("GET", f"/applications/{app_id}")) == 15

    def test_starts_armed_a_balance_already_low_is_announced_once(self, platform, app_id):
        trigger = ApplicationLowBalanceTrigger(application_id=app_id, min_remaining_amount=10)

        assert len(poll(trigger)) == 1
        assert poll(trigger) == []

    def test_a_failing_read_is_logged_and_the_watch_goes_on(self, platform, app_id, capsys):
        platform.fail(method="GET", path="/applications/", status=503, times=None)
        trigger = ApplicationLowBalanceTrigger(application_id=app_id, min_remaining_amount=10, poke_interval=0.05)

        async def watch() -> list[Any]:
            events = trigger.run()
            task = asyncio.ensure_future(events.__anext__())
            await asyncio.sleep(0.4)
            assert not task.done()
            platform.clear_faults()
            event = await asyncio.wait_for(task, 5)
            await events.aclose()
            return event.payload

        payload = asyncio.run(watch())

        logged = "".join(capsys.readouterr())
        assert payload["remaining_amount"] == 0
        assert logged.count("polling failed") == 1  # once, though about eight polls failed
        assert platform.token not in logged

    def test_polls_on_schedule_and_closes_its_client_when_cancelled(self, platform, app_id):
        platform.set_balance(app_id, 100)
        trigger = ApplicationLowBalanceTrigger(application_id=app_id, min_remaining_amount=10, poke_interval=0.1)

        async def watch_for(seconds: float) -> None:
            events = trigger.run()
            task = asyncio.ensure_future(events.__anext__())
            await asyncio.sleep(seconds)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

        asyncio.run(watch_for(1.05))

        reads = len(platform.calls("GET", f"/applications/{app_id}"))
        assert 9 <= reads <= 12

    def test_with_the_asset_state_store_a_restart_repeats_nothing(self, platform, app_id):
        store = Store()
        first = ApplicationLowBalanceTrigger(application_id=app_id, min_remaining_amount=10)
        first.asset_state_store = store
        start(first)
        assert len(poll(first)) == 1

        restarted = ApplicationLowBalanceTrigger(application_id=app_id, min_remaining_amount=10)
        restarted.asset_state_store = store
        start(restarted)
        assert poll(restarted) == []

        platform.set_balance(app_id, 20)
        assert poll(restarted) == []
        platform.set_balance(app_id, 1)
        assert len(poll(restarted)) == 1

    def test_before_3_3_a_restart_repeats_at_most_one_alert(self, platform, app_id):
        """No asset state store (Airflow 3.1, 3.2): a new trigger starts armed."""
        first = ApplicationLowBalanceTrigger(application_id=app_id, min_remaining_amount=10)
        start(first)
        assert len(poll(first)) == 1

        restarted = ApplicationLowBalanceTrigger(application_id=app_id, min_remaining_amount=10)
        start(restarted)
        assert [len(poll(restarted)) for _ in range(5)] == [1, 0, 0, 0, 0]


class TestNewCallRecordsTrigger:
    def records_in(self, platform, app_id: str, window: int, count: int, seed: int = 0) -> None:
        """``count`` call records spread over window number ``window`` (from BASE)."""
        platform.add_usage(app_id, count=count, start=at(window * WINDOW), end=at((window + 1) * WINDOW), seed=seed)

    def trigger(self, **kwargs: Any) -> NewCallRecordsTrigger:
        return NewCallRecordsTrigger(**{"window": WINDOW, "settle": 10, "poke_interval": 5, **kwargs})

    def test_one_event_per_closed_window_with_records_once_settled(self, platform, app_id, clock):
        self.records_in(platform, app_id, 0, 7)
        self.records_in(platform, app_id, 2, 3, seed=1)
        platform.add_usage(app_id, count=2, start=at(3 * WINDOW), end=at(3 * WINDOW + 0.000001), seed=2)
        trigger = self.trigger()
        clock.now = BASE + 1
        start(trigger)

        clock.now = BASE + WINDOW + 9  # window 0 has closed, not settled
        before_settled = poll(trigger)
        clock.now = BASE + WINDOW + 10
        settled = poll(trigger)
        clock.now = BASE + 3 * WINDOW + 10  # windows 1 (empty) and 2 are due
        later = poll(trigger)

        assert before_settled == []
        assert settled == [{"start": iso(0), "end": iso(WINDOW), "count": 7}]
        assert later == [{"start": iso(2 * WINDOW), "end": iso(3 * WINDOW), "count": 3}]
        counted = [
            r.query["created_at_from"][0] for r in platform.calls("GET", r"/usage/apis/$") if r.query["limit"] == ["1"]
        ]
        # one count per due window (the one before the start included: due within a poll of it), none twice
        assert counted == [f"{iso(n * WINDOW)[:-1]}.000000Z" for n in (-1, 0, 1, 2)]

    def test_no_look_back_beyond_one_poll_before_the_start(self, platform, app_id, clock):
        for number in range(5):
            self.records_in(platform, app_id, number, 2, seed=number)
        clock.now = BASE + 4 * WINDOW + 30  # windows 0-2 were due long ago; window 3 was due 20 s ago
        trigger = self.trigger(poke_interval=25)
        start(trigger)

        events = poll(trigger)
        clock.now = BASE + 5 * WINDOW + 10
        events += poll(trigger)

        assert starts(events) == [3, 4]

    def test_application_filter_and_a_failing_count_does_not_lose_the_window(self, platform, app_id, clock):
        other = AceDataHook().create_application(platform.service_id("suno"))["id"]
        self.records_in(platform, app_id, 0, 4)
        self.records_in(platform, other, 0, 9, seed=1)
        trigger = self.trigger(application_id=app_id)
        start(trigger)
        clock.now = BASE + WINDOW + 10
        platform.fail(method="GET", path=r"/usage/apis/$", status=500, times=None)

        with pytest.raises(Exception, match="500"):
            poll(trigger)
        platform.clear_faults()
        events = poll(trigger)

        assert [event["count"] for event in events] == [4]
        assert all(r.query["application_id"] == [app_id] for r in platform.calls("GET", r"/usage/apis/$"))

    def test_with_the_asset_state_store_a_restart_resumes_without_repeat_or_gap(self, platform, app_id, clock):
        for number in range(4):
            self.records_in(platform, app_id, number, 1, seed=number)
        store = Store()
        first = self.trigger()
        first.asset_state_store = store
        start(first)
        clock.now = BASE + WINDOW + 10
        announced = poll(first)

        clock.now = BASE + 4 * WINDOW + 12  # down for three windows
        restarted = self.trigger()
        restarted.asset_state_store = store
        start(restarted)
        announced += poll(restarted)

        assert starts(announced) == [0, 1, 2, 3]
        assert store.values == {
            f"acedata_call_records:acedata_default:account:{WINDOW}": {"next_window": BASE // WINDOW + 4}
        }

    def test_before_3_3_a_restart_repeats_at_most_one_window(self, platform, app_id, clock):
        for number in range(3):
            self.records_in(platform, app_id, number, 1, seed=number)
        first = self.trigger()
        start(first)
        clock.now = BASE + WINDOW + 12
        announced = poll(first)

        clock.now = BASE + WINDOW + 14  # restarted within one poke_interval of the announcement
        restarted = self.trigger()
        start(restarted)
        announced += poll(restarted)
        clock.now = BASE + 3 * WINDOW + 10
        announced += poll(restarted)

        assert starts(announced) == [0, 0, 1, 2]


def test_call_record_windows_one_per_window_oldest_first():
    events = [
        SimpleNamespace(extra={"from_trigger": True, "payload": {"start": "T1", "end": "T2", "count": 3}}),
        {"payload": {"start": "T0", "end": "T1", "count": 1}},
        SimpleNamespace(extra={"payload": {"start": "T1", "end": "T2", "count": 4}}),
        SimpleNamespace(extra={"something": "else"}),
    ]

    assert call_record_windows(events) == [{"start": "T0", "end": "T1"}, {"start": "T1", "end": "T2"}]
    assert call_record_windows(None) == []


def test_an_event_window_is_what_the_export_writes(platform, app_id, tmp_path, context, clock):
    """The payload goes straight into ExportUsageOperator(start=..., end=...): the window, exactly once."""
    from airflow_provider_acedata.operators import ExportUsageOperator

    platform.add_usage(app_id, count=5, start=at(0), end=at(WINDOW))
    platform.add_usage(app_id, count=2, start=at(WINDOW), end=at(WINDOW + 1), seed=1)  # the next window's first
    trigger = NewCallRecordsTrigger(window=WINDOW, settle=0, poke_interval=1)
    start(trigger)
    clock.now = BASE + WINDOW
    [event] = poll(trigger)

    ExportUsageOperator(
        task_id="export", destination=f"file://{tmp_path}/w.jsonl", start=event["start"], end=event["end"]
    ).execute(context)

    lines = (tmp_path / "w.jsonl").read_text().splitlines()
    assert event["count"] == len(lines) == 5
    stamps = [datetime.fromisoformat(json.loads(line)["created_at"].replace("Z", "+00:00")) for line in lines]
    assert all(at(0) <= stamp < at(WINDOW) for stamp in stamps)
