"""Test configuration: a throwaway AIRFLOW_HOME set before anything imports Airflow."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from unittest import mock

_HOME = Path(tempfile.mkdtemp(prefix="acedata-airflow-home-"))
atexit.register(shutil.rmtree, _HOME, ignore_errors=True)
os.environ["AIRFLOW_HOME"] = str(_HOME)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(Path(__file__).resolve().parents[1] / "example_dags")
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_HOME / 'airflow.db'}"

# Imported after the settings above: any of these may import Airflow, which reads them once.
import pytest  # noqa: E402
from e2e.component_guard import ComponentGuard  # noqa: E402
from testdata import connection_json  # noqa: E402

if TYPE_CHECKING:
    from airflow_provider_acedata.testing import FakeAceDataPlatform


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the ``airflow_real`` tests last: their deployment lives until the session ends and loads the machine.

    tests/e2e/conftest.py marks them first (``tryfirst``), so the marker decides, not the folder.
    """
    items.sort(key=lambda item: item.get_closest_marker("airflow_real") is not None)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """pytest-xdist: hand out whole test modules, and the example-DAG modules together, one unit at a time.

    A module's module-scoped fixtures then run once, not once per worker, and the tests that run DAGs in
    process (tests/example_dags/, fixture ``airflow_db``) pay for the metadata database and Airflow's first
    ``dag.test()`` (about 5 s of CPU) in one worker only. (``--dist loadgroup`` would say this with marks, but
    pytest-xdist 3.8 silently ignores them on pytest 9.2: pytest-dev/pytest-xdist#1386.)
    """
    from xdist.scheduler import LoadScopeScheduling

    class ModuleScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return "tests/example_dags/" if module.startswith("tests/example_dags/") else module

    return ModuleScheduling(config, log)


@pytest.fixture(autouse=True)
def _fresh_secrets_masker() -> Iterator[None]:
    """Each test starts with an empty secrets masker, as each Airflow task process does.

    The masker is process-wide, and every secret added recompiles one regular expression of all of them
    (``SecretsMasker.add_mask``): over a session of hundreds of rotations that made each token the provider
    masks cost more than the request that brought it (about half the CPU of the rotation fault matrix). It
    also means a test can no longer pass because an earlier test happened to mask the same value.
    """
    yield
    for name in ("airflow.sdk._shared.secrets_masker.secrets_masker", "airflow._shared.secrets_masker.secrets_masker"):
        module = sys.modules.get(name)
        if module is not None:
            module.reset_secrets_masker()


@pytest.fixture
def acedata_conn(monkeypatch: pytest.MonkeyPatch) -> str:
    """The default acedata connection, pointing at a fake https host; retries without sleeping."""
    monkeypatch.setenv("AIRFLOW_CONN_ACEDATA_DEFAULT", connection_json(retry_delay=0))
    return "acedata_default"


@pytest.fixture(scope="session")
def airflow_db() -> Iterator[None]:
    """A fresh metadata database for tests that run DAGs in-process with dag.test()."""
    from airflow.utils import db

    db.resetdb()
    yield


@pytest.fixture
def platform(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAceDataPlatform]:
    """A live offline platform that ``acedata_default`` points at (retries without sleeping)."""
    from airflow_provider_acedata.testing import FakeAceDataPlatform

    with FakeAceDataPlatform() as fake:
        connection = json.loads(fake.connection_json())
        connection["extra"] = {"retry_delay": 0}
        monkeypatch.setenv("AIRFLOW_CONN_ACEDATA_DEFAULT", json.dumps(connection))
        yield fake


@pytest.fixture
def context() -> dict:
    """A task context for calling ``execute`` directly; ``context["ti"]`` records XCom pushes."""
    return {"ti": mock.MagicMock()}


@pytest.fixture
def app_id(platform: FakeAceDataPlatform) -> str:
    """An application of the default user with no Credits (it comes with one unnamed credential)."""
    from airflow_provider_acedata.hooks import AceDataHook

    application_id = str(AceDataHook().create_application(platform.service_id("midjourney"))["id"])
    platform.set_balance(application_id, 0)
    platform.clear_requests()
    return application_id


