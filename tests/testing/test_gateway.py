"""The offline gateway over real sockets: keys, Credits, call records, tasks on a scripted clock, artifacts, faults."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from airflow_provider_acedata.testing import FakeAceDataPlatform, GatewayStats

RECORD_FIELDS = {
    "id",
    "api_id",
    "application_id",
    "credential_id",
    "trace_id",
    "user_id",
    "created_at",
    "request",
    "response",
    "started_at",
    "finished_at",
}
SUBMITS = {
    "/midjourney/imagine": {"prompt": "a lighthouse at dawn", "async": True},
    "/suno/audios": {"lyric": "[Verse]\nla la", "style": "folk", "title": "Dawn", "custom": True, "async": True},
    "/flux/images": {"action": "generate", "prompt": "a red fox", "size": "1024x1024", "async": True},
    "/veo/videos": {"action": "text2video", "prompt": "waves at night", "async": True},
}
SERVICE = {"/midjourney/imagine": "midjourney", "/suno/audios": "suno", "/flux/images": "flux", "/veo/videos": "veo"}


@pytest.fixture
def fake() -> Iterator[FakeAceDataPlatform]:
    with FakeAceDataPlatform() as platform:
        platform.freeze_time()
        yield platform


class Gateway:
    """POSTs to the fake's gateway with one API key."""

    def __init__(self, platform: FakeAceDataPlatform, key: str | None) -> None:
        self.platform = platform
        self.session = requests.Session()
        if key is not None:
            self.session.headers["Authorization"] = f"Bearer {key}"

    def __call__(self, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 10)
        return self.session.post(self.platform.gateway_url + path, json=body, **kwargs)

    def read(self, service: str, task_id: str) -> dict[str, Any]:
        response = self(f"/{service}/tasks", {"action": "retrieve", "id": task_id})
        assert response.status_code == 200, response.text
        return dict(response.json())


def key_for(platform: FakeAceDataPlatform, service: str | None, credits: float = 100, **kwargs: Any) -> Gateway:
    return Gateway(platform, platform.issue_api_key(service, credits=credits, **kwargs)["token"])


def app_of(platform: FakeAceDataPlatform, application_id: str) -> dict[str, Any]:
    return next(a for a in platform.applications() if a["id"] == application_id)


# -- where keys work ------------------------------------------------------------------------------------


def test_own_listeners_and_urls(fake: FakeAceDataPlatform) -> None:
    urls = {fake.url, fake.gateway_url, fake.artifacts_url}
    assert len(urls) == 3
    assert all(url.startswith("http://127.0.0.1:") for url in urls)
    assert requests.get(fake.gateway_url + "/api/v1/services/", timeout=5).status_code == 404


@pytest.mark.parametrize(
    ("authorization", "status", "code"),
    [
        (None, 400, "no_token"),
        ("Bearer ", 400, "no_token"),
        ("Basic abc", 400, "no_token"),
        ("Bearer nope", 401, "invalid_token"),
    ],
)
def test_missing_and_unknown_keys(fake: FakeAceDataPlatform, authorization: str | None, status: int, code: str) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = requests.post(fake.gateway_url + "/suno/audios", json={}, headers=headers, timeout=5)

    assert response.status_code == status
    body = response.json()
    assert body["error"]["code"] == code
    assert set(body) == {"error", "trace_id"} and body["trace_id"]


def test_platform_tokens_do_not_authenticate_on_the_gateway_nor_keys_on_the_platform(fake: FakeAceDataPlatform) -> None:
    gateway = Gateway(fake, fake.token)
    key = fake.issue_api_key("suno", credits=5)["token"]

    assert gateway("/suno/audios", SUBMITS["/suno/audios"]).json()["error"]["code"] == "invalid_token"
    platform = requests.get(
        fake.api_url + "/platform-tokens/me/", headers={"Authorization": f"Bearer {key}"}, timeout=5
    )
    assert platform.status_code == 401
    assert fake.admin_token != fake.token
    assert Gateway(fake, fake.admin_token)("/suno/audios", {}).status_code == 401


