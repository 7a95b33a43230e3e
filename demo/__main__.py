"""``make demo``: run the example DAGs in real Airflow against an offline Ace Data Cloud platform.

Starts a FakeAceDataPlatform, gives Airflow a throwaway home and SQLite database, and runs (with
``dag.test()``, in this process) the application DAG twice (create, then reuse), the Variable-based
token-rotation DAG twice, the monitoring DAG as the scheduler runs it at midnight, the two asset watchers'
triggers as the triggerer would (their polls), one of whose events the hourly-export example exports, and the
API DAG (a Flux key stored where the ``acedata_api`` connection reads it, four prompts fanned out to the
gateway, the images copied, the run's call records exported and their Credits counted, the key rotated),
checking each outcome on the platform. The console shows a few lines with ids only; Airflow's own output goes
to a log file whose path is printed. Exit status 0 means every check passed.

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
from datetime import UTC
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, cast

import requests

from airflow_provider_acedata.testing import FakeAceDataPlatform

if TYPE_CHECKING:
    from airflow.models.dagrun import DagRun
    from airflow.sdk import DAG

APPLICATION_DAG = "example_acedata_application"
ROTATION_DAG = "example_acedata_rotation_variable"
MONITORING_DAG = "example_acedata_monitoring"
CALL_RECORDS_DAG = "example_acedata_call_records_export"
TOKEN_VARIABLE = "acedata_platform_token"
EVENTS_CONN = "acedata_demo_events"
API_DAG = "example_acedata_api"
API_KEY_VARIABLE = "acedata_api_key"
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
            # The gateway connection reads its API key from the Variable the API DAG stores it in.
            "AIRFLOW_CONN_ACEDATA_API_DEFAULT": json.dumps(
                {
                    "conn_type": "acedata_api",
                    "host": platform.gateway_url,
                    "extra": {"rotation_variable": API_KEY_VARIABLE, "retry_delay": 0},
                }
            ),
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
    wanted = (APPLICATION_DAG, ROTATION_DAG, MONITORING_DAG, CALL_RECORDS_DAG, API_DAG)
    missing = set(wanted) - set(bag.dag_ids)
    if missing:
        raise DemoError(f"DAG(s) {sorted(missing)} not found in {dags}")
    return {dag_id: bag.dags[dag_id] for dag_id in wanted}


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
    """Seed three days of call records; the monitoring DAG's run for midnight (no conf) exports yesterday's."""
    from datetime import datetime, timedelta

    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    application_id = platform.applications()[0]["id"]
    seeded = platform.add_usage(application_id, count=3000, start=today - timedelta(days=3), end=today)
    folder = workdir / "usage"
    # As the scheduler's @daily run for midnight: an empty data interval on Airflow 3, so the day before.
    dag_run: DagRun = dag.test(logical_date=today, run_conf={"export_dir": f"file://{folder}"})
    if dag_run.state != "success":
        raise DemoError(f"DAG {dag.dag_id} ended {dag_run.state}")
    start, end = today - timedelta(days=1), today
    expected = sum(1 for r in seeded if start <= datetime.fromisoformat(r["created_at"]) < end)
    [written] = folder.iterdir()
    records = len(written.read_text().splitlines())
    if records != expected or written.name != f"usage-{start:%Y-%m-%d}.jsonl":
        raise DemoError(f"export_usage wrote {records} records to {written.name}, expected {expected} of {start:%F}")
    say(
        f"Monitoring: balances checked; exported {records} call records of [{start:%Y-%m-%d}, {end:%Y-%m-%d}) to file://{written}"
    )


def event_runs(dag: DAG, platform: FakeAceDataPlatform, say: Callable[[str], None], workdir: Path) -> None:
    """The asset watchers' triggers, polled as the triggerer polls them; one window exported by its DAG."""
    import asyncio
    from collections.abc import AsyncGenerator
    from datetime import datetime

    from airflow.models.variable import Variable

    from airflow_provider_acedata.hooks import AceDataHook
    from airflow_provider_acedata.triggers import ApplicationLowBalanceTrigger, NewCallRecordsTrigger

    # A triggerer reads the connection (and its rotation Variable) from Airflow's metadata database, which
    # this process only reaches inside dag.test(): its triggers get a connection with today's token instead.
    os.environ[f"AIRFLOW_CONN_{EVENTS_CONN.upper()}"] = platform.connection_json(Variable.get(TOKEN_VARIABLE))
    application_id = platform.applications()[0]["id"]
    balances = [100, 5, *[5] * 10, 50, 3]
    low = ApplicationLowBalanceTrigger(
        application_id=application_id, min_remaining_amount=10, acedata_conn_id=EVENTS_CONN
    )

    async def watch_balance() -> list[dict[str, Any]]:
        hook = AceDataHook(EVENTS_CONN)
        announced: list[dict[str, Any]] = []
        try:
            for amount in balances:
                platform.set_balance(application_id, amount)
                announced += [payload async for payload in low.poll(hook)]
        finally:
            await hook.aclose()
        return announced

    alerts = asyncio.run(watch_balance())
    if [alert["remaining_amount"] for alert in alerts] != [5, 3]:
        raise DemoError(f"the low-balance watcher announced {alerts}, expected the drops to 5 and to 3")
    say(f"Events: {len(balances)} balance reads (100, then 5 eleven times, 50, 3) announced 2 drops below 10 Credits")

    window = 2
    start = (int(time.time()) // window + 1) * window  # the next window: it closes in at most 4 s
    begin = datetime.fromtimestamp(start, UTC)
    platform.add_usage(application_id, count=42, start=begin, end=datetime.fromtimestamp(start + window, UTC))
    records = NewCallRecordsTrigger(window=window, settle=0.5, poke_interval=0.25, acedata_conn_id=EVENTS_CONN)

    async def first_window() -> dict[str, Any]:
        events = cast("AsyncGenerator[Any, None]", records.run())
        try:
            event = await asyncio.wait_for(events.__anext__(), 3 * window + 5)
        finally:
            await events.aclose()
        return dict(event.payload)

    announced = asyncio.run(first_window())
    folder = workdir / "hourly"
    window_conf = {"export_dir": f"file://{folder}", "start": announced["start"], "end": announced["end"]}
    dag_run: DagRun = dag.test(run_conf=window_conf)  # the run the event starts exports that window
    if dag_run.state != "success":
        raise DemoError(f"DAG {dag.dag_id} ended {dag_run.state}")
    [written] = folder.iterdir()
    exported = len(written.read_text().splitlines())
    if not exported == announced["count"] == 42:
        raise DemoError(f"the window held 42 call records; the event counted {announced['count']}, {exported} exported")
    say(
        f"Events: window [{announced['start'][11:19]}, {announced['end'][11:19]}) closed with {exported} call records; "
        f"{dag.dag_id} exported them to file://{written}"
    )


def api_run(dag: DAG, platform: FakeAceDataPlatform, say: Callable[[str], None], workdir: Path) -> None:
    """Provision a Flux key, fan four prompts out to the gateway, keep the images, count the Credits, rotate."""
    from airflow.models.variable import Variable

    folder = workdir / "api"
    dag_run: DagRun = dag.test(run_conf={"output": f"file://{folder}", "poke_interval": 1})
    if dag_run.state != "success":
        raise DemoError(f"DAG {dag.dag_id} ended {dag_run.state}")
    xcoms = run_xcoms(dag_run)
    manifests = [
        value for (task, key), value in xcoms.items() if task == "generate" and key.startswith("return_value[")
    ]
    stats = platform.gateway_stats()
    submitted = stats.submits.get("/flux/images", 0)
    if len(manifests) != 4 or submitted != 4 or len({m["task_id"] for m in manifests}) != 4:
        raise DemoError(
            f"expected 4 Flux tasks, each submitted once; got {submitted} submits, {len(manifests)} results"
        )
    for manifest in manifests:
        [url] = [item["image_url"] for item in manifest["response"]["data"]]
        [copy] = manifest["artifacts"]
        if Path(copy.removeprefix("file://")).read_bytes() != platform.artifact_bytes(url):
            raise DemoError(f"{copy} does not hold the bytes of {url}")
    spend = xcoms[("report_spend", "return_value")]
    if spend["calls"] != 4 or spend["images"] != 4:
        raise DemoError(f"report_spend counted {spend}, expected 4 calls and 4 images")
    old_id, new_id = xcoms[("create_api_key", "return_value")], xcoms[("rotate_api_key", "return_value")]
    [old_key] = {record.token for record in platform.calls("POST", "^/flux/images$", plane="gateway")}
    new_key = Variable.get(API_KEY_VARIABLE, default_var=None)
    statuses = [
        requests.post(
            f"{platform.gateway_url}/flux/tasks",
            json={"action": "retrieve", "id": manifests[0]["task_id"]},
            headers={"Authorization": f"Bearer {key}"},
            timeout=10,
        ).status_code
        for key in (old_key, new_key)
    ]
    if statuses != [401, 200]:
        raise DemoError(f"after the rotation the old and new keys got {statuses}, expected [401, 200]")
    say(
        f"API calls: 4 prompts -> 4 Flux tasks, each submitted once and awaited deferred ({stats.task_reads} task "
        f"reads); images in file://{folder}/images"
    )
    say(
        f"API calls: exported {spend['calls']} call records of the run, {spend['credits']:g} Credits spent; "
        f"API key {old_id} -> {new_id}, the old key now gets {statuses[0]}"
    )


def run_xcoms(dag_run: DagRun) -> dict[tuple[str, str], Any]:
    """The run's XComs by (task_id, key); a mapped task's by (task_id, "key[map_index]")."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.scalars(
            select(XComModel).where(XComModel.dag_id == dag_run.dag_id, XComModel.run_id == dag_run.run_id)
        ).all()
        return {
            (row.task_id, row.key if row.map_index < 0 else f"{row.key}[{row.map_index}]"): row.value for row in rows
        }


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
                event_runs(dags[CALL_RECORDS_DAG], platform, say, workdir)
                api_run(dags[API_DAG], platform, say, workdir)
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
