"""Benchmark 3: paging through a large collection (the account's platform tokens) with the hook.

The server (a child process) holds one user with ``page_total`` tokens and one with ``page_small`` (100).
Measured against plain ``requests`` paging code in the same run:

* requests made, counted on the client (``GET /me`` for the owner id is shown apart from the pages);
* peak memory growth from 100 to ``page_total`` objects (tracemalloc, client process only): flat means
  one page held at a time;
* time per object. Every token value the hook receives goes to Airflow's secrets masker, which recompiles
  one regex of all secrets per new secret, so its cost grows with the square of the count: at 10,000 it
  would run for hours. The large run therefore replaces Airflow's ``mask_secret`` by a no-op (everything
  else of the hook runs, including its own set of masked values), and the masking cost is measured on its
  own at two small sizes with a fresh masker each time.
"""

from __future__ import annotations

import gc
import math
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from functools import partial
from typing import Any
from unittest import mock

import requests

from benchmarks._common import (
    Row,
    ServerInfo,
    Settings,
    conn_env,
    environ,
    forget_masks,
    interleave,
    median,
    ms,
    ratio,
    times,
)

PAGE_SIZE = 100
FLAT_BYTES = 256 * 1024
TOKENS = "/platform-tokens/"


def _conn_id(count: int) -> str:
    return f"bench_pages_{count}"


@contextmanager
def masking_mode(mode: str) -> Iterator[None]:
    """Masking for the block, from an empty set of masked values.

    ``full``: real masking; ``ours``: Airflow's ``mask_secret`` is a no-op (the hook still walks every
    payload and keeps its own set of masked values); ``none``: the hook masks nothing.
    """
    from airflow_provider_acedata import masking
    from airflow_provider_acedata.hooks import acedata

    forget_masks(airflow_masker=mode == "full")
    patch: AbstractContextManager[Any] = nullcontext()
    if mode == "ours":
        patch = mock.patch.object(masking, "mask_secret", lambda secret, name=None: None)
    elif mode == "none":
        patch = mock.patch.object(acedata, "mask_payload", lambda payload: None)
    with patch:
        yield


