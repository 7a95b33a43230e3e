"""The official SDK completes tasks against the offline gateway, and the requests it sends are pinned.

``sdk_gateway_requests.json`` records the exact paths and bodies the SDK (acedatacloud 2026.10.20.0) sends
for fixed inputs, so the provider's ``CallApiOperator`` can be checked to send the same. Regenerate it
with ``ACEDATA_UPDATE_SDK_FIXTURE=1`` after an SDK upgrade, and read the diff.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_acedata.testing import FakeAceDataPlatform

ROOT = Path(__file__).resolve().parents[2]
OFFICIAL_PYTHON = ROOT / ".venv-official" / "bin" / "python"
DRIVER = ROOT / ".ci" / "official_gateway.py"
FIXTURE = Path(__file__).with_name("sdk_gateway_requests.json")
SDK = "acedatacloud==2026.10.20.0"
COMPLETED = {
    "midjourney: transport submit, tasks.get, tasks.wait": 2,
    "suno: suno.generate, handle.wait": 4,
    "flux: flux.generate, handle.wait": 1,
    "veo: veo.generate, tasks.wait": 1,
    "suno: audio.generate without async": 4,
    "flux: images.generate without async": 1,
}
"""Scenarios the SDK completes, with the number of artifact URLs its ``artifact_urls`` finds."""


@pytest.fixture(scope="module")
def run() -> dict[str, Any]:
    assert OFFICIAL_PYTHON.exists(), "run `make test` (or `make .venv-official/.installed`) first"
    with FakeAceDataPlatform() as platform:
        for path in ("/midjourney/imagine", "/suno/audios", "/flux/images", "/veo/videos"):
            platform.configure_route(path, duration=0.6)
        broke, _ = platform.create_user("broke")
        keys = {
            "global": platform.issue_api_key(None, credits=100)["token"],
            "suno": platform.issue_api_key("suno", credits=10)["token"],
            "broke": platform.issue_api_key("suno", credits=0, user_id=broke["id"])["token"],
            "platform": platform.token,
        }
        # The driver's order: two Suno submits before the failing one, two Flux submits before the lost answer.
        refused = platform.fail_tasks("/suno/audios$", code="forbidden", message="Refused by moderation.", skip=2)
        lost = platform.fail(plane="gateway", path=r"^/flux/images$", drop=True, after_apply=True, skip=2)
        done = subprocess.run(
            [str(OFFICIAL_PYTHON), str(DRIVER), platform.gateway_url, json.dumps(keys)],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        results: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return {
            "results": results,
            "stats": platform.gateway_stats(),
            "log": [(r.method, r.path, r.body) for r in platform.calls(plane="gateway")],
            "refused": refused.hits,
            "lost": lost.hits,
            "flux_tasks": len(platform.tasks("/flux/images")),
            "errors": platform.errors,
        }


def outcome(run: dict[str, Any], scenario: str) -> dict[str, Any]:
    return dict(run["results"][scenario]["outcome"])


@pytest.mark.parametrize(("scenario", "urls"), COMPLETED.items())
def test_the_sdk_completes_the_task_by_its_own_rules(run: dict[str, Any], scenario: str, urls: int) -> None:
    result = outcome(run, scenario)

    assert result["ok"] is True, result
    assert result["status"] == "succeeded"
    assert result["urls"] == urls


def test_the_sdk_waits_through_its_own_task_reads(run: dict[str, Any]) -> None:
    midjourney = outcome(run, "midjourney: transport submit, tasks.get, tasks.wait")
    assert midjourney["first_read"] == {"status": "", "urls": 0}
    for scenario, route in (
        ("midjourney: transport submit, tasks.get, tasks.wait", "/midjourney/tasks"),
        ("suno: suno.generate, handle.wait", "/suno/tasks"),
        ("flux: flux.generate, handle.wait", "/flux/tasks"),
        ("veo: veo.generate, tasks.wait", "/veo/tasks"),
    ):
        reads = [r for r in run["results"][scenario]["requests"] if r["path"] == route]
        assert reads == [{"method": "POST", "path": route, "body": {"id": "<task_id>", "action": "retrieve"}}]
    assert outcome(run, "suno: suno.generate, handle.wait")["handle_done"] is True
    assert run["stats"].retrieves >= 5 and run["stats"].batch_retrieves == 0
    assert outcome(run, "veo: veo.generate, tasks.wait")["answer_keys"] == ["success", "task_id", "trace_id"]
    assert run["errors"] == []


def test_the_sdk_gets_its_chat_completion(run: dict[str, Any]) -> None:
    chat = outcome(run, "openai: chat.completions.create")
    assert chat == {"ok": True, "id_prefix": "chatcmpl", "object": "chat.completion"}


def test_a_failed_task_is_failed_for_the_sdk(run: dict[str, Any]) -> None:
    result = outcome(run, "suno: a task that fails")

    assert run["refused"] == 1
    assert (result["status"], result["reason"], result["urls"]) == ("failed", "Refused by moderation.", 0)


def test_the_sdk_maps_the_gateways_errors(run: dict[str, Any]) -> None:
    expected = {
        "error: platform token": ("AuthenticationError", "invalid_token", 401),
        "error: suno key on midjourney": ("TokenMismatchError", "token_mismatched", 401),
        "error: no Credits": ("InsufficientBalanceError", "used_up", 403),
    }
    for scenario, (error, code, status) in expected.items():
        result = outcome(run, scenario)
        assert (result["error"], result["code"], result["status"]) == (error, code, status), scenario


def test_where_the_sdk_and_the_docs_disagree(run: dict[str, Any]) -> None:
    """Facts for the provider, pinned: each line is a difference between the SDK and the gateway's docs."""
    # No Midjourney resource: images.generate(provider="midjourney") posts /midjourney/images, not /imagine.
    midjourney = outcome(run, "midjourney: images.generate(provider=midjourney)")
    assert (midjourney["error"], midjourney["code"]) == ("APIError", "no_api")
    assert run["results"]["midjourney: images.generate(provider=midjourney)"]["requests"][0]["path"] == (
        "/midjourney/images"
    )
    # video.generate(provider="veo") sends no ``action``, which the Veo spec requires.
    veo = outcome(run, "veo: video.generate(provider=veo)")
    assert (veo["error"], veo["code"], veo["message"]) == ("ValidationError", "bad_request", "action is required.")
    # The SDK retries a POST whose answer was lost: one call, two paid tasks.
    assert run["lost"] == 1
    retried = run["results"]["flux: a lost submit answer, max_retries=1"]["requests"]
    assert [r["path"] for r in retried] == ["/flux/images", "/flux/images"]
    assert run["flux_tasks"] == 4


def test_the_requests_the_sdk_sends_are_pinned(run: dict[str, Any]) -> None:
    sent = {scenario: result["requests"] for scenario, result in run["results"].items()}
    for entries in sent.values():
        for entry in entries:
            logged = [(m, p, b) for m, p, b in run["log"] if (m, p) == (entry["method"], entry["path"])]
            assert logged, entry
    if os.environ.get("ACEDATA_UPDATE_SDK_FIXTURE"):
        FIXTURE.write_text(json.dumps({"sdk": SDK, "scenarios": sent}, indent=2) + "\n")
    pinned = json.loads(FIXTURE.read_text())
    assert pinned["sdk"] == SDK
    assert sent == pinned["scenarios"]
