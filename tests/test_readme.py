"""Every code sample in README.md is run by a test: the rule (tests/readme.py, README "Development") and its checks.

- ``python`` blocks after ``<!-- example: PATH#MARKER -->`` must equal the marked code of PATH;
- other ``python`` blocks run here, each in a DAG of its own, with an offline platform up and both
  connections pointing at it; names they use without defining come only from ``PREPARED``;
- ``bash`` blocks run here in bash, the blocks of one section in one shell, against a temporary
  ``AIRFLOW_HOME``, with placeholders replaced (a ``serve`` block is started, read and stopped); a line
  that cannot run here says which file CI runs it through, and ``CI_CHECKS`` checks that file does;
- ``<!-- run-by: TEST -->`` blocks are run by TEST, which must read them with ``readme.blocks_run_by``.

A block that none of these covers fails ``test_every_readme_block_is_covered`` with what to do about it.
"""

from __future__ import annotations

import ast
import builtins
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import pytest
from readme import LANGUAGES, README, REPO_ROOT, SERVE, Block, ReadmeError, Served, blocks, excerpt, substitute
from readme import serve as readme_serve

from airflow_provider_acedata.testing import FakeAceDataPlatform

if TYPE_CHECKING:
    from airflow.sdk import DAG

ALL = blocks()
EXAMPLES = [block for block in ALL if block.directive and block.directive[0] == "example"]
RUN_BY = [block for block in ALL if block.directive and block.directive[0] == "run-by"]
PYTHON = [block for block in ALL if block.lang == "python" and block.directive is None]
BASH = [block for block in ALL if block.lang == "bash" and block.directive is None]
CI_COMMENT = re.compile(r"#.*\bCI runs it\b.*:\s*(?P<file>\S+)\s*$")
BIN = Path(sys.executable).parent


def _makefile_recipe(target: str) -> str:
    found = re.search(rf"^{re.escape(target)}:.*\n\t(?P<recipe>.+)$", (REPO_ROOT / "Makefile").read_text(), re.M)
    return found.group("recipe").strip() if found else ""


#: The commands a README line may leave to CI, and how to see in the file it names that CI runs them.
CI_CHECKS: dict[str, Callable[[str], bool]] = {
    "make test": lambda text: re.search(r"^make test$", text, re.M) is not None,
    # make check's lint and tests are the first half of make test's recipe (its unit-tests select a superset).
    "make check": lambda text: re.search(r"^test:.*\n\t.*\bunit-tests lint\b", text, re.M) is not None,
    "make demo": lambda text: _makefile_recipe("demo") == "$(BIN)/python -m demo" and '"-m", "demo"' in text,
    "pip install airflow-provider-acedata": lambda text: "pip install" in text and "dist/*.whl" in text,
}


# -- coverage: every block is under a rule ---------------------------------------------------------------


def problems(block: Block) -> list[str]:
    """Why ``block`` is not covered by the rule (empty when it is)."""
    if block.lang not in LANGUAGES:
        return [f"{block.where}: a ```{block.lang or '(no language)'} block; code samples are python or bash"]
    if block.directive is None:
        return (
            []
            if block.lang == "python"
            else [problem for line in block.code.splitlines() for problem in _line(block, line)]
        )
    kind, argument = block.directive
    if kind == "example":
        path, _, marker = argument.partition("#")
        if block.lang != "python" or not marker:
            return [f"{block.where}: write <!-- example: PATH#MARKER --> before a python block"]
        if not (path.startswith(("example_dags/", "tests/")) and (REPO_ROOT / path).is_file()):
            return [f"{block.where}: {path} is not an example DAG or a test of this repository"]
        return []
    if kind == "run-by":
        test = REPO_ROOT / argument
        if not (argument.startswith("tests/") and test.is_file()):
            return [f"{block.where}: <!-- run-by: {argument} --> names no test file"]
        if "blocks_run_by(" not in test.read_text() and "block_run_by(" not in test.read_text():
            return [f"{block.where}: {argument} does not read its README blocks (readme.blocks_run_by(__file__))"]
        return []
    return [f"{block.where}: unknown directive <!-- {kind}: ... -->; use example: or run-by:"]