def test_a_key_works_only_on_its_own_service_unless_global(fake: FakeAceDataPlatform) -> None:
    suno = key_for(fake, "suno")
    everywhere = key_for(fake, None)

    mismatched = suno("/midjourney/imagine", SUBMITS["/midjourney/imagine"])
    assert mismatched.status_code == 401
    assert mismatched.json()["error"]["code"] == "token_mismatched"
    assert suno("/midjourney/tasks", {"action": "retrieve", "id": "x"}).json()["error"]["code"] == "token_mismatched"
    for path, body in SUBMITS.items():
        assert everywhere(path, body).status_code == 200, path
    chat = everywhere("/v1/chat/completions", {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
    assert chat.status_code == 200


def test_rotated_deleted_expired_disabled_and_restricted_keys(fake: FakeAceDataPlatform) -> None:
    headers = {"Authorization": f"Bearer {fake.token}"}
    credential = fake.issue_api_key("flux", credits=10)
    old = Gateway(fake, credential["token"])
    body = SUBMITS["/flux/images"]
    rotated = requests.post(f"{fake.api_url}/credentials/{credential['id']}/rotate/", headers=headers, timeout=5).json()

    assert old("/flux/images", body).json()["error"]["code"] == "invalid_token"
    new = Gateway(fake, rotated["token"])
    assert new("/flux/images", body).status_code == 200

    expired = fake.clock.now() - timedelta(seconds=1)
    patch = {"expired_at": expired.isoformat()}
    requests.patch(f"{fake.api_url}/credentials/{credential['id']}", json=patch, headers=headers, timeout=5)
    assert new("/flux/images", body).json()["error"]["code"] == "token_expired"

    other = fake.issue_api_key("flux")
    fake.set_disabled(other["application_id"])
    disabled = Gateway(fake, other["token"])("/flux/images", body)
    assert (disabled.status_code, disabled.json()["error"]["code"]) == (403, "disabled")

    flux_apis = requests.get(f"{fake.api_url}/services/flux/apis/", timeout=5).json()["items"]
    tasks_api = next(a["id"] for a in flux_apis if a["path"] == "/flux/tasks")
    restricted = key_for(fake, "midjourney", allowed_api_ids=[tasks_api])
    assert restricted("/midjourney/imagine", SUBMITS["/midjourney/imagine"]).json()["error"]["code"] == (
        "token_mismatched"
    )

    requests.delete(f"{fake.api_url}/credentials/{credential['id']}", headers=headers, timeout=5)
    assert new("/flux/images", body).json()["error"]["code"] == "invalid_token"


def test_unknown_routes_and_methods_are_no_api(fake: FakeAceDataPlatform) -> None:
    gateway = key_for(fake, None)
    assert gateway("/suno/lyrics", {}).json()["error"]["code"] == "no_api"
    got = gateway.session.get(fake.gateway_url + "/suno/audios", timeout=5)
    assert (got.status_code, got.json()["error"]["code"]) == (404, "no_api")


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/flux/images", {"prompt": "x"}, "action is required."),
        ("/flux/images", {"action": "generate"}, "prompt is required."),
        ("/flux/images", {"action": "edit", "prompt": "x"}, "image_url is required."),
        ("/veo/videos", {"prompt": "x"}, "action is required."),
        ("/veo/videos", {"action": "text2video", "prompt": "x", "model": "veo9"}, "model is invalid."),
        ("/midjourney/imagine", {"mode": "fast"}, "prompt is required."),
        ("/suno/audios", {"model": "chirp-v9"}, "model is invalid."),
        ("/openai/chat/completions", {"model": "gpt-4o"}, "messages is required."),
        ("/suno/audios", [1, 2], "The JSON payload is invalid."),
    ],
)
def test_bad_bodies_are_400_bad_request_and_cost_nothing(
    fake: FakeAceDataPlatform, path: str, body: Any, message: str
) -> None:
    gateway = key_for(fake, None, credits=10)

    response = gateway(path, body)

    assert response.status_code == 400
    assert response.json()["error"] == {"code": "bad_request", "message": message}
    assert fake.tasks() == []
    [app] = fake.applications()
    assert app["remaining_amount"] == 10
    if isinstance(body, dict):
        [record] = fake.call_records()
        assert (record["status_code"], record["used_amount"]) == (400, 0.0)


