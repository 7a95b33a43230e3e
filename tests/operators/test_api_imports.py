"""A DAG file that uses CallApiOperator pays for the operator only: no HTTP client, hook, rotation or lock."""

from __future__ import annotations

import json
import subprocess
import sys

CHILD = """
import json, sys
import airflow.sdk
before = set(sys.modules)
from airflow_provider_acedata.operators import CallApiOperator
from airflow_provider_acedata.triggers import ApiTaskTrigger
CallApiOperator(task_id="t", path="/flux/images", body={"prompt": "x"}, deferrable=True)
ApiTaskTrigger(gateway_task_id="x", path="/flux/images").serialize()
print(json.dumps({"before": sorted(before), "after": sorted(set(sys.modules) - before)}))
"""


def test_importing_the_operator_and_trigger_loads_no_client_hook_or_lock() -> None:
    done = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=120, check=True)
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    added = set(loaded["after"])
    before = set(loaded["before"])

    assert "requests" not in added and "requests" not in before
    assert "httpx" not in added  # airflow.sdk itself may have imported it; we add nothing
    heavy = ("hooks", "rotation", "platform_lock", "token_stores", "operators._artifacts", "operators._submits")
    assert not [m for m in added if m.startswith(tuple(f"airflow_provider_acedata.{name}" for name in heavy))]
    assert "airflow_provider_acedata.operators.api" in added
    assert "airflow_provider_acedata.triggers._task_reads" not in added
