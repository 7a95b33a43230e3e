"""What each offline gateway route accepts and answers: Midjourney, Suno, Flux, Veo and chat completions.

Shapes follow the public sources named per route (platform-api.md §9 lists them): the services' OpenAPI
documents in ``AceDataCloud/SDK`` ``scripts/specs`` and ``AceDataCloud/Docs`` ``openapi``, the integration
guides in ``AceDataCloud/MidjourneyAPI`` and ``AceDataCloud/Docs``, and the official SDK's resources. Where a
source only shows some fields, the fake answers those fields and no invented ones; values (ids, sizes,
lyrics) are deterministic placeholders.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Literal

Body = dict[str, Any]


@dataclass(frozen=True)
class Submission:
    """One submitted task as the answer builders see it; ``urls`` are its artifacts' absolute URLs."""

    task_id: str
    trace_id: str
    body: Body
    created_at: float
    finished_at: float
    urls: tuple[str, ...]


@dataclass(frozen=True)
class Artifact:
    """A file a finished task points at: its name under the task's folder and its media type."""

    name: str
    content_type: str


@dataclass(frozen=True)
class GatewayRoute:
    """A route of the offline gateway.

    ``kind``: ``task`` (creates a task), ``instant`` (answers at once, no task) or ``read`` (the service's
    task reads). ``blocking``: without ``"async": true`` the route waits for its task and answers the result.
    """

    path: str
    service: str
    kind: Literal["task", "instant", "read"]
    validate: Callable[[Body], str | None] = field(default=lambda body: None)
    blocking: bool = False
    accepted: Callable[[Submission], Body] | None = None
    finished: Callable[[Submission], Body] | None = None
    artifacts: Callable[[Body], list[Artifact]] = field(default=lambda body: [])
    record_fields: Callable[[Submission], Body] = field(default=lambda submission: {})
    answer: Callable[[Body, str, float], Body] | None = None
    duration: float = 1.0
    cost: float = 1.0
    artifact_size: int = 32 * 1024


def digits(seed: str, count: int) -> str:
    """``count`` decimal digits derived from ``seed`` (Midjourney image ids are 19 digits)."""
    number = int.from_bytes(hashlib.sha256(seed.encode()).digest(), "big")
    return str(number)[:count]


def _enum(body: Body, name: str, allowed: tuple[str, ...], *, required: bool = False) -> str | None:
    """The gateway's ``bad_request`` message when a field is missing or not one of ``allowed``."""
    value = body.get(name)
    if value is None:
        return f"{name} is required." if required else None
    if value not in allowed:
        return f"{name} is invalid."
    return None


def _text(body: Body, name: str) -> str | None:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        return f"{name} is required."
    return None


def _failed_first(*checks: str | None) -> str | None:
    return next((check for check in checks if check), None)


def _stamp(epoch: float, pattern: str = "%Y-%m-%d %H:%M:%S") -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime(pattern)


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _accepted(submission: Submission) -> Body:
    """``{"success": true, "task_id", "trace_id"}``: Docs ``concepts/async-tasks.mdx`` (task creation)."""
    return {"success": True, "task_id": submission.task_id, "trace_id": submission.trace_id}


# Midjourney: AceDataCloud/MidjourneyAPI docs/midjourney_imagine_api_integration_guide.md (request fields,
# the answer) and docs/midjourney_tasks_api_integration_guide.md (the task record: type, duration).
MIDJOURNEY_MODES: Final = ("fast", "relax", "turbo")
MIDJOURNEY_ACTIONS: Final = (
    "generate", "upscale1", "upscale2", "upscale3", "upscale4", "reroll", "variation1", "variation2",
    "variation3", "variation4", "upscale_2x", "upscale_4x", "variation_subtle", "variation_strong",
    "zoom_out_2x", "zoom_out_1_5x", "pan_left", "pan_right", "pan_up", "pan_down",
)  # fmt: skip
MIDJOURNEY_GRID_ACTIONS: Final = (
    "upscale1", "upscale2", "upscale3", "upscale4", "reroll", "variation1", "variation2", "variation3", "variation4",
)  # fmt: skip


def _midjourney_validate(body: Body) -> str | None:
    action = body.get("action", "generate")
    check = _enum(body, "mode", MIDJOURNEY_MODES) or _enum(body, "action", MIDJOURNEY_ACTIONS)
    if check:
        return check
    if action == "generate":
        return _text(body, "prompt")
    return None if body.get("image_id") else "image_id is required."


def _midjourney_finished(submission: Submission) -> Body:
    grid, raw = submission.urls
    return {
        "image_url": grid,
        "image_width": 1024,
        "image_height": 1024,
        "image_id": digits(submission.task_id, 19),
        "raw_image_url": raw,
        "raw_image_width": 2048,
        "raw_image_height": 2048,
        "progress": 100,
        "actions": list(MIDJOURNEY_GRID_ACTIONS),
        "task_id": submission.task_id,
        "success": True,
    }