# -- Credits and call records ---------------------------------------------------------------------------


def test_a_submit_spends_credits_and_writes_the_call_record_the_platform_lists(fake: FakeAceDataPlatform) -> None:
    credential = fake.issue_api_key("midjourney", credits=10, name="airflow")
    gateway = Gateway(fake, credential["token"])

    answer = gateway("/midjourney/imagine", SUBMITS["/midjourney/imagine"]).json()

    assert app_of(fake, credential["application_id"])["remaining_amount"] == 9
    assert next(c for c in fake.credentials() if c["id"] == credential["id"])["used_amount"] == 1
    headers = {"Authorization": f"Bearer {fake.token}"}
    params = {"user_id": "me", "credential_id": credential["id"]}
    listed = requests.get(f"{fake.api_url}/usage/apis/", params=params, headers=headers, timeout=5).json()
    assert listed["count"] == 1
    [record] = listed["items"]
    assert record["trace_id"] == answer["trace_id"]
    assert record["application_id"] == credential["application_id"]
    assert record["credential"] == {"id": credential["id"], "name": "airflow"}
    assert record["api"]["path"] == "/midjourney/imagine"
    assert record["api_id"] == fake.task(answer["task_id"])["api_id"]
    assert record["service"]["alias"] == "midjourney"
    assert (record["status_code"], record["used_amount"], record["deducted_amount"]) == (200, 1.0, 1.0)
    assert (record["original_amount"], record["remaining_amount"]) == (1.0, 9.0)
    created = datetime.fromisoformat(record["created_at"].replace("Z", "+00:00"))
    assert abs(created - fake.clock.now()) < timedelta(milliseconds=1)  # stamps stay in creation order


def test_used_up_then_the_global_balance_when_allowed(fake: FakeAceDataPlatform) -> None:
    credential = fake.issue_api_key("veo", credits=1)
    gateway = Gateway(fake, credential["token"])
    body = SUBMITS["/veo/videos"]

    refused = gateway("/veo/videos", body)
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "used_up")
    assert [r["status_code"] for r in fake.call_records()] == [403]

    global_key = fake.issue_api_key(None, credits=5)
    assert gateway("/veo/videos", body).status_code == 200
    assert app_of(fake, global_key["application_id"])["remaining_amount"] == 3
    assert app_of(fake, credential["application_id"])["remaining_amount"] == 1
    assert fake.call_records()[-1]["metadata"] == {"billed_application_id": global_key["application_id"]}

    headers = {"Authorization": f"Bearer {fake.token}"}
    path = f"{fake.api_url}/applications/{credential['application_id']}/update-allow-consume-global/"
    requests.post(path, json={"allow_consume_global": False}, headers=headers, timeout=5)
    assert gateway("/veo/videos", body).json()["error"]["code"] == "used_up"


def test_a_keys_limited_amount_caps_its_spend(fake: FakeAceDataPlatform) -> None:
    gateway = key_for(fake, "suno", credits=100, limited_amount=2)
    body = SUBMITS["/suno/audios"]

    assert [gateway("/suno/audios", body).status_code for _ in range(3)] == [200, 200, 403]


def test_task_reads_are_free_and_unrecorded(fake: FakeAceDataPlatform) -> None:
    credential = fake.issue_api_key("flux", credits=3)
    gateway = Gateway(fake, credential["token"])
    task_id = gateway("/flux/images", SUBMITS["/flux/images"]).json()["task_id"]

    for _ in range(5):
        gateway.read("flux", task_id)
    gateway("/flux/tasks", {"action": "retrieve_batch", "ids": [task_id]})

    assert app_of(fake, credential["application_id"])["remaining_amount"] == 2.5
    assert len(fake.call_records()) == 1


