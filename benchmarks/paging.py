"""Benchmark 3: paging through a large collection (the account's platform tokens) with the hook.

The server (a child process) holds one user with ``page_total`` tokens and one with ``page_small`` (100).
Measured against plain ``requests`` paging code in the same run:

* requests made, counted on the client (``GET /me`` for the owner id is shown apart from the pages);
* peak memory growth from 100 to ``page_total`` objects (tracemalloc, client process only): flat means
  one page held at a time;
* time per object, with Airflow's secrets masker live. List pages carry every token in clear; the hook
  blanks them instead of registering each with the masker (whose cost grows with the square of the number
  of secrets), so masking must not show up here.
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
    """Masking for the block, from an empty masker: ``full`` is real masking, ``none`` masks nothing."""
    from airflow_provider_acedata.hooks import _http

    forget_masks(airflow_masker=mode == "full")
    patch: AbstractContextManager[Any] = nullcontext()
    if mode == "none":
        patch = mock.patch.object(_http, "mask_payload", lambda payload: None)
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
    with masking_mode("full"):
        _consume(hook_items(large, hook_counter))
    _consume(raw_items(server, large, raw_counter))
    expected_pages = math.ceil(large / PAGE_SIZE)

    timing = interleave(
        {
            "hook": _timed(partial(hook_items, large), large, "full"),
            "raw": _timed(partial(raw_items, server, large), large),
        },
        settings.page_rounds,
    )
    per_object = {name: median(values) for name, values in timing.items()}

    def raw(count: int) -> Iterator[dict[str, Any]]:
        return raw_items(server, count)

    growth = {
        "raw": _peak(raw, large, "none") - _peak(raw, small, "none"),
        "hook": _peak(hook_items, large, "full") - _peak(hook_items, small, "full"),
    }

    pages_ok = hook_counter.pages == expected_pages and raw_counter.pages == expected_pages
    met = pages_ok and hook_counter.me <= 1 and growth["hook"] <= FLAT_BYTES
    vs_raw = ratio(per_object["hook"], per_object["raw"])
    notes = [
        f"requests for {large:,} tokens: hook {hook_counter.pages} pages + {hook_counter.me} GET /me (owner id, once "
        f"per hook), raw {raw_counter.pages} pages; ceil(N/{PAGE_SIZE}) = {expected_pages}",
        f"peak memory growth 100 → {large:,} objects (tracemalloc): "
        + ", ".join(f"{name} {_kib(value)}" for name, value in growth.items()),
        f"time per object (Airflow's masker live): hook {ms(per_object['hook'])}, raw {ms(per_object['raw'])}; "
        f"{settings.page_rounds} interleaved rounds, medians",
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
