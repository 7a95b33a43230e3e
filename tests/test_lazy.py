"""Lazy package exports (_lazy.py): a DAG file that imports the provider's operators, sensors or triggers loads
no hook, transport, rotation protocol or lock module, and no HTTP client, until a task uses one."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

PACKAGES = ("operators", "sensors", "triggers")
HEAVY = (
    "airflow_provider_acedata.hooks.acedata",
    "airflow_provider_acedata.hooks.api",
    "airflow_provider_acedata.hooks.airflow_api",
    "airflow_provider_acedata.hooks._base",
    "airflow_provider_acedata.hooks._http",
    "airflow_provider_acedata.hooks._token",
    "airflow_provider_acedata.platform_lock",
    "airflow_provider_acedata.token_stores",
    "requests",
    "httpx",
)

_CHILD = """
import json, sys
import airflow.sdk
steps = {}
for label, statement in json.loads(sys.argv[1]):
    before = set(sys.modules)
    exec(statement)
    steps[label] = sorted(set(sys.modules) - before)
print(json.dumps(steps))
"""


@pytest.fixture(scope="module")
def added() -> dict[str, list[str]]:
    """What each step adds to a fresh interpreter that has imported ``airflow.sdk`` (as every DAG file has)."""
    steps = [(package, f"import airflow_provider_acedata.{package}") for package in PACKAGES]
    steps.append(("classes", "; ".join(f"from airflow_provider_acedata.{p} import *" for p in PACKAGES)))
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, json.dumps(steps)], capture_output=True, text=True, check=True, timeout=120
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def heavy(modules: list[str]) -> list[str]:
    return [m for m in modules if m in HEAVY or m.startswith("airflow_provider_acedata.rotation")]


def test_importing_every_public_class_loads_no_hook_rotation_lock_or_http_client(added):
    assert heavy(added["classes"]) == []
    assert "airflow_provider_acedata.operators.export" in added["classes"], "the step imported the classes"


@pytest.mark.parametrize("package", PACKAGES)
def test_importing_a_package_loads_none_of_its_modules(added, package):
    assert not [m for m in added[package] if m.startswith(f"airflow_provider_acedata.{package}.")]


def test_a_class_is_imported_on_first_use_and_unknown_names_still_fail():
    from airflow_provider_acedata import operators

    assert operators.ExportUsageOperator.__module__ == "airflow_provider_acedata.operators.export"
    with pytest.raises(AttributeError, match="no attribute 'NoSuchOperator'"):
        operators.NoSuchOperator  # noqa: B018
