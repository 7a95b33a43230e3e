"""Deferred API waits: N ``ApiTaskTrigger``s in one event loop share their task reads.

The offline gateway (a FakeAceDataPlatform in this process) answers every task read after ``delay``
seconds; N Flux tasks, submitted here, finish spread over ``spread`` seconds. Each design runs in a child
process, as a triggerer runs its triggers: N waits in one event loop, each until its task has finished.

* ``shared``: N ``ApiTaskTrigger``s (what ``CallApiOperator(deferrable=True)`` defers to): one shared reader
  per connection and service, ``retrieve_batch`` of up to 100 ids per read.
* ``per_wait``, the baseline in the same run: one ``retrieve`` per wait every ``poke_interval`` (on one
  shared ``AceDataApiHook``, so only the number of reads differs).

Reported per design: whether every wait ended with its own task's result, the gateway's task reads in the
busiest ``poke_interval`` window (and the mean per interval), p50/p99 lateness (the event's time minus the
task's ``finished_at``), CPU seconds, and the growth of resident memory while the waits run (sampled every
0.25 s) per 1000 waits.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from benchmarks._common import ROOT, Row, Settings

DESIGNS = ("shared", "per_wait")
LABELS = {"shared": "ApiTaskTrigger (shared reads)", "per_wait": "one read per wait"}
CONN_ID = "acedata_api_bench"
ROUTE = "/flux/images"


@dataclass(frozen=True)
class Load:
    """One run's shape: N waits, tasks finishing over ``spread`` s, reads answered after ``delay`` s."""

    n: int
    spread: float
    poke_interval: float
    delay: float
    grace: float

    @property
    def reads_allowed(self) -> int:
        """The target: task reads in any one interval."""
        return math.ceil(self.n / 100) + 5


def run(settings: Settings) -> Row:
    from airflow_provider_acedata.testing import FakeAceDataPlatform

    if settings.smoke:
        load = Load(n=20, spread=2.0, poke_interval=1.0, delay=0.1, grace=10.0)
    else:
        load = Load(n=1000, spread=60.0, poke_interval=10.0, delay=1.0, grace=40.0)
    results: dict[str, dict[str, Any]] = {}
    with FakeAceDataPlatform() as platform:
        key = platform.issue_api_key(None, credits=10 * load.n)["token"]
        connection = {"conn_type": "acedata_api", "host": platform.gateway_url, "password": key}
        for design in DESIGNS:
            platform.clear_faults()
            platform.configure_route(ROUTE, duration=lambda index: load.spread * (index % load.n + 1) / load.n)
            platform.fail(plane="gateway", path="^/flux/tasks$", status=None, delay=load.delay, times=None)
            platform.clear_requests()
            result = _child(design, load, connection, lambda send: _submit(platform.gateway_url, key, load.n, send))
            reads = [r.at for r in platform.calls("POST", "^/flux/tasks$", plane="gateway")]
            result["reads"] = len(reads)
            result["busiest"] = _busiest(reads, load.poke_interval)
            span = (max(reads) - min(reads)) if len(reads) > 1 else load.poke_interval
            result["mean_per_interval"] = len(reads) / max(span / load.poke_interval, 1.0)
            results[design] = result
            print(f"  {design}: {_summary(result, load)}", file=sys.stderr, flush=True)
    return _row(load, results)


def _submit(gateway_url: str, key: str, count: int, send: Callable[[str], None]) -> None:
    """Submit ``count`` Flux tasks (async) as CallApiOperator would, eight at a time, and ``send`` each id as
    soon as its submit is answered: the child starts that task's wait then, as a task defers right after."""
    import requests

    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {key}"

    def one(index: int) -> None:
        body = {"action": "generate", "prompt": f"benchmark prompt {index}", "async": True}
        answer = session.post(gateway_url + ROUTE, json=body, timeout=30)
        answer.raise_for_status()
        send(str(answer.json()["task_id"]))

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(count)))


