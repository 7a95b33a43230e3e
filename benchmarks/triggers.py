"""Deferred waits at triggerer scale: N balance triggers in one event loop against a slow platform.

The platform (a FakeAceDataPlatform in this process) answers every application read after ``delay``
seconds. Each design runs in a child process, as a triggerer runs its triggers: N triggers in one event
loop, each polling every ``poke_interval`` for ``window`` seconds and then firing its timeout event. The
baseline is 0.1.0's design (each read runs the synchronous hook in ``asyncio.to_thread``, with a new hook,
session and connection lookup per read), measured in the same run.

Reported per design and N: reads made against reads expected (one every ``poke_interval`` from the start,
plus the final one at the end of the window), p50 and p99 lateness of the timeout events (how long after
the end of the window each fired: the native trigger cuts a read still in flight ``FINAL_READ_GRACE``
seconds after the end, 0.1.0's waited for it), CPU seconds and peak RSS per 1000 waits.
A child that has not fired every event ``grace`` seconds after the window is stopped; its missing events
count as later than that.
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import json
import math
import os
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from airflow_provider_acedata.triggers.balance import FINAL_READ_GRACE, LAST_READ_LEAD
from benchmarks._common import ROOT, Row, Settings

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator

    from airflow.triggers.base import TriggerEvent

DESIGNS = ("to_thread", "native")
LABELS = {"to_thread": "0.1.0 to_thread", "native": "native async"}
CONN_ID = "acedata_bench_wait"


@dataclass(frozen=True)
class Load:
    """One benchmark run's shape."""

    n: int
    window: float
    poke_interval: float
    delay: float
    grace: float

    @property
    def expected_reads(self) -> int:
        return self.n * (math.floor(self.window / self.poke_interval) + 1)