def test_a_failed_task_is_refunded_when_it_fails(fake: FakeAceDataPlatform) -> None:
    credential = fake.issue_api_key("suno", credits=5)
    gateway = Gateway(fake, credential["token"])
    rule = fake.fail_tasks("/suno/audios", code="suno_processing_unavailable", message="busy upstream")

    task_id = gateway("/suno/audios", SUBMITS["/suno/audios"]).json()["task_id"]
    assert app_of(fake, credential["application_id"])["remaining_amount"] == 4
    fake.advance(3)
    task = gateway.read("suno", task_id)

    assert task["response"] == {
        "success": False,
        "task_id": task_id,
        "trace_id": task["trace_id"],
        "error": {"code": "suno_processing_unavailable", "message": "busy upstream"},
    }
    assert task["finished_at"] is not None
    assert app_of(fake, credential["application_id"])["remaining_amount"] == 5
    [record] = fake.call_records()
    assert (record["used_amount"], record["deducted_amount"], record["original_amount"]) == (0.0, 0.0, 1.0)
    assert record["metadata"]["refunded"] == 1.0
    assert rule.hits == 1 and rule.spent
    assert gateway.read("suno", gateway("/suno/audios", SUBMITS["/suno/audios"]).json()["task_id"])["response"] is None


def test_a_failure_is_refunded_even_when_nobody_reads_the_task(fake: FakeAceDataPlatform) -> None:
    credential = fake.issue_api_key("flux", credits=1)
    fake.fail_tasks(code="forbidden")
    Gateway(fake, credential["token"])("/flux/images", SUBMITS["/flux/images"])
    assert app_of(fake, credential["application_id"])["remaining_amount"] == 0.5

    fake.advance(1)

    assert app_of(fake, credential["application_id"])["remaining_amount"] == 1


# -- tasks ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", list(SUBMITS))
def test_async_submits_answer_at_once_then_finish_on_the_clock(fake: FakeAceDataPlatform, path: str) -> None:
    service = SERVICE[path]
    gateway = key_for(fake, service)
    fake.configure_route(path, duration=30)

    accepted = gateway(path, SUBMITS[path]).json()
    running = gateway.read(service, accepted["task_id"])
    fake.advance(29.9)
    still = gateway.read(service, accepted["task_id"])
    fake.advance(0.1)
    done = gateway.read(service, accepted["task_id"])

    expected = {"task_id", "trace_id"} if path == "/flux/images" else {"success", "task_id", "trace_id"}
    assert set(accepted) == expected
    assert set(running) >= RECORD_FIELDS
    assert running["request"] == SUBMITS[path]
    assert (running["response"], running["finished_at"]) == (None, None)
    assert running["started_at"] == running["created_at"]
    assert isinstance(running["created_at"], float)
    assert still["response"] is None
    assert done["finished_at"] == pytest.approx(done["created_at"] + 30, abs=0.01)
    assert done["response"]["success"] is True
    assert done["response"]["task_id"] == accepted["task_id"]