class _ProviderRequestRecorder:
    """Every request the provider's hooks send to any offline platform API this session, for the ledger check.

    Only the platform listener's: the gateway and the artifact host are not the ledger's routes.
    """

    user_agent_prefix = "airflow-provider-acedata/"

    def __init__(self) -> None:
        self.records: list[tuple[str, str, dict[str, list[str]], object]] = []

    def install(self) -> None:
        """Wrap the offline platform's per-request bookkeeping so each provider request is recorded."""
        from airflow_provider_acedata.testing import FakeAceDataPlatform, RequestRecord

        finish = FakeAceDataPlatform._finish
        recorder = self

        def recording_finish(platform: FakeAceDataPlatform, record: RequestRecord, status: int) -> None:
            if record.plane == "platform" and (record.user_agent or "").startswith(recorder.user_agent_prefix):
                recorder.records.append((record.method, record.path, record.query, record.body))
            finish(platform, record, status)

        FakeAceDataPlatform._finish = recording_finish  # type: ignore[method-assign]

    def violations(self) -> list[str]:
        """Ledger violations among the recorded requests, each once."""
        from contract import ledger

        found: dict[str, None] = {}
        for method, path, query, body in self.records:
            for problem in ledger.violations(method, path, query, body):
                found[problem] = None
        return list(found)


_RECORDER = _ProviderRequestRecorder()
#: What each pytest-xdist worker checked: (number of requests, violations); filled in the controller.
_WORKER_LEDGERS: list[tuple[int, list[str]]] = []
_GUARD = ComponentGuard()


def _is_xdist_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _is_xdist_controller(config: pytest.Config) -> bool:
    return getattr(config.option, "dist", "no") != "no" and not _is_xdist_worker(config)


def pytest_sessionstart(session: pytest.Session) -> None:
    """Record provider requests to the offline platform from the first test on; watch for Airflow components."""
    _RECORDER.install()
    if not _is_xdist_controller(session.config):
        _GUARD.start()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """Bracket each test, from its setup (higher-scoped fixtures included) to its teardown, for the guard."""
    _GUARD.begin(item.nodeid)
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Fail (at teardown) a test that started an Airflow component without the ``airflow_real`` marker.

    ``make check`` selects ``not airflow_real`` and promises to start no component: this keeps it true.
    """
    outcome = yield
    if call.when != "teardown":
        return
    started = _GUARD.end(item.nodeid)
    if started and item.get_closest_marker("airflow_real") is None:
        report = outcome.get_result()  # type: ignore[attr-defined]
        report.outcome = "failed"
        report.longrepr = (
            "this test started Airflow components but is not marked airflow_real (use the real_airflow fixture, "
            "or mark it), so `make check` would run it:\n" + "\n".join(started)
        )


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """pytest-xdist controller: collect what each worker's ledger check found."""
    checked = getattr(node, "workeroutput", {}).get("acedata_ledger")
    if checked is not None:
        _WORKER_LEDGERS.append((int(checked[0]), list(checked[1])))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the session when any provider request did not conform to the official backend ledger.

    Under pytest-xdist each worker checks its own requests and hands the result to the controller, which
    reports the total once.
    """
    from contract import ledger

    _GUARD.stop()
    config = session.config
    local = (len(_RECORDER.records), _RECORDER.violations()) if _RECORDER.records and ledger.WHEEL.exists() else None
    if _is_xdist_worker(config):
        if local is not None:
            config.workeroutput["acedata_ledger"] = [local[0], local[1]]  # type: ignore[attr-defined]
        return
    results = [*_WORKER_LEDGERS, *([local] if local is not None else [])]
    if not results:
        return
    checked = sum(count for count, _ in results)
    problems = list(dict.fromkeys(problem for _, found in results for problem in found))
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"ledger: {checked} provider requests checked, {len(problems)} violations")
        for problem in problems:
            reporter.write_line(f"ledger violation: {problem}", red=True)
    if problems:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