def _line(block: Block, line: str) -> list[str]:
    """A bash line is run here, unless it is one this test cannot run: then it must name where CI runs it."""
    command = line.split("#", 1)[0].strip()
    if not command.startswith(("make ", "pip install")):
        return []
    ci = CI_COMMENT.search(line)
    if ci is None:
        return [
            f"{block.where}: `{command}` cannot run here; end the line with a comment '# ... CI runs it: FILE' "
            "naming the file through which CI runs it"
        ]
    if command not in CI_CHECKS:
        return [f"{block.where}: `{command}`: add how to check that {ci.group('file')} runs it to CI_CHECKS"]
    target = REPO_ROOT / ci.group("file")
    if not target.is_file() or not CI_CHECKS[command](target.read_text()):
        return [f"{block.where}: {ci.group('file')} does not run `{command}`"]
    return []


def test_every_readme_block_is_covered() -> None:
    found = [problem for block in ALL for problem in problems(block)]
    assert not found, "README code blocks no test runs (see README.md, Development):\n" + "\n".join(found)
    assert len(ALL) == len(EXAMPLES) + len(RUN_BY) + len(PYTHON) + len(BASH)
    assert EXAMPLES and RUN_BY and PYTHON and BASH


def test_the_rule_fails_loudly_on_an_uncovered_block() -> None:
    sample = (
        "## A section\n\n```js\nconsole.log(1)\n```\n\n<!-- maybe: x -->\n```python\npass\n```\n\n"
        "```bash\nmake lint\npip install something   # CI runs it: .ci/run\n```\n\n"
        "<!-- run-by: tests/nothing_here.py -->\n```bash\ntrue\n```\n"
    )
    found = [problem for block in blocks(sample) for problem in problems(block)]
    assert len(found) == 5, found
    assert "code samples are python or bash" in found[0]
    assert "unknown directive" in found[1]
    assert "end the line with a comment '# ... CI runs it: FILE'" in found[2]
    assert "add how to check that .ci/run runs it to CI_CHECKS" in found[3]
    assert "names no test file" in found[4]
    with pytest.raises(ReadmeError, match="never closed"):
        blocks("```python\npass\n")


@pytest.mark.parametrize("block", EXAMPLES, ids=[block.id for block in EXAMPLES])
def test_example_block_is_the_tested_code(block: Block) -> None:
    assert block.directive is not None
    path, _, marker = block.directive[1].partition("#")
    expected = excerpt(REPO_ROOT / path, marker)
    assert block.code == expected, f"{block.where} differs from {path}#{marker}; the README should read:\n{expected}"


# -- python blocks ----------------------------------------------------------------------------------------

MIDJOURNEY = "midjourney"


def _create_app(env: dict[str, Any]) -> Any:
    from airflow_provider_acedata.operators import CreateApplicationOperator

    return CreateApplicationOperator(task_id="create_application_prepared", service_alias=MIDJOURNEY)


def _create_key(env: dict[str, Any]) -> Any:
    from airflow_provider_acedata.operators import CreateCredentialOperator
    from airflow_provider_acedata.token_stores import VariableTokenStore

    return CreateCredentialOperator(
        task_id="create_key_prepared",
        application_id=_create_app(env).output,
        name="readme",
        token_store=VariableTokenStore("readme_api_key"),
    )


def _report_balance(env: dict[str, Any]) -> Any:
    from airflow.sdk import task

    @task
    def report_balance(application_id: str) -> str:
        return application_id

    return report_balance


def _notify_oncall(env: dict[str, Any]) -> Callable[[Any], None]:
    def notify_oncall(context: Any) -> None:
        """Your alert (a Slack or PagerDuty notifier, ...)."""

    return notify_oncall


#: Stand-ins for the reader's own objects that a block may use without defining them: name -> factory.
PREPARED: dict[str, Callable[[dict[str, Any]], Any]] = {
    "create_app": _create_app,
    "create_key": _create_key,
    "report_balance": _report_balance,
    "notify_oncall": _notify_oncall,
    "service_id": lambda env: env["platform"].service_id("flux"),  # a service the account has no application of
    "application_id": lambda env: env["application_id"],
    "monkeypatch": lambda env: env["monkeypatch"],
    "dag": lambda env: env["dag"](),  # a DAG that creates an application (example_acedata_application)
}