class Counter:
    """Counts responses by kind: list pages and ``GET /me``."""

    def __init__(self) -> None:
        self.pages = 0
        self.me = 0

    def __call__(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        if response.request.path_url.split("?")[0].endswith("/me/"):
            self.me += 1
        else:
            self.pages += 1


def hook_items(count: int, counter: Counter | None = None) -> Iterator[dict[str, Any]]:
    """The hook's paging, on a fresh hook (so it looks up the owner id with ``GET /me`` once)."""
    from airflow_provider_acedata.hooks.acedata import AceDataHook

    hook = AceDataHook(_conn_id(count))
    if counter is not None:
        hook.session.hooks["response"].append(counter)
    try:
        yield from hook.iter_platform_tokens()
    finally:
        hook.session.close()


def raw_items(server: ServerInfo, count: int, counter: Counter | None = None) -> Iterator[dict[str, Any]]:
    """What one writes by hand with requests: limit/offset pages of ``{count, items}``, one page held."""
    user = server.users[str(count)]
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {user['token']}"
        if counter is not None:
            session.hooks["response"].append(counter)
        offset = 0
        while True:
            params: dict[str, str | int] = {
                "user_id": user["user_id"],
                "ordering": "created_at",
                "limit": PAGE_SIZE,
                "offset": offset,
            }
            response = session.get(server.api_url + TOKENS, params=params, timeout=30, allow_redirects=False)
            response.raise_for_status()
            page = response.json()
            items = page["items"]
            if not items:
                return
            offset += len(items)
            yield from items
            if offset >= page["count"]:
                return


def _consume(items: Iterator[dict[str, Any]]) -> int:
    total = 0
    for _ in items:
        total += 1
    return total


def _timed(make: Callable[[], Iterator[dict[str, Any]]], count: int, mode: str = "none") -> Callable[[], float]:
    """A variant: iterate everything once, checking the count; seconds per object."""

    def measure() -> float:
        with masking_mode(mode):
            started = time.perf_counter()
            seen = _consume(make())
            elapsed = time.perf_counter() - started
        if seen != count:
            raise AssertionError(f"paged {seen} objects, expected {count}")
        return elapsed / count

    return measure


def _peak(make: Callable[[int], Iterator[dict[str, Any]]], count: int, mode: str) -> int:
    """Peak traced bytes while iterating ``count`` objects once (nothing kept), after an untraced warm-up."""
    with masking_mode(mode):
        _consume(make(count))
    with masking_mode(mode):
        gc.collect()
        tracemalloc.start()
        try:
            _consume(make(count))
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()


def run(settings: Settings, server: ServerInfo) -> Row:
    large, small = settings.page_total, settings.page_small
    env: dict[str, str] = {}
    for count, user in server.users.items():
        env.update(
            conn_env(_conn_id(int(count)), {"conn_type": "acedata", "host": server.url, "password": user["token"]})
        )
    with environ(**env):
        try:
            return _run(settings, server, large, small)
        finally:
            forget_masks(airflow_masker=True)


def _run(settings: Settings, server: ServerInfo, large: int, small: int) -> Row:
    hook_counter, raw_counter = Counter(), Counter()
    with masking_mode("ours"):
        _consume(hook_items(large, hook_counter))
    _consume(raw_items(server, large, raw_counter))
    expected_pages = math.ceil(large / PAGE_SIZE)

    timing = interleave(
        {
            "hook": _timed(partial(hook_items, large), large, "ours"),
            "raw": _timed(partial(raw_items, server, large), large),
        },
        settings.page_rounds,
    )
    per_object = {name: median(values) for name, values in timing.items()}

    def raw(count: int) -> Iterator[dict[str, Any]]:
        return raw_items(server, count)

    growth: dict[str, int] = {}
    for name, make, mode in (
        ("raw", raw, "none"),
        ("hook", hook_items, "ours"),
        ("hook, no masking", hook_items, "none"),
    ):
        growth[name] = _peak(make, large, mode) - _peak(make, small, mode)

    masked: dict[int, float] = {}
    for size in settings.mask_sizes:
        measure = _timed(partial(hook_items, size), size, "full")
        masked[size] = median([measure() for _ in range(settings.mask_rounds)])
    low, high = settings.mask_sizes
    exponent = math.log(masked[high] * high / (masked[low] * low)) / math.log(high / low)
    extrapolated = masked[high] * high * (large / high) ** 2

    pages_ok = hook_counter.pages == expected_pages and raw_counter.pages == expected_pages
    met = pages_ok and hook_counter.me <= 1 and growth["hook"] <= FLAT_BYTES
    vs_raw = ratio(per_object["hook"], per_object["raw"])
    notes = [
        f"requests for {large:,} tokens: hook {hook_counter.pages} pages + {hook_counter.me} GET /me (owner id, once "
        f"per hook), raw {raw_counter.pages} pages; ceil(N/{PAGE_SIZE}) = {expected_pages}",
        f"peak memory growth 100 → {large:,} objects (tracemalloc): "
        + ", ".join(f"{name} {_kib(value)}" for name, value in growth.items())
        + "; the hook's growth is the values kept in airflow_provider_acedata.masking._masked (one per token)",
        f"time per object: hook {ms(per_object['hook'])} (Airflow's mask_secret off), raw {ms(per_object['raw'])}; "
        f"{settings.page_rounds} interleaved rounds, medians",
        f"with Airflow's masking on (fresh masker): {low} tokens {ms(masked[low])}/object, {high} tokens "
        f"{ms(masked[high])}/object, so the total grows as N^{exponent:.1f} here; as N² (one "
        f"regex of all secrets recompiled per new secret) {large:,} tokens would take about {_duration(extrapolated)}",
    ]
    return Row(
        f"3. Paging {large:,} tokens",
        f"{hook_counter.pages}+{hook_counter.me} requests, memory +{_kib(growth['hook'])}, "
        f"{times(vs_raw)} raw per object",
        f"{expected_pages} requests, flat memory (≤ {_kib(FLAT_BYTES)})",
        met,
        notes,
    )


def _kib(value: float) -> str:
    return f"{value / 1024:,.0f} KiB"


def _duration(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min" if seconds >= 60 else ms(seconds)
