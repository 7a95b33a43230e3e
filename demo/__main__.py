"""``make demo``: run the example DAGs in real Airflow against an offline Ace Data Cloud platform.

Starts a FakeAceDataPlatform, gives Airflow a throwaway home and SQLite database, and runs (with
``dag.test()``, in this process) the application DAG twice (create, then reuse) and the Variable-based
token-rotation DAG twice, checking each outcome on the platform. The console shows a few lines with ids
only; Airflow's own output goes to a log file whose path is printed. Exit status 0 means every check passed.

Run it from the repository root (``python -m demo``): the DAGs come from ``example_dags/``. It is a
development script, not part of the wheel: it needs the repository's example DAGs.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import requests

from airflow_provider_acedata.testing import FakeAceDataPlatform

if TYPE_CHECKING:
    from airflow.models.dagrun import DagRun
    from airflow.sdk import DAG

APPLICATION_DAG = "example_acedata_application"
ROTATION_DAG = "example_acedata_rotation_variable"
MONITORING_DAG = "example_acedata_monitoring"
TOKEN_VARIABLE = "acedata_platform_token"
LOG_NAME = "demo-airflow.log"


class DemoError(Exception):
    """A step of the demo did not do what it should; the message says which and how."""


def find_example_dags() -> Path:
    """The repository's ``example_dags`` folder: under the working directory, else next to ``demo/``."""
    candidates = [Path.cwd() / "example_dags", Path(__file__).resolve().parents[1] / "example_dags"]
    for folder in candidates:
        if (folder / f"{APPLICATION_DAG}.py").is_file() and (folder / f"{ROTATION_DAG}.py").is_file():
            return folder
    raise DemoError(
        "example_dags/ with the example DAGs was not found (looked in "
        + ", ".join(str(folder) for folder in candidates)
        + "); run the demo from the repository root: make demo"
    )


@contextlib.contextmanager
def console_only(log_path: Path) -> Iterator[IO[str]]:
    """Send everything written to stdout/stderr (file descriptors 1 and 2) to ``log_path``; yield the console.

    Airflow logs through handlers bound to the original streams, so only a file-descriptor redirect
    keeps them all off the console.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    console = os.fdopen(os.dup(1), "w", buffering=1)
    with open(log_path, "ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
    try:
        yield console
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)
        console.close()


def configure_airflow(home: Path, dags: Path, platform: FakeAceDataPlatform) -> None:
    """Point Airflow (not yet imported) at a fresh home, SQLite DB, the DAGs and the fake platform."""
    connection = json.loads(platform.connection_json())
    connection["extra"] = {"retry_delay": 0, "rotation_variable": TOKEN_VARIABLE}
    os.environ.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW_CONN_ACEDATA_DEFAULT": json.dumps(connection),
        }
    )


def load_dags(dags: Path) -> dict[str, DAG]:
    """Create the metadata DB and parse the example DAGs, failing on any import error."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils import db

    db.initdb()
    bag = DagBag(dag_folder=dags)
    if bag.import_errors:
        errors = "; ".join(f"{path}: {error.strip().splitlines()[-1]}" for path, error in bag.import_errors.items())
        raise DemoError(f"The example DAGs do not import: {errors}")
    missing = {APPLICATION_DAG, ROTATION_DAG, MONITORING_DAG} - set(bag.dag_ids)
    if missing:
        raise DemoError(f"DAG(s) {sorted(missing)} not found in {dags}")
    return {dag_id: bag.dags[dag_id] for dag_id in (APPLICATION_DAG, ROTATION_DAG, MONITORING_DAG)}