def free_names(code: str) -> set[str]:
    """Names ``code`` reads that it never binds (assignment, import, def, class, argument, loop target)."""
    tree = ast.parse(code)
    bound: set[str] = set()
    read: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (read if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
    return read - bound - set(dir(builtins))


class FakeVaultHook:
    """``airflow.providers.hashicorp.hooks.vault.VaultHook`` for the README's VaultTokenStore (not installed here)."""

    secrets: ClassVar[dict[str, dict[str, Any]]] = {}

    def __init__(self, vault_conn_id: str = "vault_default") -> None:
        self.vault_conn_id = vault_conn_id

    def create_or_update_secret(self, secret_path: str, secret: dict[str, Any]) -> None:
        self.secrets[secret_path] = dict(secret)

    def get_secret(self, secret_path: str) -> dict[str, Any] | None:
        return self.secrets.get(secret_path)


@pytest.fixture
def fake_vault(monkeypatch: pytest.MonkeyPatch) -> type[FakeVaultHook]:
    import types

    module = types.ModuleType("airflow.providers.hashicorp.hooks.vault")
    module.VaultHook = FakeVaultHook  # type: ignore[attr-defined]
    for name in ("airflow.providers.hashicorp", "airflow.providers.hashicorp.hooks"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, module.__name__, module)
    FakeVaultHook.secrets = {}
    return FakeVaultHook


@pytest.fixture
def readme_env(
    monkeypatch: pytest.MonkeyPatch, airflow_db: None, fake_vault: type[FakeVaultHook]
) -> Iterator[dict[str, Any]]:
    """The prepared world of the python blocks: an offline platform that both connections point at."""
    from airflow_provider_acedata.hooks import AceDataHook

    with FakeAceDataPlatform() as platform:
        connection = json.loads(platform.connection_json())
        connection["extra"] = {"retry_delay": 0}
        monkeypatch.setenv("AIRFLOW_CONN_ACEDATA_DEFAULT", json.dumps(connection))
        key = platform.issue_api_key(None, credits=100)["token"]
        monkeypatch.setenv("AIRFLOW_CONN_ACEDATA_API_DEFAULT", platform.api_connection_json(key))
        with AceDataHook() as hook:
            application_id = str(hook.create_application(platform.service_id(MIDJOURNEY))["id"])
        yield {
            "platform": platform,
            "application_id": application_id,
            "monkeypatch": monkeypatch,
            "dag": example_application_dag,
            "vault": fake_vault,
        }


def example_application_dag() -> DAG:
    """``example_acedata_application``, parsed and registered so that ``dag.test()`` can run it."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db
    from airflow.utils.session import create_session

    with create_session() as session:
        DagBundlesManager().sync_bundles_to_db(session=session)
    bag = DagBag(dag_folder=REPO_ROOT / "example_dags" / "example_acedata_application.py")
    assert not bag.import_errors, bag.import_errors
    sync_bag_to_db(bag, "dags-folder", None)
    return bag.dags["example_acedata_application"]


@pytest.mark.parametrize("block", PYTHON, ids=[block.id for block in PYTHON])
def test_python_block_runs(block: Block, readme_env: dict[str, Any]) -> None:
    from airflow.sdk import DAG

    unknown = sorted(free_names(block.code) - set(PREPARED))
    assert not unknown, (
        f"{block.where} uses {unknown} without defining or importing them: import them in the block, or (for "
        "an object of the reader's own, like create_app) add a stand-in to PREPARED in tests/test_readme.py"
    )
    namespace: dict[str, Any] = {"__name__": f"readme_{block.id}"}
    with DAG(dag_id=f"readme_{block.id}", schedule=None):
        for name in sorted(free_names(block.code)):
            namespace[name] = PREPARED[name](readme_env)
        exec(compile(block.code, block.where, "exec"), namespace)  # the README's own sample

    if "VaultTokenStore" in namespace:  # a class only: use it as the README says a store is used
        store = namespace["VaultTokenStore"]("secret/acedata")
        store.save("platform-v1-readme")
        assert store.load() == "platform-v1-readme"
        assert readme_env["vault"].secrets == {"secret/acedata": {"password": "platform-v1-readme"}}


# -- bash blocks ------------------------------------------------------------------------------------------

BASH_SECTIONS: dict[str, list[Block]] = {}
for _block in BASH:
    BASH_SECTIONS.setdefault(_block.section, []).append(_block)


@pytest.fixture(scope="module")
def cli_home(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The bash blocks' environment: this venv first on PATH, a fresh migrated AIRFLOW_HOME, nothing else of Airflow."""
    home = tmp_path_factory.mktemp("readme-home")
    env = {k: v for k, v in os.environ.items() if not k.upper().lstrip("_").startswith("AIRFLOW")}
    env.update(
        {
            "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
            "HOME": str(home),
            "AIRFLOW_HOME": str(home / "airflow"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        }
    )
    done = subprocess.run(
        ["airflow", "db", "migrate"], env=env, cwd=home, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return env


@pytest.fixture(scope="module")
def cli_platform() -> Iterator[FakeAceDataPlatform]:
    with FakeAceDataPlatform() as platform:
        yield platform


def test_bash_blocks_run(cli_home: dict[str, str], cli_platform: FakeAceDataPlatform) -> None:
    """One test for all sections, in README order: a later section may use what an earlier one set up (as
    "Testing the connection" tests the connection that "Connection" added), so they never run apart."""
    for section_blocks in BASH_SECTIONS.values():
        run_bash_section(section_blocks, cli_home, cli_platform)


def run_bash_section(section_blocks: list[Block], env: dict[str, str], platform: FakeAceDataPlatform) -> None:
    values = {"https://platform.acedata.cloud": platform.url, "platform-v1-…": platform.token}
    script: list[str] = ["set -euo pipefail"]
    served: list[Served] = []
    try:
        for block in section_blocks:
            code = _runnable(block.code)
            if code.startswith(SERVE):
                assert not script[1:], f"{block.where}: a serve block must come first in its section"
                served.append(readme_serve(block, env))
                values.update(served_values(served[-1]))
                continue
            script.append(substitute(code, values))
        done = subprocess.run(
            ["bash", "-c", "\n".join(script)], env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300
        )
    finally:
        codes = [one.stop() for one in served]
    where = ", ".join(block.where for block in section_blocks)
    assert done.returncode == 0, f"{where} failed (rc={done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    assert platform.token not in done.stdout + done.stderr
    assert codes == [0] * len(served), f"{where}: serve exited {codes}"


def served_values(served: Served) -> dict[str, str]:
    """The placeholders of the blocks after a serve block: its URL, admin token and an application of its account."""
    import requests

    state = requests.get(
        f"{served.url}/_admin/state", headers={"Authorization": f"Bearer {served.admin_token}"}, timeout=10
    )
    return {
        "URL": served.url,
        "ADMIN_TOKEN": served.admin_token,
        "APPLICATION_ID": state.json()["applications"][0]["id"],
    }


def _runnable(code: str) -> str:
    """The block without the lines CI runs instead (checked by test_every_readme_block_is_covered)."""
    kept = [
        line for line in code.splitlines() if not line.split("#", 1)[0].strip().startswith(("make ", "pip install"))
    ]
    return "\n".join(kept).strip() + "\n"


def test_readme_names_the_rule() -> None:
    text = README.read_text()
    assert (
        "tests/test_readme.py" in text and "<!-- example: PATH#MARKER -->" in text and "<!-- run-by: TEST -->" in text
    )


def test_the_lines_serve_prints_connect_airflow(cli_home: dict[str, str]) -> None:
    """Step 3 of the recipe may use the `airflow connections add` line serve printed instead of the form."""
    [block] = [block for block in BASH if block.code.startswith(SERVE)]
    served = readme_serve(block, cli_home)
    try:
        script = "\n".join(
            [
                "set -euo pipefail",
                "airflow connections delete acedata_default >/dev/null 2>&1 || true",
                served.connections_add,
                served.printed[7],  # the acedata_api_default line
                "export AIRFLOW__CORE__TEST_CONNECTION=Enabled",
                "airflow connections test acedata_default",
                "airflow connections list -o json | python -c 'import json, sys; "
                'print([c["conn_type"] for c in json.load(sys.stdin) if c["conn_id"] == "acedata_api_default"])\'',
            ]
        )
        done = subprocess.run(["bash", "-c", script], env=cli_home, capture_output=True, text=True, timeout=300)
    finally:
        assert served.stop() == 0
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Connection success!" in done.stdout
    assert "['acedata_api']" in done.stdout