def test_response_shapes_per_service(fake: FakeAceDataPlatform) -> None:
    gateway = key_for(fake, None)
    ids = {path: gateway(path, body).json()["task_id"] for path, body in SUBMITS.items()}
    fake.advance(10)
    done = {path: gateway.read(SERVICE[path], task_id) for path, task_id in ids.items()}

    midjourney = done["/midjourney/imagine"]
    assert midjourney["type"] == "imagine"
    assert set(midjourney["response"]) == {
        "image_url", "image_width", "image_height", "image_id", "raw_image_url", "raw_image_width",
        "raw_image_height", "progress", "actions", "task_id", "success",
    }  # fmt: skip
    assert len(midjourney["response"]["image_id"]) == 19
    songs = done["/suno/audios"]["response"]["data"]
    assert len(songs) == 2
    assert {song["state"] for song in songs} == {"succeeded"}
    assert all(song["audio_url"].endswith(".mp3") and song["video_url"] == "" for song in songs)
    assert songs[0]["title"] == "Dawn" and songs[0]["style"] == "folk"
    [image] = done["/flux/images"]["response"]["data"]
    assert image["prompt"] == "a red fox" and image["image_url"].endswith(".png")
    [video] = done["/veo/videos"]["response"]["data"]
    assert set(video) == {"id", "video_url", "created_at", "complete_at", "state"}
    assert video["state"] == "succeeded" and video["video_url"].endswith(".mp4")
    for record in done.values():
        assert all(url.startswith(fake.artifacts_url) for url in _urls(record["response"]))


