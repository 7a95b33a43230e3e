"""README blocks marked ``<!-- example: FILE#REGION -->`` are the example DAG's own code, which the tests run.

The block (after its import lines) must be the ``# [START REGION]`` ... ``# [END REGION]`` part of FILE,
dedented: the README cannot drift from the DAG that ``tests/example_dags`` and ``make demo`` run.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MARKER = re.compile(r"<!-- example: (?P<path>[^#\s]+)#(?P<region>\S+) -->\n```python\n(?P<code>.*?)\n```", re.S)


def region(path: Path, name: str) -> str:
    text = path.read_text()
    start = text.index(f"# [START {name}]\n") + len(f"# [START {name}]\n")
    end = text.index(f"# [END {name}]")
    body = text[start : text.rfind("\n", 0, end) + 1]
    return textwrap.dedent(body).strip()


def test_marked_readme_blocks_are_the_example_dags_code() -> None:
    found = list(MARKER.finditer((ROOT / "README.md").read_text()))

    assert any(match["region"] == "howto_operator_call_api_fan_out" for match in found)
    for match in found:
        lines = match["code"].splitlines()
        while lines and (lines[0].startswith(("from ", "import ")) or not lines[0].strip()):
            lines.pop(0)
        assert "\n".join(lines).strip() == region(ROOT / match["path"], match["region"]), match["region"]
