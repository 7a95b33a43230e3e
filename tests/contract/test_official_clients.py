"""The official SDK's platform resources and MCP server's platform tools work against the offline platform."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from airflow_provider_acedata.testing import FakeAceDataPlatform

ROOT = Path(__file__).resolve().parents[2]
OFFICIAL_PYTHON = ROOT / ".venv-official" / "bin" / "python"
DRIVER = ROOT / ".ci" / "official_clients.py"


@pytest.fixture(scope="module")
def results() -> dict[str, dict[str, object]]:
    assert OFFICIAL_PYTHON.exists(), "run `make test` (or `make .venv-official/.installed`) first"
    with FakeAceDataPlatform() as platform:
        done = subprocess.run(
            [
                str(OFFICIAL_PYTHON),
                str(DRIVER),
                platform.url,
                platform.token,
                platform.service_id("suno"),
                platform.service_id("flux"),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 0, done.stderr[-2000:]
    parsed: dict[str, dict[str, dict[str, object]]] = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(parsed["mcp"]) == set(MCP_TOOLS) | set(OVER_THE_LEDGERS_LIMIT)
    return {**parsed["sdk"], **{f"mcp:{name}": outcome for name, outcome in parsed["mcp"].items()}}


OPERATIONS = [
    "applications.create",
    "applications.list",
    "applications.get",
    "credentials.create",
    "credentials.list",
    "credentials.rotate",
    "credentials.list after delete",
]


MCP_TOOLS = [
    "create_application",
    "list_applications",
    "get_application",
    "update_application_balance_policy",
    "create_credential",
    "list_credentials",
    "get_credential",
    "update_credential",
    "rotate_credential",
    "delete_credential",
    "list_services",
]
OVER_THE_LEDGERS_LIMIT = {"get_balance": "limit=200", "list_services search": "limit=300"}


@pytest.mark.parametrize("operation", OPERATIONS + [f"mcp:{name}" for name in MCP_TOOLS])
def test_sdk_platform_operation_works(results: dict[str, dict[str, object]], operation: str) -> None:
    assert results[operation]["ok"] is True, results[operation]


def test_sdk_delete_parses_the_documented_204_as_json(results: dict[str, dict[str, object]]) -> None:
    """DELETE answers 204 with no body (platform-api.md decides); the SDK 2026.10.20.0 then fails to parse it."""
    assert results["credentials.delete"]["ok"] is False
    assert "JSONDecodeError" in str(results["credentials.delete"]["error"])
    assert results["credentials.list after delete"]["count"] == 0


def test_sdk_sees_created_objects(results: dict[str, dict[str, object]]) -> None:
    assert results["applications.list"]["count"] == 1
    assert results["credentials.rotate"]["same_id_new_token"] is True
    assert {"username", "password", "creator_id", "allowed_api_ids"} <= set(
        results["credentials.create"]["keys"]  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("tool", OVER_THE_LEDGERS_LIMIT)
def test_mcp_tools_asking_for_more_than_100_get_the_ledgers_400(
    results: dict[str, dict[str, object]], tool: str
) -> None:
    """mcp-acedatacloud 2026.10.25.0's acedatacloud_get_balance sends /applications/?limit=200 and
    acedatacloud_list_services(search=...) /services/?limit=300, although the ledger it ships (every list
    route: limit 1..100) and its own generated tools (le=100) forbid it. The offline platform answers the
    ledger's 400 naming ``limit``; the tools report that error instead of a (possibly truncated) list.
    """
    outcome = results[f"mcp:{tool}"]
    assert outcome["ok"] is False
    assert "limit" in json.dumps(outcome["error"])