def run(settings: Settings) -> Row:
    """Both designs at each N, side by side."""
    from airflow_provider_acedata.testing import FakeAceDataPlatform

    if settings.smoke:
        loads = [Load(n=5, window=1.0, poke_interval=0.25, delay=0.1, grace=3.0)]
    else:
        loads = [Load(n=n, window=40.0, poke_interval=10.0, delay=2.0, grace=20.0) for n in (100, 1000)]
    results: dict[tuple[str, int], dict[str, Any]] = {}
    with FakeAceDataPlatform() as platform:
        from airflow_provider_acedata.hooks import AceDataHook

        connection = {"conn_type": "acedata", "host": platform.url, "password": platform.token}
        os.environ[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = json.dumps(connection)
        application_id = str(AceDataHook(CONN_ID).create_application(platform.service_id("midjourney"))["id"])
        platform.set_balance(application_id, 0)
        for load in loads:
            for design in DESIGNS:
                platform.clear_faults()
                platform.fail(method="GET", path=f"/applications/{application_id}", delay=load.delay, times=None)
                platform.clear_requests()
                result = _child(design, load, connection, application_id)
                # Reads made (received by the platform): a read cut at the end of a wait is made, not answered.
                result["served"] = len(platform.calls("GET", f"/applications/{application_id}"))
                results[(design, load.n)] = result
                print(f"  {design} N={load.n}: {_summary(result, load)}", file=sys.stderr, flush=True)
    return _row(loads, results)


def _child(design: str, load: Load, connection: dict[str, Any], application_id: str) -> dict[str, Any]:
    """Run one design in a child process and return what it measured."""
    env = {**os.environ, f"AIRFLOW_CONN_{CONN_ID.upper()}": json.dumps(connection)}
    command = [
        sys.executable,
        "-m",
        "benchmarks.triggers",
        design,
        application_id,
        json.dumps(load.__dict__),
    ]
    limit = load.window + load.grace + 60
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=limit, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"trigger benchmark child failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1)]


def _late(result: dict[str, Any], load: Load, share: float, key: str = "lateness") -> float:
    """A percentile over all N waits; one whose event never fired counts as later than any that did."""
    return _percentile([*result[key], *([math.inf] * (load.n - len(result[key])))], share)


def _lateness(result: dict[str, Any], load: Load, share: float, key: str = "lateness") -> str:
    value = _late(result, load, share, key)
    return f"> {load.grace:g} s" if math.isinf(value) else f"{value:.2f} s"


def _summary(result: dict[str, Any], load: Load) -> str:
    per_1000 = 1000 / load.n
    return (
        f"reads made {result['served']}/{load.expected_reads} ({result['served'] / load.expected_reads:.0%}), "
        f"timeout lateness p50 {_lateness(result, load, 0.5)} p99 {_lateness(result, load, 0.99)} "
        f"(the final read took p99 {_lateness(result, load, 0.99, 'final_read')}, answered or cut), "
        f"{result['cpu'] * per_1000:.1f} CPU s and {result['rss_growth_mib'] * per_1000:.0f} MiB RSS per 1000 waits "
        f"(peak RSS {result['peak_rss_mib']:.0f} MiB)"
    )


def _row(loads: Sequence[Load], results: dict[tuple[str, int], dict[str, Any]]) -> Row:
    largest = loads[-1]
    native = results[("native", largest.n)]
    kept = native["served"] / largest.expected_reads
    met = kept >= 0.95 and _late(native, largest, 0.99) <= 1.0
    baseline = results[("to_thread", largest.n)]
    notes = [
        f"N={load.n}, {LABELS[design]}: {_summary(results[(design, load.n)], load)}"
        for load in loads
        for design in DESIGNS
    ]
    notes.append(
        f"Load: one event loop per design (a child process), reads answered after {largest.delay:g} s, "
        f"poke_interval {largest.poke_interval:g} s, a {largest.window:g} s window; the baseline is 0.1.0's "
        "trigger (sync hook in asyncio.to_thread per read), in the same run."
    )
    return Row(
        name="5. Deferred waits at triggerer scale",
        result=(
            f"N={largest.n}: native makes {kept:.0%} of reads, p99 timeout lateness "
            f"{_lateness(native, largest, 0.99)} (the last read starts {LAST_READ_LEAD:g} s before the end and is "
            f"cut {FINAL_READ_GRACE:g} s after it); to_thread "
            f"{baseline['served'] / largest.expected_reads:.0%}, {_lateness(baseline, largest, 0.99)}"
        ),
        target=f">= 95% of reads, p99 timeout lateness <= 1 s past the window's end, at N={largest.n}",
        met=met,
        notes=notes,
    )


# -- the child: N triggers in one event loop ---------------------------------------------------------------


def _legacy_read(application_id: str) -> tuple[float, float]:
    """What 0.1.0's trigger did per read, in a worker thread: a new hook, session and connection lookup.

    Returns the balance and how long the platform took to answer (the thread pool's queue excluded).
    """
    from airflow_provider_acedata.hooks import AceDataHook

    with AceDataHook(CONN_ID) as hook:
        started = time.monotonic()
        amount = hook.get_remaining_amount(application_id)
        return amount, time.monotonic() - started


async def _legacy_wait(application_id: str, load: Load, end_time: float) -> tuple[float, float]:
    """0.1.0's polling loop: read in a thread, then sleep ``poke_interval`` (capped at the end of the wait).

    Returns when the event fired (Unix seconds) and how long its final read took.
    """
    while True:
        amount, latency = await asyncio.to_thread(_legacy_read, application_id)
        now = time.time()
        if amount >= 1 or now >= end_time:
            return now, latency
        await asyncio.sleep(max(min(load.poke_interval, end_time - now), 0.0))


async def _native_wait(application_id: str, load: Load, end_time: float) -> tuple[float, float]:
    """The trigger as the triggerer runs it: the event counts when it is yielded (then the trigger is closed)."""
    from airflow_provider_acedata.triggers import ApplicationBalanceTrigger

    trigger = ApplicationBalanceTrigger(
        application_id=application_id,
        min_remaining_amount=1,
        acedata_conn_id=CONN_ID,
        poke_interval=load.poke_interval,
        end_time=end_time,
    )
    slot: dict[str, float] = {}
    _LAST_READ.set(slot)  # seen by the tasks this wait starts (the trigger runs each read in its own)
    events = cast("AsyncGenerator[TriggerEvent, None]", trigger.run())
    try:
        event = await events.__anext__()
        fired = time.time()
    finally:
        await events.aclose()
    if event.payload["status"] == "error":
        raise RuntimeError(event.payload["message"])
    return fired, slot.get("latency", 0.0)


_LAST_READ: contextvars.ContextVar[dict[str, float]] = contextvars.ContextVar("acedata_bench_last_read")


def _time_async_reads() -> None:
    """Record, per wait, how long the platform took to answer its latest read."""
    from airflow_provider_acedata.hooks._http import AsyncTransport

    send = AsyncTransport._send

    async def timed(self: Any, *args: Any) -> Any:
        started = time.monotonic()
        try:
            return await send(self, *args)
        finally:
            if (slot := _LAST_READ.get(None)) is not None:
                slot["latency"] = time.monotonic() - started

    AsyncTransport._send = timed  # type: ignore[method-assign]


async def _drive(design: str, application_id: str, load: Load) -> list[tuple[float, float]]:
    """Start N waits at once; return each fired timeout event's (lateness, final read latency)."""
    end_time = time.time() + load.window
    wait = _native_wait if design == "native" else _legacy_wait
    fired: list[tuple[float, float]] = []

    async def one() -> None:
        at, latency = await wait(application_id, load, end_time)
        fired.append((at - end_time, latency))

    tasks = [asyncio.ensure_future(one()) for _ in range(load.n)]
    done, _pending = await asyncio.wait(tasks, timeout=load.window + load.grace)
    for task in done:
        if task.exception() is not None:
            raise task.exception()  # type: ignore[misc]
    return fired


def _child_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.triggers")
    parser.add_argument("design", choices=DESIGNS)
    parser.add_argument("application_id")
    parser.add_argument("load", type=json.loads)
    args = parser.parse_args(argv)
    load = Load(**args.load)
    import logging

    logging.disable(logging.INFO)
    import httpx  # noqa: F401  (import costs stay out of the measurement)
    import requests  # noqa: F401

    import airflow_provider_acedata.triggers  # noqa: F401

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    cpu_before = time.process_time()
    _time_async_reads()
    fired = asyncio.run(_drive(args.design, args.application_id, load))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result = {
        "lateness": [late for late, _ in fired],
        "overhead": [late - latency for late, latency in fired],
        "final_read": [latency for _, latency in fired],
        "cpu": time.process_time() - cpu_before,
        "peak_rss_mib": usage.ru_maxrss / 1024,
        "rss_growth_mib": (usage.ru_maxrss - rss_before) / 1024,
    }
    print(json.dumps(result), flush=True)
    # Threads of the baseline may still be blocked in reads: leave without waiting for them.
    os._exit(0)


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))
