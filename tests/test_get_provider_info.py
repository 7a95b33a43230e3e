"""get_provider_info() is valid for Airflow itself: a broken one would break ``import airflow`` for the whole venv."""

from __future__ import annotations

import importlib
import importlib.metadata
import json
from pathlib import Path
from typing import Any

import airflow
import jsonschema
import pytest
from packaging.version import Version

from airflow_provider_acedata import __version__
from airflow_provider_acedata.get_provider_info import get_provider_info
from airflow_provider_acedata.hooks.acedata import AceDataHook

DISTRIBUTION = "airflow-provider-acedata"


@pytest.fixture(scope="module")
def provider_info() -> dict[str, Any]:
    return get_provider_info()


def dotted_paths(info: dict[str, Any]) -> list[str]:
    """Every module or class path the provider info points Airflow at."""
    paths = [entry["hook-class-name"] for entry in info.get("connection-types", [])]
    for kind in ("hooks", "operators", "sensors", "triggers"):
        paths += [module for entry in info.get(kind, []) for module in entry["python-modules"]]
    return paths


def test_matches_airflows_own_schema(provider_info: dict[str, Any]) -> None:
    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())

    jsonschema.validate(provider_info, schema)


def test_every_dotted_path_imports(provider_info: dict[str, Any]) -> None:
    paths = dotted_paths(provider_info)

    assert "airflow_provider_acedata.hooks.acedata.AceDataHook" in paths
    for path in paths:
        try:
            importlib.import_module(path)
        except ModuleNotFoundError:
            module, _, name = path.rpartition(".")
            assert hasattr(importlib.import_module(module), name), path


def test_package_name_and_version_match_the_distribution(provider_info: dict[str, Any]) -> None:
    distribution = importlib.metadata.distribution(DISTRIBUTION)

    assert provider_info["package-name"] == distribution.metadata["Name"] == DISTRIBUTION
    assert provider_info["versions"][0] == __version__ == distribution.version
    entry_points = distribution.entry_points.select(group="apache_airflow_provider")
    assert [entry.load() for entry in entry_points] == [get_provider_info]


@pytest.mark.skipif(
    Version(Version(airflow.__version__).base_version) < Version("3.2"),
    reason="Airflow reads the declarative connection form (conn-fields, ui-field-behaviour) from 3.2 on",
)
def test_airflow_discovers_the_hook_and_its_form() -> None:
    from airflow.providers_manager import ProvidersManager
    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

    hook = ProvidersManagerTaskRuntime().hooks["acedata"]
    assert hook is not None
    assert hook.hook_class_name == f"{AceDataHook.__module__}.{AceDataHook.__qualname__}"
    assert hook.package_name == DISTRIBUTION
    assert hook.connection_id_attribute_name == "acedata_conn_id"

    manager = ProvidersManager()
    assert DISTRIBUTION in manager.providers
    behaviour = manager.field_behaviours["acedata"]
    assert behaviour["relabeling"]["password"] == "Platform Token"
    assert "extra__acedata__rotation_variable" in manager.connection_form_widgets