def run(dag: DAG) -> dict[tuple[str, str], Any]:
    """Run the DAG once with ``dag.test()`` and return its XComs by (task_id, key); raise if it failed."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    dag_run: DagRun = dag.test()
    with create_session() as session:
        states = {ti.task_id: ti.state for ti in dag_run.get_task_instances(session=session)}
        if dag_run.state != "success":
            raise DemoError(f"DAG {dag.dag_id} ended {dag_run.state} (tasks: {states})")
        rows = session.scalars(
            select(XComModel).where(XComModel.dag_id == dag_run.dag_id, XComModel.run_id == dag_run.run_id)
        ).all()
        return {(row.task_id, row.key): row.value for row in rows}


def application_runs(dag: DAG, platform: FakeAceDataPlatform, say: Callable[[str], None]) -> None:
    """Run the application DAG twice: the first run creates the application, the second reuses it."""
    first_id: str | None = None
    for number in (1, 2):
        xcoms = run(dag)
        application_id = xcoms[("create_application", "return_value")]
        summary = xcoms[("create_application", "application")]
        report = xcoms[("report_balance", "return_value")]
        held = [app["id"] for app in platform.applications()]
        if held != [application_id]:
            raise DemoError(f"Run {number}: the platform holds applications {held}, expected [{application_id}]")
        if report["application_id"] != application_id:
            raise DemoError(f"Run {number}: report_balance got {report['application_id']}, not {application_id}")
        if summary["created"] is not (number == 1) or first_id not in (None, application_id):
            raise DemoError(f"Run {number}: expected the application to be {'created' if number == 1 else 'reused'}")
        first_id = application_id
        verb = "created" if summary["created"] else "reused "
        say(
            f"Run {number}: {verb} application {application_id}; report_balance received it "
            f"(remaining {report['remaining_amount']:g} Credits)"
        )


def rotation_runs(dag: DAG, platform: FakeAceDataPlatform, say: Callable[[str], None]) -> None:
    """Rotate twice; after each: the Variable holds the only live token, and the previous one gets 401."""
    from airflow.models.variable import Variable

    for number in (1, 2):
        old_token = Variable.get(TOKEN_VARIABLE, default_var=None) or platform.token
        old_ids = [token["id"] for token in platform.live_tokens() if token["token"] == old_token]
        if not old_ids:
            raise DemoError(f"Rotation {number}: the token in use is not live before rotating")
        xcoms = run(dag)
        new_id = xcoms[("rotate_token", "return_value")]
        stored = Variable.get(TOKEN_VARIABLE, default_var=None)
        live = {token["id"]: token["token"] for token in platform.live_tokens()}
        if list(live) != [new_id] or live[new_id] != stored:
            raise DemoError(f"Rotation {number}: expected only the new token {new_id} alive and stored in the Variable")
        status = requests.get(
            f"{platform.api_url}/platform-tokens/me/", headers={"Authorization": f"Bearer {old_token}"}, timeout=10
        ).status_code
        if status != 401:
            raise DemoError(f"Rotation {number}: the old token still gets {status}, expected 401")
        if xcoms[("rotate_token", "revoked_token_ids")] != old_ids:
            raise DemoError(f"Rotation {number}: revoked {xcoms[('rotate_token', 'revoked_token_ids')]}, not {old_ids}")
        say(f"Rotation {number}: token {old_ids[0]} -> {new_id}; the old token now gets {status}")


def monitoring_run(dag: DAG, platform: FakeAceDataPlatform, say: Callable[[str], None], workdir: Path) -> None:
    """Seed three days of call records, export yesterday's with the monitoring DAG, check the file holds them."""
    from datetime import datetime, timedelta, timezone

    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    application_id = platform.applications()[0]["id"]
    seeded = platform.add_usage(application_id, count=3000, start=today - timedelta(days=3), end=today)
    folder = workdir / "usage"
    start, end = today - timedelta(days=1), today
    conf = {"export_dir": f"file://{folder}", "start": start.isoformat(), "end": end.isoformat()}
    dag_run: DagRun = dag.test(run_conf=conf)
    if dag_run.state != "success":
        raise DemoError(f"DAG {dag.dag_id} ended {dag_run.state}")
    expected = sum(1 for r in seeded if start <= datetime.fromisoformat(r["created_at"]) < end)
    [written] = folder.iterdir()
    records = len(written.read_text().splitlines())
    if records != expected:
        raise DemoError(f"export_usage wrote {records} records for [{start}, {end}), expected {expected}")
    say(
        f"Monitoring: balances checked; exported {records} call records of [{start:%Y-%m-%d}, {end:%Y-%m-%d}) to file://{written}"
    )


def main() -> int:
    """Run the demo; 0 when every check passed, 1 otherwise (with the reason on the console)."""
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="acedata-demo-"))
    log_path = workdir / LOG_NAME
    home = workdir / "airflow-home"
    home.mkdir()
    platform = FakeAceDataPlatform()
    try:
        with console_only(log_path) as console:

            def say(line: str) -> None:
                print(line, file=console, flush=True)

            try:
                dags_folder = find_example_dags()
                platform.start()
                say(f"Offline Ace Data Cloud platform at {platform.url}")
                configure_airflow(home, dags_folder, platform)
                dags = load_dags(dags_folder)
                application_runs(dags[APPLICATION_DAG], platform, say)
                rotation_runs(dags[ROTATION_DAG], platform, say)
                monitoring_run(dags[MONITORING_DAG], platform, say, workdir)
            except Exception as error:
                traceback.print_exc()
                reason = str(error) if isinstance(error, DemoError) else f"{type(error).__name__}: {error}"
                say(f"Demo failed: {reason}")
                say(f"Airflow logs: {log_path}")
                return 1
            finally:
                platform.stop()
            say(f"All good in {time.monotonic() - started:.0f} s. Airflow logs: {log_path}")
            return 0
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    status = main()
    gc.freeze()  # Skips collecting Airflow's large object graph at interpreter exit, which takes seconds.
    sys.exit(status)
