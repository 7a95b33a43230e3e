"""Run the benchmarks and print the results table: ``python -m benchmarks [--smoke] [--only NAME ...]``.

Airflow runs with a throwaway AIRFLOW_HOME, and every server started here listens on 127.0.0.1 and is
stopped before exit.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Sequence

from benchmarks._common import Row, ServerProcess, Settings

NAMES = ("imports", "calls", "rotation", "triggers", "api_waits", "export", "paging")


def machine() -> str:
    """nproc, CPU model, RAM, Python and Airflow versions, on one line."""
    cpu = "unknown CPU"
    memory = "unknown RAM"
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), cpu)
        with open("/proc/meminfo") as info:
            kib = next(int(line.split()[1]) for line in info if line.startswith("MemTotal:"))
            memory = f"{kib / 1024**2:.0f} GiB RAM"
    except (OSError, StopIteration, ValueError):
        pass
    from airflow import __version__ as airflow_version

    return (
        f"{os.cpu_count()} CPUs ({cpu}), {memory}, Python {platform.python_version()}, "
        f"Airflow {airflow_version}, {platform.system()} {platform.release()}"
    )


def table(rows: Sequence[Row]) -> str:
    """The results as a Markdown table, then each row's notes."""
    lines = ["| Benchmark | Result | Target | Met |", "|---|---|---|---|"]
    lines += [f"| {row.name} | {row.result} | {row.target} | {row.verdict} |" for row in rows]
    for row in rows:
        lines.append("")
        lines.append(f"{row.name}:")
        lines += [f"- {note}" for note in row.notes]
    return "\n".join(lines)


def run(settings: Settings, only: Sequence[str]) -> list[Row]:
    """Run the selected benchmarks in a fixed order (paging last: it resets the secrets masker)."""
    from benchmarks import api_waits, calls, export, imports, paging, rotation, triggers

    counts = sorted({settings.page_small, settings.page_total})
    steps: dict[str, Callable[[], Row]] = {
        "imports": lambda: imports.run(settings),
        "rotation": lambda: rotation.run(settings),
        "triggers": lambda: triggers.run(settings),
        "api_waits": lambda: api_waits.run(settings),
        "export": lambda: export.run(settings),
    }
    rows: list[Row] = []
    with ServerProcess(counts if "paging" in only else []) as server:
        steps["calls"] = lambda: calls.run(settings, server)
        steps["paging"] = lambda: paging.run(settings, server)
        for name in NAMES:
            if name in only:
                started = time.perf_counter()
                print(f"running {name} ...", file=sys.stderr, flush=True)
                rows.append(steps[name]())
                print(f"  {name} took {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one repetition: checks the code runs")
    parser.add_argument("--only", nargs="+", choices=NAMES, default=list(NAMES), help="run only these benchmarks")
    args = parser.parse_args(argv)
    settings = Settings.smoke_test() if args.smoke else Settings.full()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="acedata-bench-home-") as home:
        os.environ["AIRFLOW_HOME"] = home
        os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
        print(f"Machine: {machine()}")
        print(f"Mode: {'smoke (tiny sizes, figures meaningless)' if args.smoke else 'full'}\n")
        rows = run(settings, args.only)
        print(table(sorted(rows, key=lambda row: row.name)))
    print(f"\nTotal time: {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