def _busiest(times: Sequence[float], window: float) -> int:
    """The most reads that arrived within any ``window`` seconds."""
    ordered = sorted(times)
    best, start = 0, 0
    for end, moment in enumerate(ordered):
        while moment - ordered[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def _child(
    design: str, load: Load, connection: dict[str, Any], submit: Callable[[Callable[[str], None]], None]
) -> dict[str, Any]:
    """Start the child; once it is ready, submit the tasks, handing it each id as it comes; collect its result."""
    env = {**os.environ, f"AIRFLOW_CONN_{CONN_ID.upper()}": json.dumps(connection)}
    command = [sys.executable, "-m", "benchmarks.api_waits", design, json.dumps(load.__dict__)]
    child = subprocess.Popen(command, cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdin is not None and child.stdout is not None
    stdin, lock = child.stdin, threading.Lock()

    def send(task_id: str) -> None:
        with lock:
            stdin.write(task_id + "\n")
            stdin.flush()

    try:
        if child.stdout.readline().strip() != "ready":
            raise RuntimeError("the API wait benchmark child did not start; its error is on stderr above")
        submit(send)
        stdin.close()
        output = child.stdout.read()
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)
    if child.returncode != 0:
        raise RuntimeError(f"API wait benchmark child failed with {child.returncode}")
    return dict(json.loads(output.strip().splitlines()[-1]))


def _percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1)] if ordered else math.inf


def _late(result: dict[str, Any], load: Load, share: float) -> float:
    """A percentile over all N waits; a wait that never ended with its result counts as later than any."""
    missing = load.n - len(result["lateness"])
    return _percentile([*result["lateness"], *([math.inf] * missing)], share)


def _seconds(value: float) -> str:
    return "never" if math.isinf(value) else f"{value:.1f} s"


def _summary(result: dict[str, Any], load: Load) -> str:
    per_1000 = 1000 / load.n
    return (
        f"{result['ok']}/{load.n} waits ended with their task's result; {result['reads']} task reads, busiest "
        f"{load.poke_interval:g} s window {result['busiest']}, mean {result['mean_per_interval']:.1f} per interval; "
        f"lateness after the task finished p50 {_seconds(_late(result, load, 0.5))} p99 "
        f"{_seconds(_late(result, load, 0.99))}; {result['cpu'] * per_1000:.1f} CPU s and "
        f"{result['rss_growth_mib'] * per_1000:.0f} MiB RSS per 1000 waits (peak RSS {result['peak_rss_mib']:.0f} MiB)"
        + (f"; waits ended by errors: {result['errors']}" if result["errors"] else "")
    )


def _row(load: Load, results: dict[str, dict[str, Any]]) -> Row:
    shared, baseline = results["shared"], results["per_wait"]
    p99 = _late(shared, load, 0.99)
    met = shared["ok"] == load.n and shared["busiest"] <= load.reads_allowed and p99 <= load.poke_interval + 2
    notes = [f"{LABELS[design]}: {_summary(results[design], load)}" for design in DESIGNS]
    notes.append(
        f"Load: N={load.n} Flux tasks finishing over {load.spread:g} s, every task read answered after "
        f"{load.delay:g} s, poke_interval {load.poke_interval:g} s, one event loop per design (a child process); "
        "the offline gateway counts the reads."
    )
    per_1000 = 1000 / load.n
    return Row(
        name="7. Deferred API waits (shared task reads)",
        result=(
            f"N={load.n}: {shared['ok']}/{load.n} results; busiest interval {shared['busiest']} task reads "
            f"(one read per wait: {baseline['busiest']}); p99 lateness {_seconds(p99)}; "
            f"{shared['cpu'] * per_1000:.1f} CPU s, {shared['rss_growth_mib'] * per_1000:.0f} MiB per 1000 waits"
        ),
        target=(
            f"every result; <= ceil(N/100)+5 = {load.reads_allowed} reads per interval; p99 lateness <= "
            f"poke_interval + 2 s = {load.poke_interval + 2:g} s"
        ),
        met=met,
        notes=notes,
    )


# -- the child: N waits in one event loop ------------------------------------------------------------------


async def _shared_wait(task_id: str, load: Load) -> dict[str, Any]:
    from airflow_provider_acedata.triggers import ApiTaskTrigger

    trigger = ApiTaskTrigger(
        gateway_task_id=task_id,
        path=ROUTE,
        acedata_api_conn_id=CONN_ID,
        poke_interval=load.poke_interval,
        end_time=time.time() + load.spread + load.grace,
    )
    async for event in trigger.run():
        return dict(event.payload)
    raise RuntimeError("the trigger yielded no event")


