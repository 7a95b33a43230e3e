"""Shared pieces of the benchmarks: settings, result rows, interleaved repetition, the server process."""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parents[1]
"""The repository root: the working directory of the child processes, so ``benchmarks`` is importable."""

T = TypeVar("T")


@dataclass(frozen=True)
class Settings:
    """Sizes and repetitions; ``smoke`` shrinks everything so the code runs in seconds."""

    smoke: bool
    import_rounds: int
    call_rounds: int
    calls_per_block: int
    page_total: int
    page_rounds: int
    rotation_rounds: int
    page_small: int = 100

    @classmethod
    def full(cls) -> Settings:
        return cls(
            smoke=False,
            import_rounds=13,
            call_rounds=21,
            calls_per_block=100,
            page_total=10_000,
            page_rounds=5,
            rotation_rounds=9,
        )

    @classmethod
    def smoke_test(cls) -> Settings:
        return cls(
            smoke=True,
            import_rounds=1,
            call_rounds=1,
            calls_per_block=10,
            page_total=250,
            page_rounds=1,
            rotation_rounds=1,
        )


@dataclass
class Row:
    """One line of the results table, plus notes printed under it."""

    name: str
    result: str
    target: str
    met: bool | None
    notes: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        return {True: "yes", False: "**no**", None: "n/a"}[self.met]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def ms(seconds: float) -> str:
    """Seconds as milliseconds (or seconds from 10 s up), with a precision that suits the magnitude."""
    value = seconds * 1000
    if abs(value) >= 10_000:
        return f"{seconds:.1f} s"
    return f"{value:.0f} ms" if abs(value) >= 100 else f"{value:.1f} ms" if abs(value) >= 1 else f"{value:.3f} ms"


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def times(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


def interleave(variants: Mapping[str, Callable[[], T]], rounds: int, *, warmup: int = 0) -> dict[str, list[T]]:
    """Run every variant once per round, rotating their order each round; warm-up rounds are discarded."""
    names = list(variants)
    samples: dict[str, list[T]] = {name: [] for name in names}
    for number in range(warmup + rounds):
        shift = number % len(names)
        for name in names[shift:] + names[:shift]:
            value = variants[name]()
            if number >= warmup:
                samples[name].append(value)
    return samples


@contextmanager
def environ(**values: str) -> Iterator[None]:
    """Set environment variables for the duration of the block, then restore them."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, old in saved.items():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old


def conn_env(conn_id: str, connection: Mapping[str, Any]) -> dict[str, str]:
    """The ``AIRFLOW_CONN_*`` variable defining ``conn_id`` as a JSON connection."""
    return {f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps(dict(connection))}


def forget_masks(*, airflow_masker: bool) -> None:
    """Start from an empty set of masked values, as a fresh task process does (internals of both sides).

    Also empties ``re``'s cache of compiled patterns: the masker compiles one regex of all secrets, and a
    repeated run over the same secrets would otherwise find every one of them compiled already.
    """
    from airflow_provider_acedata import masking

    masking._masked.clear()
    if airflow_masker:
        from airflow.sdk import log

        log._secrets_masker().reset_masker()  # type: ignore[attr-defined]
        re.purge()


@dataclass(frozen=True)
class ServerInfo:
    """What the server child printed: its URL, the default user and one user per requested token count."""

    url: str
    token: str
    user_id: str
    users: dict[str, dict[str, str]]

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/v1"


class ServerProcess:
    """A FakeAceDataPlatform on 127.0.0.1 in a child process (``benchmarks._server``); stopped on exit."""

    def __init__(self, token_counts: Sequence[int]) -> None:
        self.token_counts = list(token_counts)
        self._process: subprocess.Popen[str] | None = None

    def __enter__(self) -> ServerInfo:
        command = [sys.executable, "-m", "benchmarks._server", *map(str, self.token_counts)]
        self._process = subprocess.Popen(command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            self._stop()
            raise RuntimeError("the benchmark server did not start; its error is on stderr above")
        return ServerInfo(**json.loads(line))

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._stop()

    def _stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        assert process.stdin is not None
        process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