def _urls(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [u for key, value in node.items() for u in ([value] if key.endswith("url") and value else _urls(value))]
    if isinstance(node, list):
        return [u for item in node for u in _urls(item)]
    return []


def test_queued_tasks_start_later(fake: FakeAceDataPlatform) -> None:
    gateway = key_for(fake, "veo")
    fake.configure_route("/veo/videos", duration=10, queued=4)
    task_id = gateway("/veo/videos", SUBMITS["/veo/videos"]).json()["task_id"]

    assert gateway.read("veo", task_id)["started_at"] is None
    fake.advance(4)
    started = gateway.read("veo", task_id)
    assert started["started_at"] == pytest.approx(started["created_at"] + 4, abs=0.01)


def test_durations_may_depend_on_the_submit_index(fake: FakeAceDataPlatform) -> None:
    gateway = key_for(fake, "flux")
    fake.configure_route("/flux/images", duration=lambda n: 10.0 * (n + 1))
    ids = [gateway("/flux/images", SUBMITS["/flux/images"]).json()["task_id"] for _ in range(3)]

    fake.advance(20)

    assert [gateway.read("flux", task_id)["finished_at"] is not None for task_id in ids] == [True, True, False]


def test_blocking_submits_wait_for_their_task(fake: FakeAceDataPlatform) -> None:
    gateway = key_for(fake, None)
    blocking = {path: {k: v for k, v in body.items() if k != "async"} for path, body in SUBMITS.items()}
    with ThreadPoolExecutor(4) as pool:
        futures = {path: pool.submit(gateway, path, body) for path, body in blocking.items()}
        veo = futures.pop("/veo/videos").result(timeout=5)
        time.sleep(0.3)
        assert not any(future.done() for future in futures.values())
        fake.advance(5)
        answers = {path: future.result(timeout=5).json() for path, future in futures.items()}

    assert set(veo.json()) == {"success", "task_id", "trace_id"}
    assert answers["/midjourney/imagine"]["image_url"].startswith(fake.artifacts_url)
    assert len(answers["/suno/audios"]["data"]) == 2
    assert answers["/flux/images"]["data"][0]["image_url"].startswith(fake.artifacts_url)
    assert {record["status_code"] for record in fake.call_records()} == {200}


def test_a_blocking_submit_is_bounded_and_its_task_carries_on(fake: FakeAceDataPlatform) -> None:
    gateway = key_for(fake, "suno")
    fake.configure_gateway(sync_timeout=0.3)
    body = {"prompt": "slow", "model": "chirp-v4"}

    started = time.monotonic()
    answer = gateway("/suno/audios", body)

    assert time.monotonic() - started < 3
    assert (answer.status_code, answer.json()["error"]["code"]) == (504, "timeout")
    [task] = fake.tasks("/suno/audios")
    assert task["response"] is None
    assert fake.call_records()[0]["status_code"] == 504
    fake.advance(3)
    assert fake.task(task["id"])["response"]["success"] is True


def test_a_failing_blocking_submit_answers_the_error(fake: FakeAceDataPlatform) -> None:
    gateway = key_for(fake, "midjourney")
    fake.fail_tasks("/midjourney/", code="forbidden")
    fake.configure_route("/midjourney/imagine", duration=0)

    answer = gateway("/midjourney/imagine", {"prompt": "something banned"})

    assert answer.status_code == 403
    assert answer.json()["success"] is False
    assert answer.json()["error"]["code"] == "forbidden"


def test_fail_task_ends_a_running_task_now(fake: FakeAceDataPlatform) -> None:
    credential = fake.issue_api_key("veo", credits=2)
    gateway = Gateway(fake, credential["token"])
    task_id = gateway("/veo/videos", SUBMITS["/veo/videos"]).json()["task_id"]

    fake.fail_task(task_id, "api_error", "upstream exploded")

    response = gateway.read("veo", task_id)["response"]
    assert response["error"] == {"code": "api_error", "message": "upstream exploded"}
    assert app_of(fake, credential["application_id"])["remaining_amount"] == 2
    with pytest.raises(ValueError, match="already finished"):
        fake.fail_task(task_id)


def test_retrieve_batch(fake: FakeAceDataPlatform) -> None:
    gateway = key_for(fake, "flux")
    ids = [gateway("/flux/images", SUBMITS["/flux/images"]).json()["task_id"] for _ in range(3)]
    theirs = key_for(fake, "flux", user_id=fake.create_user("eve")[0]["id"])
    their_id = theirs("/flux/images", SUBMITS["/flux/images"]).json()["task_id"]
    fake.advance(1)

    answer = gateway("/flux/tasks", {"action": "retrieve_batch", "ids": [ids[2], "nope", their_id, ids[0], ids[2]]})

    assert answer.status_code == 200
    body = answer.json()
    assert body["count"] == 2
    assert [item["id"] for item in body["items"]] == [ids[2], ids[0]]
    assert all(item["response"]["success"] for item in body["items"])
    assert gateway("/flux/tasks", {"action": "retrieve_batch", "ids": []}).json() == {"items": [], "count": 0}
    too_many = gateway("/flux/tasks", {"action": "retrieve_batch", "ids": ids * 34})
    assert (too_many.status_code, too_many.json()["error"]["code"]) == (400, "bad_request")
    suno_route = key_for(fake, None)("/suno/tasks", {"action": "retrieve_batch", "ids": ids})
    assert suno_route.json()["count"] == 0


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"action": "retrieve", "id": "00000000-0000-4000-8000-000000000000"}, 404, "not_found"),
        ({"action": "retrieve", "task_id": "x"}, 400, "bad_request"),
        ({"action": "retrieve_batch", "ids": "x"}, 400, "bad_request"),
        ({"action": "cancel", "id": "x"}, 400, "bad_request"),
        ({}, 400, "bad_request"),
    ],
)
def test_bad_task_reads(fake: FakeAceDataPlatform, body: dict[str, Any], status: int, code: str) -> None:
    answer = key_for(fake, "veo")("/veo/tasks", body)

    assert (answer.status_code, answer.json()["error"]["code"]) == (status, code)


def test_chat_completions_answer_at_once_without_a_task(fake: FakeAceDataPlatform) -> None:
    credential = fake.issue_api_key("openai", credits=1)
    gateway = Gateway(fake, credential["token"])
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "What is Airflow?"}]}

    for path in ("/openai/chat/completions", "/v1/chat/completions"):
        answer = gateway(path, body).json()
        assert answer["id"].startswith("chatcmpl-")
        assert answer["object"] == "chat.completion"
        assert answer["choices"][0]["message"] == {
            "role": "assistant",
            "content": "Offline answer to: What is Airflow?",
        }
        assert answer["usage"]["total_tokens"] > 0
        assert "task_id" not in answer
    assert fake.tasks() == []
    assert [r["api"]["path"] for r in fake.call_records()] == ["/openai/chat/completions", "/v1/chat/completions"]
    assert app_of(fake, credential["application_id"])["remaining_amount"] == pytest.approx(0.98)
    streamed = gateway("/openai/chat/completions", dict(body, stream=True))
    assert streamed.json()["error"]["message"] == "stream is not supported by the offline gateway."


