"""The rules for the gateway's answers: which routes get async, where a task id is, when a task is done."""

from __future__ import annotations

import pytest

from airflow_provider_acedata.gateway import (
    answer_is_final,
    answer_task_id,
    artifact_urls,
    failure,
    is_task_route,
    submit_body,
    task_status,
)

CHAT = {
    "id": "chatcmpl-8427f743",
    "object": "chat.completion",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
}


@pytest.mark.parametrize(
    "path",
    ["/midjourney/imagine", "/suno/audios", "/flux/images", "/veo/videos", "/sora/videos", "/kling/lip-sync",
     "/openai/images/generations", "/some-new-service/videos"],
)  # fmt: skip
def test_generation_routes_are_task_routes(path: str) -> None:
    assert is_task_route(path)
    assert submit_body(path, {"prompt": "x"}) == {"prompt": "x", "async": True}


@pytest.mark.parametrize(
    "path",
    ["/openai/chat/completions", "/v1/chat/completions", "/v1/messages", "/glm/chat/completions",
     "/claude/v1/messages/count_tokens", "/openai/embeddings", "/openai/responses", "/serp/google", "/suno/lyrics",
     "/suno/voices", "/shorturl", "/midjourney/tasks", "/aichat/conversations"],
)  # fmt: skip
def test_routes_that_answer_at_once_get_no_async(path: str) -> None:
    assert not is_task_route(path)
    assert submit_body(path, {"model": "m"}) == {"model": "m"}


def test_the_body_keeps_its_own_async_and_is_not_changed_in_place() -> None:
    body = {"prompt": "x", "async": False}

    assert submit_body("/midjourney/imagine", body) == {"prompt": "x", "async": False}
    plain = {"prompt": "x"}
    submit_body("/midjourney/imagine", plain)
    assert plain == {"prompt": "x"}


def test_task_ids_at_the_top_or_in_data_but_never_a_completion_id() -> None:
    assert answer_task_id({"success": True, "task_id": "t-1", "trace_id": "r"}) == "t-1"
    assert answer_task_id({"data": {"task_id": "t-2"}}) == "t-2"
    assert answer_task_id(CHAT) is None
    assert answer_task_id({"task_id": "", "data": [{"task_id": "x"}]}) is None
    assert answer_task_id(["t-1"]) is None


@pytest.mark.parametrize(
    ("answer", "final"),
    [
        ({"success": True, "task_id": "t", "trace_id": "r"}, False),  # the acceptance of an async submit
        ({"task_id": "t", "trace_id": "r"}, False),  # Flux's acceptance
        ({"data": {"task_id": "t"}}, False),
        ({"success": True, "task_id": "t", "data": []}, False),
        ({"success": True, "task_id": "t", "image_url": "https://cdn.example/a.png"}, True),  # Midjourney blocking
        ({"success": True, "task_id": "t", "data": {"persona_id": "p"}}, True),  # /suno/voices
        ({"success": False, "task_id": "t", "error": {"code": "forbidden", "message": "no"}}, True),
        ({"success": False, "task_id": "t", "error": "temporary"}, False),
        (CHAT, True),
        ("plain text", True),
    ],
)
def test_what_a_submit_answer_means(answer: object, final: bool) -> None:
    assert answer_is_final(answer) is final


def test_a_running_record_then_a_finished_one() -> None:
    running = {"id": "t", "request": {"image_urls": ["https://cdn.example/in.png"]}, "response": None}
    finished = {
        **running,
        "finished_at": 1.0,
        "response": {"success": True, "data": [{"image_url": "https://c/a.png"}]},
    }

    assert task_status(running) == ""
    assert artifact_urls(running) == []
    assert task_status(finished) == "succeeded"
    assert artifact_urls(finished) == ["https://c/a.png"]


def test_failures_keep_the_gateways_code_and_message() -> None:
    failed = {"finished_at": 1.0, "response": {"success": False, "error": {"code": "forbidden", "message": "no"}}}
    worded = {"response": {"status": "failed", "fail_reason": "upstream timeout"}}

    assert task_status(failed) == "failed"
    assert failure(failed) == ("forbidden", "no")
    assert task_status(worded) == "failed"
    assert failure(worded) == (None, "upstream timeout")
    assert failure({"response": {"success": False}}) == (None, "Task failed.")


def test_the_documented_differences_from_the_sdk() -> None:
    # A success word without a file: the SDK says "failed"; routes whose result is not a file end so.
    assert task_status({"response": {"state": "succeed", "success": True, "voice_id": "f754"}}) == "succeeded"
    # ...unless something says it failed.
    assert task_status({"response": {"status": "succeeded", "success": False}}) == "failed"
    # 'done': the SDK keeps waiting on a status word it does not know.
    assert task_status({"response": {"data": {"status": "done", "video_url": "https://c/v.mp4"}}}) == "succeeded"
    assert task_status({"response": {"status": "processing", "video_url": "https://c/v.mp4"}}) == ""


def test_urls_are_found_as_deep_as_the_sdk_looks_and_no_deeper() -> None:
    deep: dict = {"video_url": "https://c/deep.mp4"}
    for _ in range(6):
        deep = {"data": deep}
    too_deep = {"data": deep}

    assert artifact_urls({"response": deep}) == ["https://c/deep.mp4"]
    assert artifact_urls({"response": too_deep}) == []
    assert artifact_urls({"response": {"url": "ftp://x", "audio_url": "https://a", "again_url": "https://a"}}) == [
        "https://a"
    ]