async def _per_wait(task_id: str, load: Load) -> dict[str, Any]:
    """A trigger that reads its own task every ``poke_interval`` with a client of its own (as
    ``ApplicationBalanceTrigger`` does), until it has finished."""
    from airflow_provider_acedata.gateway import task_status
    from airflow_provider_acedata.hooks.api import AceDataApiHook

    async with AceDataApiHook(CONN_ID) as hook:
        await asyncio.sleep(load.poke_interval)
        while True:
            record = await hook.aretrieve("flux", task_id)
            if status := task_status(record):
                return {"status": status, "task_id": task_id, "record": record}
            await asyncio.sleep(load.poke_interval)


async def _drive(design: str, load: Load) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Start a wait for each task id as it arrives on stdin; each one's outcome, and errors by type."""
    loop = asyncio.get_running_loop()
    ended: list[dict[str, Any]] = []
    errors: dict[str, int] = {}
    tasks: list[asyncio.Future[None]] = []
    received = asyncio.Event()

    async def one(task_id: str) -> None:
        try:
            payload = await (_shared_wait(task_id, load) if design == "shared" else _per_wait(task_id, load))
        except Exception as error:
            errors[type(error).__name__] = errors.get(type(error).__name__, 0) + 1
            return
        if payload.get("status") == "error":
            message = str(payload.get("message"))[:60]
            errors[message] = errors.get(message, 0) + 1
        record = payload.get("record") or {}
        finished = record.get("finished_at")
        ended.append(
            {
                "ok": payload.get("status") == "succeeded" and record.get("id") == task_id == payload.get("task_id"),
                "lateness": time.time() - finished if isinstance(finished, int | float) else None,
            }
        )

    def start(task_id: str) -> None:
        tasks.append(asyncio.ensure_future(one(task_id)))

    async def sample_rss() -> None:
        while True:
            _PEAK[0] = max(_PEAK[0], _rss_mib())
            await asyncio.sleep(0.25)

    sampler = asyncio.ensure_future(sample_rss())

    def read_ids() -> None:
        for line in sys.stdin:
            if line.strip():
                loop.call_soon_threadsafe(start, line.strip())
        loop.call_soon_threadsafe(received.set)

    threading.Thread(target=read_ids, daemon=True).start()
    deadline = loop.time() + load.spread + load.grace
    await asyncio.wait_for(received.wait(), load.spread + load.grace)
    await asyncio.wait(tasks, timeout=max(deadline - loop.time(), 0.1))
    _PEAK[0] = max(_PEAK[0], _rss_mib())
    for task in [*tasks, sampler]:
        task.cancel()
    await asyncio.gather(*tasks, sampler, return_exceptions=True)
    return ended, errors


_PEAK = [0.0]


def _rss_mib() -> float:
    """This process's resident memory now (Linux ``/proc/self/statm``), in MiB."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


def _child_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.api_waits")
    parser.add_argument("design", choices=DESIGNS)
    parser.add_argument("load", type=json.loads)
    args = parser.parse_args(argv)
    load = Load(**args.load)
    import logging

    logging.disable(logging.WARNING)
    import httpx  # noqa: F401  (import costs stay out of the measurement)

    import airflow_provider_acedata.hooks.api
    import airflow_provider_acedata.triggers._task_reads
    import airflow_provider_acedata.triggers.api  # noqa: F401

    print("ready", flush=True)
    rss_before = _rss_mib()
    cpu_before = time.process_time()
    ended, errors = asyncio.run(_drive(args.design, load))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result = {
        "ok": sum(1 for end in ended if end["ok"]),
        "errors": errors,
        "lateness": [end["lateness"] for end in ended if end["ok"] and end["lateness"] is not None],
        "cpu": time.process_time() - cpu_before,
        "peak_rss_mib": usage.ru_maxrss / 1024,
        "rss_growth_mib": max(_PEAK[0] - rss_before, 0.0),
    }
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))
