"""Helpers for the tests of CallApiOperator and ApiTaskTrigger against the offline gateway (no Airflow import)."""

from __future__ import annotations

import json
from typing import Any

import requests

BODIES: dict[str, dict[str, Any]] = {
    "/midjourney/imagine": {"prompt": "a lighthouse at dawn", "mode": "fast"},
    "/suno/audios": {"lyric": "[Verse]\nla la", "style": "folk", "title": "Dawn", "custom": True},
    "/flux/images": {"action": "generate", "prompt": "a red fox in snow", "size": "1024x1024"},
    "/veo/videos": {"action": "text2video", "prompt": "waves at night", "model": "veo3-fast"},
}
CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say hello to Airflow."}]}


def api_connection(gateway_url: str, key: str, **extra: Any) -> str:
    """An ``AIRFLOW_CONN_*`` value for an ``acedata_api`` connection (reads retried without sleeping)."""
    return json.dumps(
        {"conn_type": "acedata_api", "host": gateway_url, "password": key, "extra": {"retry_delay": 0, **extra}}
    )


def submit(gateway_url: str, key: str, path: str, body: dict[str, Any] | None = None) -> str:
    """Submit a task straight to the gateway (as another client would) and return its id."""
    answer = requests.post(
        gateway_url + path,
        json={**(body if body is not None else BODIES[path]), "async": True},
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )
    answer.raise_for_status()
    return str(answer.json()["task_id"])


def batch_reads(platform: Any, service: str) -> list[Any]:
    """The task-read requests the gateway got for ``service``, in arrival order."""
    return [record for record in platform.calls("POST", f"^/{service}/tasks$", plane="gateway")]