# Suno: AceDataCloud/SDK scripts/specs (/suno/audios: request properties, the 200 example:
# {success, task_id, trace_id, data: [two songs]}); the SDK's providers/suno.py sends the same fields.
SUNO_MODELS: Final = ("chirp-v5-5", "chirp-v5", "chirp-v4-5-plus", "chirp-v4-5", "chirp-v4", "chirp-v3-5", "chirp-v3-0")
SUNO_ACTIONS: Final = (
    "generate", "extend", "upload_extend", "upload_cover", "concat", "cover", "artist_consistency",
    "artist_consistency_vox", "stems", "all_stems", "replace_section", "underpainting", "overpainting",
    "remaster", "mashup", "samples", "inspo",
)  # fmt: skip


def _suno_validate(body: Body) -> str | None:
    return _enum(body, "model", SUNO_MODELS) or _enum(body, "action", SUNO_ACTIONS)


def _suno_artifacts(body: Body) -> list[Artifact]:
    return [
        artifact
        for song in range(2)
        for artifact in (Artifact(f"{song}.mp3", "audio/mpeg"), Artifact(f"{song}.jpeg", "image/jpeg"))
    ]


def _suno_finished(submission: Submission) -> Body:
    body = submission.body
    prompt = body.get("prompt") if isinstance(body.get("prompt"), str) else None
    songs = []
    for song in range(2):
        audio, image = submission.urls[2 * song : 2 * song + 2]
        songs.append(
            {
                "id": _uuid_like(f"{submission.task_id}:{song}"),
                "title": body.get("title") or "Offline Song",
                "lyric": body.get("lyric") or "[Verse]\nOffline lyrics",
                "prompt": prompt or body.get("lyric") or "",
                "style": body.get("style") or "",
                "model": body.get("model") or "chirp-v4",
                "state": "succeeded",
                "duration": 120 + 10 * song,
                "audio_url": audio,
                "image_url": image,
                "video_url": "",
                "created_at": _iso(submission.finished_at),
            }
        )
    return {"success": True, "task_id": submission.task_id, "trace_id": submission.trace_id, "data": songs}


# Flux: AceDataCloud/SDK scripts/specs (/flux/images: action and prompt required, model enum, the 200
# shape {success, data: [{prompt, image_url, ...}]}); the async acceptance {task_id, trace_id} without
# ``success`` is from the Docs' Flux video guide (a real answer quoted there).
FLUX_MODELS: Final = (
    "flux-dev", "flux-pro", "flux-kontext-pro", "flux-kontext-max", "flux-2-flex", "flux-2-pro", "flux-2-max",
    "flux-2-klein",
)  # fmt: skip


def _flux_validate(body: Body) -> str | None:
    count = body.get("count", 1)
    if isinstance(count, bool) or not isinstance(count, int | float) or not 1 <= count <= 4:
        return "count is invalid."
    checks = [_enum(body, "action", ("generate", "edit"), required=True), _text(body, "prompt")]
    checks.append(_enum(body, "model", FLUX_MODELS))
    if body.get("action") == "edit":
        checks.append(_text(body, "image_url"))
    return _failed_first(*checks)


def _flux_artifacts(body: Body) -> list[Artifact]:
    return [Artifact(f"{n}.png", "image/png") for n in range(int(body.get("count", 1)))]


def _flux_accepted(submission: Submission) -> Body:
    return {"task_id": submission.task_id, "trace_id": submission.trace_id}


def _flux_finished(submission: Submission) -> Body:
    data = [
        {"prompt": submission.body["prompt"], "image_url": url, "seed": int(digits(url, 9))} for url in submission.urls
    ]
    return {"success": True, "task_id": submission.task_id, "trace_id": submission.trace_id, "data": data}


# Veo: AceDataCloud/SDK scripts/specs (/veo/videos: ``action`` required, model enum) and the Docs' Veo
# guides (the answer {success, task_id, trace_id, data: [{id, video_url, created_at, complete_at, state}]}).
# Without "async" Veo answers only the task id (Docs concepts/async-tasks.mdx: heavy video routes return
# just a task_id), although one Veo guide shows a full answer to a plain call.
VEO_MODELS: Final = ("veo3", "veo3-fast", "veo31-fast", "veo31", "veo31-fast-ingredients")
VEO_ACTIONS: Final = ("text2video", "image2video", "ingredients2video", "get1080p")


def _veo_validate(body: Body) -> str | None:
    checks = [_enum(body, "action", VEO_ACTIONS, required=True), _enum(body, "model", VEO_MODELS)]
    action = body.get("action")
    if action == "text2video":
        checks.append(_text(body, "prompt"))
    elif action in ("image2video", "ingredients2video"):
        urls = body.get("image_urls")
        ok = isinstance(urls, list) and urls and all(isinstance(url, str) for url in urls)
        checks.append(None if ok else "image_urls is required.")
    elif action == "get1080p":
        checks.append(_text(body, "video_id"))
    return _failed_first(*checks)


