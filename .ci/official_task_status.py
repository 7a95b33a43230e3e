"""Run the official SDK's completion rule over a file of task states: what ``task_status`` and friends say.

Run by .venv-official/bin/python (never the project venv): ``official_task_status.py SHAPES_JSON``, where
the file holds ``{"shapes": [{"name", "state"}, ...]}``. Prints one JSON line mapping each name to
``{"status", "urls", "reason"}`` as ``acedatacloud._runtime.tasks`` computes them (``reason`` only for a
failed task).
"""

from __future__ import annotations

import json
import sys
from typing import Any

from acedatacloud._runtime.tasks import artifact_urls, failure_reason, task_status


def verdicts(shapes: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for shape in shapes:
        state = shape["state"]
        status = task_status(state)
        found[shape["name"]] = {
            "status": status,
            "urls": artifact_urls(state),
            "reason": failure_reason(state) if status == "failed" else None,
        }
    return found


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as stream:
        print(json.dumps(verdicts(json.load(stream)["shapes"])))