# -- artifacts --------------------------------------------------------------------------------------------


def test_artifacts_are_served_by_the_fake_without_a_key(fake: FakeAceDataPlatform) -> None:
    gateway = key_for(fake, "suno")
    fake.configure_route("/suno/audios", artifact_size=300_000)
    task_id = gateway("/suno/audios", SUBMITS["/suno/audios"]).json()["task_id"]
    fake.advance(3)
    songs = gateway.read("suno", task_id)["response"]["data"]
    urls = [song[field] for song in songs for field in ("audio_url", "image_url")]

    assert len(urls) == 4
    for url in urls:
        with requests.get(url, stream=True, timeout=5) as response:
            assert response.status_code == 200
            assert int(response.headers["Content-Length"]) == 300_000
            chunks = list(response.iter_content(64 * 1024))
        assert len(chunks) > 1
        assert b"".join(chunks) == fake.artifact_bytes(url)
    assert fake.artifact_bytes(urls[0]).startswith(b"ID3")
    assert fake.artifact_bytes(urls[1]).startswith(b"\xff\xd8")
    assert {r.token for r in fake.calls(plane="artifacts")} == {None}
    assert requests.head(urls[0], timeout=5).headers["Content-Type"] == "audio/mpeg"
    assert requests.get(fake.artifacts_url + "/suno/nope/0.mp3", timeout=5).status_code == 404


def test_artifacts_exist_only_once_the_task_finished(fake: FakeAceDataPlatform) -> None:
    gateway = key_for(fake, "veo")
    task_id = gateway("/veo/videos", SUBMITS["/veo/videos"]).json()["task_id"]
    url = f"{fake.artifacts_url}/veo/{task_id}/video.mp4"

    assert requests.get(url, timeout=5).status_code == 404
    fake.advance(4)
    assert requests.get(url, timeout=5).content == fake.artifact_bytes(url)


# -- faults and rates -------------------------------------------------------------------------------------


def test_a_lost_submit_answer_leaves_a_charged_task(fake: FakeAceDataPlatform) -> None:
    credential = fake.issue_api_key("flux", credits=2)
    gateway = Gateway(fake, credential["token"])
    fake.fail(plane="gateway", method="POST", path=r"^/flux/images$", drop=True, after_apply=True)

    with pytest.raises(requests.ConnectionError):
        gateway("/flux/images", SUBMITS["/flux/images"])

    assert len(fake.tasks("/flux/images")) == 1
    assert app_of(fake, credential["application_id"])["remaining_amount"] == 1.5
    assert fake.gateway_stats().submits == {"/flux/images": 1}
    [record] = fake.calls(plane="gateway")
    assert record.status == 0


def test_task_reads_over_the_rate_get_429_with_retry_after(fake: FakeAceDataPlatform) -> None:
    gateway = key_for(fake, "flux")
    other = key_for(fake, "flux")
    task_id = gateway("/flux/images", SUBMITS["/flux/images"]).json()["task_id"]
    fake.configure_gateway(read_rate=0.5, read_burst=2)
    body = {"action": "retrieve", "id": task_id}

    statuses = [gateway("/flux/tasks", body).status_code for _ in range(3)]
    limited = gateway("/flux/tasks", body)

    assert statuses == [200, 200, 429]
    assert limited.headers["Retry-After"] == "2"
    assert limited.json()["error"]["code"] == "too_many_requests"
    assert other("/flux/tasks", body).status_code == 200
    assert gateway("/flux/images", SUBMITS["/flux/images"]).status_code == 200
    fake.advance(2)
    assert gateway("/flux/tasks", body).status_code == 200
    assert fake.gateway_stats().rate_limited == 2


