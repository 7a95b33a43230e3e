"""Benchmark 1: what importing the provider adds to parsing a DAG file, next to HttpOperator.

Each sample is a fresh interpreter that imports ``airflow.sdk`` (which every DAG file pays anyway) and then
times the imports under test with ``perf_counter``; timing inside the child removes the ~2 s interpreter and
Airflow start-up, whose noise would otherwise swamp a 15 ms effect. The children's wall times are kept too,
for the ratio against the baseline child that imports ``airflow.sdk`` only.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass

from benchmarks._common import ROOT, Row, Settings, interleave, median, ms, ratio, times

TARGET_MS = 5.0
PROVIDER = "airflow_provider_acedata"

_CHILD = """
import json, sys, time
import airflow.sdk
segments = []
for statement in sys.argv[1:]:
    started = time.perf_counter()
    exec(statement)
    segments.append(time.perf_counter() - started)
print(json.dumps(segments))
"""


# Children write bytecode (as an installed provider has it): the warm-up child compiles every module measured once,
# instead of each sample paying to compile the provider (and Airflow) again.
_ENV = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}


@dataclass(frozen=True)
class Sample:
    """One child: its wall time and the time of each timed import statement."""

    wall: float
    segments: list[float]


def _child(statements: list[str], *, importtime: bool = False) -> tuple[Sample, str]:
    command = [sys.executable, *(["-X", "importtime"] if importtime else []), "-c", _CHILD, *statements]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=180, check=False, env=_ENV)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"import child failed ({statements}): {done.stderr[-2000:]}")
    return Sample(wall, json.loads(done.stdout.strip().splitlines()[-1])), done.stderr


def provider_statements() -> list[str]:
    """Import every operator and sensor class, as a DAG file using all of them would (the packages are lazy)."""
    return [f"from {PROVIDER}.{package} import *" for package in ("operators", "sensors")]


def http_available() -> bool:
    try:
        return importlib.util.find_spec("airflow.providers.http") is not None
    except ModuleNotFoundError:
        return False


HTTP_STATEMENT = "from airflow.providers.http.operators.http import HttpOperator"


def heavy_imports(statements: list[str], limit: int = 5) -> list[tuple[str, str, float]]:
    """``-X importtime``: the modules outside the provider that provider modules import, heaviest first.

    Returns (importing provider module, imported module, cumulative seconds) for modules that the
    ``airflow.sdk``-only child does not import.
    """
    _, baseline = _child([], importtime=True)
    _, ours = _child(statements, importtime=True)
    seen = {name for _, _, name, _ in _parse_importtime(baseline)}
    found = []
    for _, cumulative, name, parent in _parse_importtime(ours):
        if name in seen or name.startswith(PROVIDER) or not (parent or "").startswith(PROVIDER):
            continue
        found.append((str(parent), name, cumulative))
    return sorted(found, key=lambda item: -item[2])[:limit]


def _parse_importtime(stderr: str) -> list[tuple[float, float, str, str | None]]:
    """(self s, cumulative s, module, importing module) per line; a module's importer is printed after it."""
    rows: list[tuple[float, float, str, int]] = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        own_us, cumulative_us, raw_name = line.removeprefix("import time:").split("|", 2)
        depth = (len(raw_name) - len(raw_name.lstrip()) - 1) // 2
        rows.append((int(own_us) / 1e6, int(cumulative_us) / 1e6, raw_name.strip(), depth))
    parents: dict[int, str] = {}
    parsed: list[tuple[float, float, str, str | None]] = []
    for own, cumulative, name, depth in reversed(rows):
        parents[depth] = name
        parsed.append((own, cumulative, name, parents.get(depth - 1)))
    return list(reversed(parsed))


def run(settings: Settings) -> Row:
    ours = provider_statements()
    variants = {
        "baseline": lambda: _child([])[0],
        "acedata": lambda: _child(ours)[0],
    }
    has_http = http_available()
    if has_http:
        variants["http"] = lambda: _child([HTTP_STATEMENT])[0]
    if not settings.smoke:  # bytecode and page cache warm for every module measured, in one child
        _child(ours + ([HTTP_STATEMENT] if has_http else []))
    samples = interleave(variants, settings.import_rounds)

    ours_total = median([sum(s.segments) for s in samples["acedata"]])
    parts = {
        statement.split()[1]: median([s.segments[i] for s in samples["acedata"]]) for i, statement in enumerate(ours)
    }
    http_total = median([s.segments[0] for s in samples["http"]]) if has_http else None
    base_wall = median([s.wall for s in samples["baseline"]])
    ours_wall = median([s.wall for s in samples["acedata"]])
    vs_http = ratio(ours_total, http_total)

    result = f"+{ms(ours_total)} (HttpOperator: n/a)"
    if http_total is not None:
        result = f"+{ms(ours_total)} = {times(vs_http)} HttpOperator's +{ms(http_total)}"
    met = ours_total * 1000 <= TARGET_MS and (vs_http is None or vs_http <= 1.0)
    notes = [
        "increment timed inside each child after `import airflow.sdk`; "
        f"{settings.import_rounds} interleaved rounds x {len(variants)} variants, medians",
        "by module: " + ", ".join(f"{name} +{ms(value)}" for name, value in parts.items()),
        f"child wall time: baseline `import airflow.sdk` {ms(base_wall)}, with the provider "
        f"{ms(ours_wall)} ({times(ratio(ours_wall, base_wall))} baseline)"
        + (f", with HttpOperator {ms(median([s.wall for s in samples['http']]))}" if has_http else ""),
    ]
    if not has_http:
        notes.append("apache-airflow-providers-http is not installed: the HttpOperator comparison is n/a")
    if not settings.smoke:
        heavy = heavy_imports(ours)
        notes.append(
            "heaviest imports by provider modules (-X importtime, one run): "
            + (", ".join(f"{parent} imports {name} ({ms(cumulative)})" for parent, name, cumulative in heavy) or "none")
        )
    return Row("1. Import cost at DAG parse", result, f"≤ {TARGET_MS:g} ms and ≤ 1x HttpOperator's", met, notes)
