"""Drive the official acedatacloud SDK's platform resources against a platform URL; print JSON results.

Run by .venv-official/bin/python (never the project venv): ``official_clients.py URL TOKEN SERVICE_ID``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

from acedatacloud import AceDataCloud


def main(url: str, token: str, service_id: str) -> None:
    """Run each platform operation in order, recording its outcome instead of stopping at the first error."""
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
    print(json.dumps(results))


if __name__ == "__main__":
    main(*sys.argv[1:4])
