"""Drive the official SDK against a gateway URL: tasks completed by its own waits, errors, the requests it sends.

Run by .venv-official/bin/python (never the project venv): ``official_gateway.py GATEWAY_URL KEYS_JSON``,
where KEYS_JSON maps ``global``, ``suno``, ``broke`` (a key with no Credits) and ``platform`` (a platform
token) to their values. The scenarios run in this order, which the caller's scripted faults rely on.
Prints one JSON line: ``{scenario: {"outcome": {...}, "requests": [{method, path, body}, ...]}}`` where
``requests`` are what the SDK sent (task ids in read bodies replaced by ``<task_id>``, a repeated read
listed once).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx
from acedatacloud import AceDataCloud
from acedatacloud._runtime.tasks import artifact_urls, failure_reason, task_status

POLL = {"poll_interval": 0.2, "max_wait": 30.0}
MESSAGES = [{"role": "user", "content": "Say hello to Airflow."}]


class Recorder:
    """What the SDK's httpx client sends, per scenario (an httpx request hook)."""

    def __init__(self) -> None:
        self.scenario = ""
        self.sent: dict[str, list[dict[str, Any]]] = {}

    def __call__(self, request: httpx.Request) -> None:
        body = json.loads(request.content) if request.content else None
        if isinstance(body, dict) and body.get("action") in ("retrieve", "retrieve_batch"):
            body = {key: "<task_id>" if key == "id" else value for key, value in body.items()}
        entry = {"method": request.method, "path": urlsplit(str(request.url)).path, "body": body}
        sent = self.sent.setdefault(self.scenario, [])
        if not (sent and sent[-1] == entry and entry["path"].endswith("/tasks")):
            sent.append(entry)


def client(url: str, token: str, recorder: Recorder, *, retries: int = 0) -> AceDataCloud:
    sdk = AceDataCloud(api_token=token, base_url=url, max_retries=retries, timeout=15)
    sdk._transport._client.event_hooks["request"].append(recorder)
    return sdk


def summary(state: Any) -> dict[str, Any]:
    """What the SDK's own rules make of a task state (or of a synchronous answer)."""
    if not isinstance(state, dict):
        return {"type": type(state).__name__}
    wrapped = state if "response" in state else {"response": state}
    status = task_status(wrapped)
    outcome: dict[str, Any] = {"status": status, "urls": len(artifact_urls(wrapped))}
    if status == "failed":
        outcome["reason"] = failure_reason(wrapped)
    return outcome


def main(url: str, keys: dict[str, str]) -> dict[str, Any]:
    recorder = Recorder()
    sdk = client(url, keys["global"], recorder)
    results: dict[str, Any] = {}

    def run(name: str, call: Callable[[], dict[str, Any]]) -> None:
        recorder.scenario = name
        try:
            outcome = {"ok": True, **call()}
        except Exception as error:
            outcome = {
                "ok": False,
                "error": type(error).__name__,
                "code": getattr(error, "code", None),
                "status": getattr(error, "status_code", None),
                "message": str(getattr(error, "message", error))[:200],
            }
        results[name] = {"outcome": outcome, "requests": recorder.sent.get(name, [])}

    def midjourney() -> dict[str, Any]:
        # The SDK has no Midjourney resource: submit through its transport, wait through tasks.get/wait.
        body = {"prompt": "a lighthouse at dawn, watercolor", "mode": "fast", "async": True}
        submitted = sdk._transport.request("POST", "/midjourney/imagine", json=body)
        running = sdk.tasks.get(submitted["task_id"], service="midjourney")
        final = sdk.tasks.wait(submitted["task_id"], service="midjourney", **POLL)
        return {"task_id": bool(submitted.get("task_id")), "first_read": summary(running), **summary(final)}

    def suno(prompt: str) -> Callable[[], dict[str, Any]]:
        def call() -> dict[str, Any]:
            handle = sdk.suno.generate(
                lyric="[Verse]\nPipelines hum at night", style="lo-fi", title=prompt, custom=True, model="chirp-v4-5"
            )
            final = handle.wait(**POLL)
            return {"handle_done": handle.done, "handle_urls": len(handle.urls()), **summary(final)}

        return call

    def flux() -> dict[str, Any]:
        handle = sdk.flux.generate(size="1024x1024", action="generate", prompt="a red fox in snow", model="flux-dev")
        final = handle.wait(**POLL)
        return {"handle_done": handle.done, **summary(final)}

    def veo() -> dict[str, Any]:
        submitted = sdk.veo.generate(action="text2video", prompt="waves at night", model="veo3-fast")
        final = sdk.tasks.wait(submitted["task_id"], service="veo", **POLL)
        return {"answer_keys": sorted(submitted), **summary(final)}

    def audio_blocking() -> dict[str, Any]:
        answer = sdk.audio.generate(prompt="a short jingle about data", provider="suno", model="chirp-v4-5")
        return {"answer": type(answer).__name__, **summary(answer)}

    def images_blocking() -> dict[str, Any]:
        answer = sdk.images.generate(prompt="a blue whale", provider="flux", action="generate", model="flux-dev")
        return {"answer": type(answer).__name__, **summary(answer)}

    def images_midjourney() -> dict[str, Any]:
        return summary(sdk.images.generate(prompt="a lighthouse", provider="midjourney"))

    def video_veo() -> dict[str, Any]:
        return summary(sdk.video.generate(prompt="waves", provider="veo", model="veo3-fast", async_=True, wait=True))

    def chat() -> dict[str, Any]:
        answer = sdk.openai.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        assert isinstance(answer, dict)
        return {"id_prefix": str(answer["id"]).split("-")[0], "object": answer["object"]}

    def with_key(token: str, path: str, body: dict[str, Any]) -> Callable[[], dict[str, Any]]:
        return lambda: summary(client(url, token, recorder)._transport.request("POST", path, json=body))

    def retried() -> dict[str, Any]:
        # The caller drops the answer of this submit after applying it; the SDK retries the POST.
        handle = client(url, keys["global"], recorder, retries=1).flux.generate(
            size="1024x1024", action="generate", prompt="a lost answer"
        )
        return {"task_id": bool(handle.id)}

    run("midjourney: transport submit, tasks.get, tasks.wait", midjourney)
    run("suno: suno.generate, handle.wait", suno("Night Shift"))
    run("flux: flux.generate, handle.wait", flux)
    run("veo: veo.generate, tasks.wait", veo)
    run("suno: audio.generate without async", audio_blocking)
    run("flux: images.generate without async", images_blocking)
    run("midjourney: images.generate(provider=midjourney)", images_midjourney)
    run("veo: video.generate(provider=veo)", video_veo)
    run("openai: chat.completions.create", chat)
    run("suno: a task that fails", suno("Refused"))
    run("flux: a lost submit answer, max_retries=1", retried)
    run("error: platform token", with_key(keys["platform"], "/suno/audios", {"prompt": "x", "async": True}))
    run("error: suno key on midjourney", with_key(keys["suno"], "/midjourney/imagine", {"prompt": "x"}))
    run("error: no Credits", with_key(keys["broke"], "/suno/audios", {"prompt": "x", "async": True}))
    return results


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], json.loads(sys.argv[2]))))
