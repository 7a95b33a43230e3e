"""The README's code samples, as tests read and run them (the rule is in README.md, "Development").

Every fenced block of README.md is one of:

- ``<!-- example: PATH#MARKER -->`` right before a ``python`` block: the block is the code of PATH between
  ``# [START MARKER]`` and ``# [END MARKER]`` (every such region, dedented, joined by one blank line);
- ``<!-- run-by: TEST -->`` right before a block: the real-Airflow test TEST reads it with
  :func:`blocks_run_by` and runs it;
- no comment: ``tests/test_readme.py`` runs it (``python`` in a prepared namespace, ``bash`` in bash).

Placeholders in ``bash`` blocks stand for values a reader has and a test makes up (:func:`substitute`).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import textwrap
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
README = REPO_ROOT / "README.md"
LANGUAGES = ("python", "bash")
DIRECTIVES = ("example", "run-by")

_FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>[^`\s]*)\s*$")
_DIRECTIVE = re.compile(r"^\s*<!--\s*(?P<kind>[\w-]+):\s*(?P<arg>\S+)\s*-->\s*$")
_HEADING = re.compile(r"^(#{1,6})\s+(?P<title>.+?)\s*$")


class ReadmeError(AssertionError):
    """The README has a block that no rule covers, or a directive that does not hold."""


@dataclass(frozen=True)
class Block:
    """One fenced code block of the README."""

    line: int  # 1-based line of the opening fence
    lang: str
    code: str  # dedented by the fence's own indentation, ending with a newline
    directive: tuple[str, str] | None  # ("example", "path#marker"), ("run-by", "tests/...py") or None
    section: str  # the nearest heading above the block

    @property
    def where(self) -> str:
        return f"README.md:{self.line} (section {self.section!r})"

    @property
    def id(self) -> str:
        return f"L{self.line}"


def blocks(text: str | None = None) -> list[Block]:
    """Every fenced block of the README (or of ``text``), in order; raises on an unclosed fence."""
    lines = (README.read_text() if text is None else text).splitlines()
    found: list[Block] = []
    section = "(top)"
    i = 0
    while i < len(lines):
        heading = _HEADING.match(lines[i])
        if heading:
            section = heading.group("title")
        fence = _FENCE.match(lines[i])
        if not fence:
            i += 1
            continue
        indent, start = fence.group("indent"), i
        body: list[str] = []
        i += 1
        while i < len(lines) and not re.match(rf"^{re.escape(indent)}```\s*$", lines[i]):
            line = lines[i]
            body.append(line[len(indent) :] if line.startswith(indent) else line.lstrip())
            i += 1
        if i == len(lines):
            raise ReadmeError(f"README.md:{start + 1}: the code block is never closed")
        directive = None
        if start > 0 and (match := _DIRECTIVE.match(lines[start - 1])):
            directive = (match.group("kind"), match.group("arg"))
        found.append(Block(start + 1, fence.group("lang"), "\n".join(body) + "\n", directive, section))
        i += 1
    return found


def blocks_run_by(test_file: str | Path) -> list[Block]:
    """The blocks whose ``<!-- run-by: ... -->`` names ``test_file`` (a path under the repository)."""
    name = Path(test_file).resolve().relative_to(REPO_ROOT).as_posix()
    return [block for block in blocks() if block.directive == ("run-by", name)]


def block_run_by(test_file: str | Path, containing: str) -> Block:
    """The one block handed to ``test_file`` whose code contains ``containing``."""
    matching = [block for block in blocks_run_by(test_file) if containing in block.code]
    if len(matching) != 1:
        raise ReadmeError(
            f"expected one README block with '<!-- run-by: {test_file} -->' containing {containing!r}, "
            f"found {[block.where for block in matching]}"
        )
    return matching[0]


def excerpt(path: Path, marker: str) -> str:
    """The code of ``path`` between ``# [START marker]`` and ``# [END marker]``, as the README shows it."""
    source = path.read_text()
    pattern = re.compile(
        rf"^[ \t]*# \[START {re.escape(marker)}\]\n(?P<code>.*?)^[ \t]*# \[END {re.escape(marker)}\]$", re.M | re.S
    )
    regions = [textwrap.dedent(match.group("code")).strip("\n") for match in pattern.finditer(source)]
    if not regions:
        raise ReadmeError(f"{path} has no '# [START {marker}]' ... '# [END {marker}]' region")
    return "\n\n".join(regions) + "\n"


def substitute(code: str, values: Mapping[str, str]) -> str:
    """``code`` with each placeholder (a key of ``values``) replaced where it stands as a whole word.

    Placeholders: ``https://platform.acedata.cloud`` (a platform URL), ``platform-v1-…`` (a platform token),
    ``URL``, ``ADMIN_TOKEN``, ``APPLICATION_ID`` (what ``serve`` printed), ``ADMIN_PASSWORD`` and the
    api-server's ``http://127.0.0.1:8080`` (an Airflow deployment's).
    """
    for placeholder in sorted(values, key=len, reverse=True):
        value = values[placeholder]
        code = re.sub(rf"(?<![\w/.-]){re.escape(placeholder)}(?![\w-])", lambda _, value=value: value, code)
    return code


SERVE = "python -m airflow_provider_acedata.testing serve"


@dataclass
class Served:
    """A README ``serve`` block running as a reader runs it, and what it printed."""

    process: subprocess.Popen[str]
    printed: list[str]  # the eight lines on stdout: URL, token, export, connections add; the same for the gateway
    hint: str  # stderr, up to "Stop with Ctrl-C."

    @property
    def url(self) -> str:
        return self.printed[0]

    @property
    def token(self) -> str:
        return self.printed[1]

    @property
    def connections_add(self) -> str:
        return self.printed[3]

    @property
    def gateway_url(self) -> str:
        return self.printed[4]

    @property
    def api_key(self) -> str:
        return self.printed[5]

    def command(self, name: str) -> str:
        """The ``state`` or ``topup`` command line the hint printed, with its URL and admin token filled in."""
        found = re.search(rf"^.*?:\s+(?P<command>{re.escape(SERVE[:-6])}\S* {name} .*)$", self.hint, re.M)
        if found is None:
            raise ReadmeError(f"serve printed no {name} command:\n{self.hint}")
        return found.group("command").strip()

    @property
    def admin_token(self) -> str:
        found = re.search(r"--token (\S+)", self.command("state"))
        assert found is not None
        return found.group(1)

    def stop(self) -> int:
        """SIGTERM, as Ctrl-C would; the exit status."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()
        return int(self.process.returncode)


def serve(block: Block, env: Mapping[str, str], timeout: float = 60) -> Served:
    """Start a ``serve`` block in bash (its own process group) and read what it printed."""
    code = block.code.strip()
    if not code.startswith(SERVE) or "\n" in code:
        raise ReadmeError(f"{block.where}: a serve block is the one serve command")
    process = subprocess.Popen(
        ["bash", "-c", f"exec {code}"],
        env=dict(env),
        cwd=REPO_ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert process.stdout is not None and process.stderr is not None
    served = Served(process, [], "")
    deadline = time.monotonic() + timeout
    try:
        while len(served.printed) < 8 and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            served.printed.append(line.strip())
        while "Stop with Ctrl-C." not in served.hint and time.monotonic() < deadline:
            line = process.stderr.readline()
            if not line:
                break
            served.hint += line
        if len(served.printed) < 8 or "Stop with Ctrl-C." not in served.hint:
            raise ReadmeError(f"{block.where}: serve printed {served.printed} and {served.hint!r}")
    except BaseException:
        served.stop()
        raise
    return served
