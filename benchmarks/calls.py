"""Benchmark 2: the hook's per-call overhead on loopback, against a raw Session and Airflow's HttpHook.

All three send ``GET /platform-tokens/me/`` to a FakeAceDataPlatform in a child process and decode the
JSON answer: one AceDataHook reused for every call; one reused ``requests.Session`` (the floor); and
``HttpHook(method="GET").run(...)`` on an ``http`` connection with the bearer header in its extra, which is
what users write by hand. Blocks of sequential calls are interleaved and repeated; medians per call.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from typing import Any

import requests

from benchmarks._common import Row, ServerInfo, Settings, conn_env, environ, interleave, median, ms, ratio, times

ME = "/platform-tokens/me/"
RAW_TARGET = 1.25
HTTP_TARGET = 0.8


def _block(call: Callable[[], Any], count: int) -> Callable[[], float]:
    """A variant: ``count`` sequential calls, returning seconds per call."""

    def measure() -> float:
        started = time.perf_counter()
        for _ in range(count):
            call()
        return (time.perf_counter() - started) / count

    return measure


def run(settings: Settings, server: ServerInfo) -> Row:
    from airflow_provider_acedata.hooks.acedata import AceDataHook

    env = {
        **conn_env("bench_acedata", {"conn_type": "acedata", "host": server.url, "password": server.token}),
        **conn_env(
            "bench_http",
            {"conn_type": "http", "host": server.url, "extra": {"Authorization": f"Bearer {server.token}"}},
        ),
    }
    with environ(**env), requests.Session() as session:
        hook = AceDataHook("bench_acedata")
        session.headers["Authorization"] = f"Bearer {server.token}"
        url = server.api_url + ME

        def raw() -> Any:
            response = session.get(url, timeout=30, allow_redirects=False)
            response.raise_for_status()
            return response.json()

        variants = {
            "hook": _block(hook.get_current_user, settings.calls_per_block),
            "raw": _block(raw, settings.calls_per_block),
        }
        http_hook = _http_hook()
        if http_hook is not None:
            variants["httphook"] = _block(lambda: http_hook.run("/api/v1" + ME).json(), settings.calls_per_block)
        for variant in variants.values():  # connect, read the connection, import lazily: not per-call costs
            variant()
        samples = interleave(variants, settings.call_rounds)

    per_call = {name: median(values) for name, values in samples.items()}
    vs_raw = ratio(per_call["hook"], per_call["raw"])
    vs_http = ratio(per_call["hook"], per_call.get("httphook"))
    met = vs_raw is not None and vs_raw <= RAW_TARGET and (vs_http is None or vs_http <= HTTP_TARGET)
    notes = [
        f"per call: hook {ms(per_call['hook'])}, raw Session {ms(per_call['raw'])}, HttpHook.run "
        + (ms(per_call["httphook"]) if "httphook" in per_call else "n/a (apache-airflow-providers-http not installed)"),
        f"{settings.call_rounds} interleaved rounds x {settings.calls_per_block} sequential calls per variant, "
        "medians; HttpHook.run builds a new Session (so a new TCP connection) on every call",
    ]
    return Row(
        "2. Per-call overhead (loopback)",
        f"{times(vs_raw)} raw Session, {times(vs_http)} HttpHook.run",
        f"≤ {RAW_TARGET}x raw, ≤ {HTTP_TARGET}x HttpHook",
        met,
        notes,
    )


def _http_hook() -> Any:
    """``HttpHook(method="GET")`` on ``bench_http``, or None without the http provider."""
    try:
        http = importlib.import_module("airflow.providers.http.hooks.http")
    except ImportError:
        return None
    return http.HttpHook(method="GET", http_conn_id="bench_http")
