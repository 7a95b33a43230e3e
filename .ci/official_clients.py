"""Drive the official SDK's platform resources and the MCP server's platform tools against a platform URL.

Run by .venv-official/bin/python (never the project venv):
``official_clients.py URL TOKEN SDK_SERVICE_ID MCP_SERVICE_ID``.
Prints one JSON line: ``{"sdk": {operation: outcome}, "mcp": {tool: outcome}}``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Callable
from typing import Any

from acedatacloud import AceDataCloud


def sdk(url: str, token: str, service_id: str) -> dict[str, Any]:
    """Run each SDK platform operation in order, recording its outcome instead of stopping at the first error."""
    client = AceDataCloud(api_token=token, platform_base_url=url, max_retries=0, timeout=10)
    platform = client.platform
    results: dict[str, Any] = {}
    state: dict[str, Any] = {}

    def run(name: str, call: Callable[[], Any]) -> Any:
        try:
            value = call()
        except Exception as error:
            results[name] = {"ok": False, "error": f"{type(error).__name__}: {str(error)[:300]}"}
            return None
        results[name] = {"ok": True, "keys": sorted(value) if isinstance(value, dict) else None}
        return value

    app = run("applications.create", lambda: platform.applications.create(service_id=service_id))
    state["app"] = app["id"] if app else None
    listed = run("applications.list", lambda: platform.applications.list(user_id="me"))
    if listed is not None:
        results["applications.list"]["count"] = listed.get("count")
    run("applications.get", lambda: platform.applications.get(state["app"]))
    credential = run("credentials.create", lambda: platform.credentials.create(application_id=state["app"], name="sdk"))
    state["credential"] = credential["id"] if credential else None
    run("credentials.list", lambda: platform.credentials.list(user_id="me", application_id=state["app"]))
    rotated = run("credentials.rotate", lambda: platform.credentials.rotate(state["credential"]))
    if rotated is not None and credential is not None:
        results["credentials.rotate"]["same_id_new_token"] = (
            rotated["id"] == credential["id"] and rotated["token"] != credential["token"]
        )
    run("credentials.delete", lambda: platform.credentials.delete(state["credential"]))
    remaining = run("credentials.list after delete", lambda: platform.credentials.list(user_id="me", name="sdk"))
    if remaining is not None:
        results["credentials.list after delete"]["count"] = remaining.get("count")
    return results


async def mcp(url: str, token: str, service_id: str) -> dict[str, Any]:
    """Call the MCP server's platform tools as plain coroutines (no MCP transport), with ``confirm=True``."""
    os.environ["PLATFORM_API_BASE_URL"] = url
    os.environ["ACEDATACLOUD_PLATFORM_TOKEN"] = token
    from tools import read_tools
    from tools.user import applications, credentials

    results: dict[str, Any] = {}

    async def run(name: str, call: Any) -> Any:
        try:
            value = json.loads(await call)
        except Exception as error:
            results[name] = {"ok": False, "error": f"{type(error).__name__}: {str(error)[:300]}"}
            return None
        failed = isinstance(value, dict) and ("error" in value or value.get("status") == "confirmation_required")
        results[name] = {"ok": not failed, "error": value if failed else None}
        return value

    app = await run(
        "create_application", applications.acedatacloud_create_application(service_id=service_id, confirm=True)
    )
    app_id = (app or {}).get("id", "")
    await run("list_applications", applications.acedatacloud_list_applications())
    await run("get_application", applications.acedatacloud_get_application(application_id=app_id))
    await run(
        "update_application_balance_policy",
        applications.acedatacloud_update_application_balance_policy(
            application_id=app_id, allow_consume_global=False, confirm=True
        ),
    )
    key = await run(
        "create_credential",
        credentials.acedatacloud_create_credential(application_id=app_id, name="mcp", allowed_api_ids=[], confirm=True),
    )
    key_id = (key or {}).get("id", "")
    await run("list_credentials", credentials.acedatacloud_list_credentials(application_id=app_id, granted=False))
    await run("get_credential", credentials.acedatacloud_get_credential(credential_id=key_id))
    await run(
        "update_credential",
        credentials.acedatacloud_update_credential(credential_id=key_id, limited_amount=5, confirm=True),
    )
    await run("rotate_credential", credentials.acedatacloud_rotate_credential(credential_id=key_id, confirm=True))
    await run("delete_credential", credentials.acedatacloud_delete_credential(credential_id=key_id, confirm=True))
    # Hand-written read tools that ask for more than the ledger's limit of 100 (200 and 300).
    await run("get_balance", read_tools.acedatacloud_get_balance())
    await run("list_services search", read_tools.acedatacloud_list_services(search="suno"))
    await run("list_services", read_tools.acedatacloud_list_services())
    return results


def main(url: str, token: str, sdk_service_id: str, mcp_service_id: str) -> None:
    """Both official clients (each subscribes to its own service), one JSON line."""
    results = {"sdk": sdk(url, token, sdk_service_id), "mcp": asyncio.run(mcp(url, token, mcp_service_id))}
    print(json.dumps(results))


if __name__ == "__main__":
    main(*sys.argv[1:5])