def test_slow_reads_and_injected_errors_speak_the_gateway_dialect(fake: FakeAceDataPlatform) -> None:
    gateway = key_for(fake, "veo")
    task_id = gateway("/veo/videos", SUBMITS["/veo/videos"]).json()["task_id"]
    fake.fail(plane="gateway", path=r"/tasks$", status=None, delay=0.3)
    fake.fail(plane="gateway", path=r"/tasks$", status=503)
    fake.fail(plane="gateway", path=r"/tasks$", status=429, retry_after=3)

    started = time.monotonic()
    slow = gateway("/veo/tasks", {"action": "retrieve", "id": task_id})
    assert time.monotonic() - started >= 0.3
    assert slow.status_code == 200
    broken = gateway("/veo/tasks", {"action": "retrieve", "id": task_id})
    assert (broken.status_code, broken.json()["error"]["code"]) == (503, "api_error")
    throttled = gateway("/veo/tasks", {"action": "retrieve", "id": task_id})
    assert throttled.json()["error"]["code"] == "too_many_requests"
    assert throttled.headers["Retry-After"] == "3"
    assert fake.gateway_stats().rate_limited == 1


def test_counters_and_the_request_log(fake: FakeAceDataPlatform) -> None:
    key = fake.issue_api_key(None, credits=50)["token"]
    gateway = Gateway(fake, key)
    ids = [gateway("/veo/videos", SUBMITS["/veo/videos"]).json()["task_id"] for _ in range(3)]
    gateway("/flux/images", SUBMITS["/flux/images"])
    gateway("/veo/tasks", {"action": "retrieve", "id": ids[0]})
    gateway("/veo/tasks", {"action": "retrieve_batch", "ids": ids})
    requests.get(fake.api_url + "/services/", timeout=5)

    stats = fake.gateway_stats()
    assert stats == GatewayStats(
        submits={"/veo/videos": 3, "/flux/images": 1},
        retrieves=1,
        batch_retrieves=1,
        ids_read=4,
        rate_limited=0,
        calls_per_key={key: 6},
    )
    assert stats.task_reads == 2
    assert [r.plane for r in fake.requests] == ["gateway"] * 6 + ["platform"]
    assert len(fake.calls("POST", r"/tasks$", plane="gateway")) == 2
    assert fake.calls(plane="platform")[0].path == "/api/v1/services/"
    fake.reset_gateway_stats()
    assert fake.gateway_stats().task_reads == 0


def test_many_concurrent_slow_reads(fake: FakeAceDataPlatform) -> None:
    """Waits that each read on their own: a few hundred connections held at once, all answered."""
    key = fake.issue_api_key("veo", credits=1000)["token"]
    task_ids = [Gateway(fake, key)("/veo/videos", SUBMITS["/veo/videos"]).json()["task_id"] for _ in range(20)]
    fake.fail(plane="gateway", path=r"/tasks$", status=None, delay=0.5, times=None)
    barrier = threading.Barrier(300)

    def read(n: int) -> int:
        barrier.wait(timeout=10)
        body = {"action": "retrieve", "id": task_ids[n % 20]}
        headers = {"Authorization": f"Bearer {key}"}
        return requests.post(fake.gateway_url + "/veo/tasks", json=body, headers=headers, timeout=30).status_code

    started = time.monotonic()
    with ThreadPoolExecutor(300) as pool:
        statuses = list(pool.map(read, range(300)))

    assert statuses == [200] * 300
    assert time.monotonic() - started < 20
    assert fake.gateway_stats().retrieves == 300


def test_the_clock_moves_every_stamp(fake: FakeAceDataPlatform) -> None:
    before = fake.clock.now()
    fake.advance(3600)
    credential = fake.issue_api_key("flux", credits=1)

    created = datetime.fromisoformat(credential["created_at"].replace("Z", "+00:00"))
    assert created - before >= timedelta(seconds=3600)
    assert created.tzinfo == UTC