def _veo_finished(submission: Submission) -> Body:
    [url] = submission.urls
    video = {
        "id": hashlib.sha256(submission.task_id.encode()).hexdigest()[:32],
        "video_url": url,
        "created_at": _stamp(submission.created_at),
        "complete_at": _stamp(submission.finished_at),
        "state": "succeeded",
    }
    return {"success": True, "task_id": submission.task_id, "trace_id": submission.trace_id, "data": [video]}


# Chat completions: the OpenAI chat completion object (the SDK's openai_compat.py posts /openai/chat/completions
# and returns the body as is; Docs openapi/openai.json). Its ``id`` is the completion's, not a task id.
def _chat_validate(body: Body) -> str | None:
    messages = body.get("messages")
    if _text(body, "model"):
        return "model is required."
    if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
        return "messages is required."
    if body.get("stream"):
        return "stream is not supported by the offline gateway."
    return None


def _chat_answer(body: Body, completion_id: str, created: float) -> Body:
    question = next(
        (str(m.get("content")) for m in reversed(body["messages"]) if m.get("role") == "user"),
        "",
    )
    content = f"Offline answer to: {question[:200]}"
    prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in body["messages"])
    completion_tokens = len(content.split())
    return {
        "id": f"chatcmpl-{completion_id}",
        "object": "chat.completion",
        "created": int(created),
        "model": body["model"],
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def _uuid_like(seed: str) -> str:
    digest = hashlib.sha256(seed.encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-4{digest[13:16]}-8{digest[17:20]}-{digest[20:32]}"


ROUTES: Final = (
    GatewayRoute(
        "/midjourney/imagine",
        "midjourney",
        "task",
        validate=_midjourney_validate,
        blocking=True,
        accepted=_accepted,
        finished=_midjourney_finished,
        artifacts=lambda body: [Artifact("grid.png", "image/png"), Artifact("grid-raw.png", "image/png")],
        record_fields=lambda submission: {"type": "imagine"},
        duration=2.0,
        cost=1.0,
        artifact_size=32 * 1024,
    ),
    GatewayRoute(
        "/suno/audios",
        "suno",
        "task",
        validate=_suno_validate,
        blocking=True,
        accepted=_accepted,
        finished=_suno_finished,
        artifacts=_suno_artifacts,
        duration=3.0,
        cost=1.0,
        artifact_size=64 * 1024,
    ),
    GatewayRoute(
        "/flux/images",
        "flux",
        "task",
        validate=_flux_validate,
        blocking=True,
        accepted=_flux_accepted,
        finished=_flux_finished,
        artifacts=_flux_artifacts,
        duration=1.0,
        cost=0.5,
        artifact_size=32 * 1024,
    ),
    GatewayRoute(
        "/veo/videos",
        "veo",
        "task",
        validate=_veo_validate,
        blocking=False,
        accepted=_accepted,
        finished=_veo_finished,
        artifacts=lambda body: [Artifact("video.mp4", "video/mp4")],
        duration=4.0,
        cost=2.0,
        artifact_size=256 * 1024,
    ),
    GatewayRoute(
        "/openai/chat/completions",
        "openai",
        "instant",
        validate=_chat_validate,
        answer=_chat_answer,
        cost=0.01,
    ),
    GatewayRoute("/v1/chat/completions", "openai", "instant", validate=_chat_validate, answer=_chat_answer, cost=0.01),
    GatewayRoute("/midjourney/tasks", "midjourney", "read"),
    GatewayRoute("/suno/tasks", "suno", "read"),
    GatewayRoute("/flux/tasks", "flux", "read"),
    GatewayRoute("/veo/tasks", "veo", "read"),
)
"""Every route the offline gateway serves; any other path is ``404 no_api``."""

MAGIC: Final = {
    "image/png": b"\x89PNG\r\n\x1a\n",
    "image/jpeg": b"\xff\xd8\xff\xe0",
    "audio/mpeg": b"ID3\x04\x00\x00",
    "video/mp4": b"\x00\x00\x00\x18ftypmp42",
}
"""Each artifact starts with its format's signature, so a copy looks like the file it stands for."""

_BLOCK: Final = 64 * 1024


def artifact_chunks(path: str, size: int, content_type: str, chunk: int = _BLOCK) -> Iterator[bytes]:
    """The artifact's bytes in chunks: its format's signature, then a block derived from ``path``, repeated.

    Deterministic: the same path and size always give the same bytes.
    """
    block = hashlib.shake_256(path.encode()).digest(_BLOCK)
    content = MAGIC.get(content_type, b"")
    position = 0
    while position < size:
        length = min(chunk, size - position)
        data = bytearray()
        cursor = position
        while len(data) < length:
            if cursor < len(content):
                piece = content[cursor : cursor + length - len(data)]
            else:
                offset = (cursor - len(content)) % _BLOCK
                piece = block[offset : offset + length - len(data)]
            data += piece
            cursor += len(piece)
        position += length
        yield bytes(data)


def artifact_bytes(path: str, size: int, content_type: str) -> bytes:
    """All of an artifact's bytes at once (what a copy of it must hold)."""
    return b"".join(artifact_chunks(path, size, content_type))
