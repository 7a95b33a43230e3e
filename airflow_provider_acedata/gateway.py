"""What the provider reads in the gateway's answers: task routes, task ids, when a task is done, its artifacts.

Standard library only: the operator, the trigger and the tests share these rules without importing a client.

The completion rule follows the official SDK's ``acedatacloud._runtime.tasks.task_status``, which is broad on
purpose ("narrowing it silently hangs whichever service it drops"): a status word anywhere in the response,
``success: false`` with a structured error, ``finished_at`` with a ``success`` flag, or artifact URLs
appearing. ``tests/contract/test_task_status_differential.py`` runs the SDK's own function over the response
shapes of its tests, its OpenAPI examples and the service guides, and pins where this module differs:

* A success word with no artifact URL is a success here unless something says it failed (``success:
  false`` or a structured error); the SDK calls it a failure ("ended without output"). Routes whose result
  is not a file end exactly so: ``/digital-human/voices`` answers ``{"state": "succeed", "voice_id": ...}``,
  a captcha task ``{"status": "succeeded"}`` with its token, a Suno persona its id. Failing those would fail
  every such Airflow task with no workaround; a success without files is visible in the manifest.
* ``done`` is a success word here; the SDK does not know it and, seeing a status word it cannot place,
  waits forever (``/dreamina/videos`` answers ``{"status": "done", "video_url": ...}``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Final

DONE_WORDS: Final = frozenset({"succeed", "succeeded", "success", "completed", "complete", "finished", "done"})
"""Status words of a task that ended well (the SDK's, plus ``done``)."""
FAILED_WORDS: Final = frozenset({"failed", "failure", "error", "cancelled", "canceled", "rejected"})
"""Status words of a task that ended badly (the SDK's)."""
MAX_DEPTH: Final = 6
"""How deep status words and URLs are looked for, as the SDK does."""
STATUS_KEYS: Final = ("state", "status")

ANSWERS_AT_ONCE: Final = frozenset(
    {
        # Routes whose OpenAPI document (AceDataCloud/SDK scripts/specs) has no ``async`` field: they answer
        # the call itself, and the SDK never sends ``async`` to them.
        "/fish/model",
        "/localization/translate",
        "/openai/chat/completions",
        "/openai/embeddings",
        "/openai/responses",
        "/producer/lyrics",
        "/producer/upload",
        "/producer/videos",
        "/producer/wav",
        "/serp/google",
        "/shorturl",
        "/suno/lyrics",
        "/suno/mashup-lyrics",
        "/suno/mp4",
        "/suno/persona",
        "/suno/style",
        "/suno/timing",
        "/suno/upload",
        "/suno/voices",
    }
)
"""Gateway routes known to answer at once: no ``"async": true`` is added to their body."""
ANSWERING_SERVICES: Final = frozenset({"v1", "aichat", "face", "serp", "shorturl", "localization"})
"""Services whose every route answers at once (``/v1/...`` is the OpenAI- and Anthropic-compatible base)."""
ANSWERING_SUFFIXES: Final = ("/chat/completions", "/completions", "/responses", "/embeddings", "/messages")
"""Chat-style routes of any service (``/glm/chat/completions``, ``/claude/v1/messages``): they answer at once."""


def is_task_route(path: str) -> bool:
    """Whether a route submits a task (and gets ``"async": true``), rather than answering at once.

    Unknown routes count as task routes: the gateway's generation routes (images, videos, audio) block
    until done without ``async``, which holds a worker (and a paid task) on one HTTP answer; a route that
    answers at once anyway ignores the flag or refuses it at once, before anything is charged.
    """
    route = "/" + path.strip("/")
    segments = route.strip("/").split("/")
    if route in ANSWERS_AT_ONCE or segments[0] in ANSWERING_SERVICES or segments[-1] == "tasks":
        return False
    return not route.endswith(ANSWERING_SUFFIXES) and not route.endswith("/messages/count_tokens")


def submit_body(path: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """The body sent to ``path``: ``body`` as given, plus ``"async": true`` for a task route that does not set it."""
    sent = dict(body)
    if "async" not in sent and is_task_route(path):
        sent["async"] = True
    return sent


def answer_task_id(answer: Any) -> str | None:
    """The task id of a submit's answer: ``task_id`` at the top or in ``data``; never an OpenAI-style ``id``."""
    if not isinstance(answer, Mapping):
        return None
    found = answer.get("task_id")
    data = answer.get("data")
    if not _is_id(found) and isinstance(data, Mapping):
        found = data.get("task_id")
    return str(found).strip() if _is_id(found) else None


def answer_is_final(answer: Any) -> bool:
    """Whether a submit's answer is the result itself rather than a task to wait for.

    Final without a task id. With one, final when the completion rule already decides it (a status word, a
    structured error, artifact URLs), or when it carries a ``data`` payload beyond ids (``/suno/voices``
    answers ``{"success": true, "task_id": ..., "data": {"persona_id": ...}}`` at once). A bare acceptance,
    ``{"success": true, "task_id", "trace_id"}`` or Flux's ``{"task_id", "trace_id"}``, is a task to wait for.
    """
    if not isinstance(answer, Mapping) or answer_task_id(answer) is None:
        return True
    if task_status({"response": dict(answer)}):
        return True
    data = answer.get("data")
    if isinstance(data, Mapping):
        return any(
            key not in ("task_id", "trace_id", "id") and value not in (None, "", [], {}) for key, value in data.items()
        )
    return isinstance(data, list) and bool(data)


def task_status(state: Mapping[str, Any]) -> str:
    """``"succeeded"``, ``"failed"`` or ``""`` (still running) for a task record or ``{"response": answer}``.

    The order of evidence is the SDK's: a failure word, then a success word, then any other status word
    (still running), then ``success: false`` with an artifact or a structured error, then ``finished_at``
    with the ``success`` flag or an artifact, then an artifact alone. See the module docstring for the two
    places this differs.
    """
    response = state.get("response")
    if response is None:
        response = state
    if not isinstance(response, Mapping):
        return ""
    words = [word.lower() for word in _values(response, STATUS_KEYS)]
    if any(word in FAILED_WORDS for word in words):
        return "failed"
    if any(word in DONE_WORDS for word in words):
        return "failed" if not artifact_urls(state) and _says_failed(response) else "succeeded"
    if words:
        return ""
    urls = artifact_urls(state)
    if response.get("success") is False and (urls or _structured_error(response)):
        return "failed"
    if response.get("finished_at") is not None or state.get("finished_at") is not None:
        if response.get("success") is True:
            return "succeeded"
        if response.get("success") is False:
            return "failed"
    return "succeeded" if urls else ""


def artifact_urls(state: Any) -> list[str]:
    """Every artifact URL of a task, outermost first, each once: as the SDK's ``artifact_urls`` finds them.

    A string starting with ``http`` under a key ``url`` or ending in ``_url`` / ``_urls``, looked for in
    the task's ``response`` (or the whole answer when there is no ``response`` key).
    """
    if not isinstance(state, Mapping):
        return []
    found: dict[str, None] = {}
    for key, value in _pairs(state.get("response", state)):
        if isinstance(value, str) and value.startswith("http") and _is_url_key(key):
            found.setdefault(value, None)
    return list(found)


def failure(state: Mapping[str, Any]) -> tuple[str | None, str]:
    """The gateway's error code (None when it gave none) and its own words for why a task failed."""
    response = state.get("response") if isinstance(state, Mapping) else None
    if not isinstance(response, Mapping):
        response = state if isinstance(state, Mapping) else {}
    error = response.get("error")
    code = error.get("code") if isinstance(error, Mapping) else None
    message: Any = None
    if isinstance(error, Mapping):
        message = error.get("message") or error.get("detail")
    elif isinstance(error, str):
        message = error
    for key in ("message", "failure_reason", "fail_reason"):
        if not (isinstance(message, str) and message):
            message = response.get(key)
    text = message if isinstance(message, str) and message else "Task failed."
    return (str(code) if code else None), text


def _is_id(value: Any) -> bool:
    return isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip() != ""


def _is_url_key(key: str) -> bool:
    return key == "url" or key.endswith(("_url", "_urls"))


def _says_failed(response: Mapping[str, Any]) -> bool:
    return response.get("success") is False or _structured_error(response)


def _structured_error(response: Mapping[str, Any]) -> bool:
    error = response.get("error")
    return isinstance(error, Mapping) and bool(error.get("code"))


def _pairs(node: Any, depth: int = 0) -> Iterator[tuple[str, Any]]:
    """Each (key, value) of the dicts in ``node``, depth first in document order, ``MAX_DEPTH`` levels deep.

    A value is yielded and, when it is a string, not descended into; dicts and lists are descended into.
    """
    if depth > MAX_DEPTH:
        return
    if isinstance(node, Mapping):
        for key, value in node.items():
            yield str(key), value
            if isinstance(value, Mapping | list):
                yield from _pairs(value, depth + 1)
    elif isinstance(node, list):
        for item in node:
            yield from _pairs(item, depth + 1)


def _values(node: Any, keys: tuple[str, ...]) -> Iterator[str]:
    """The string values under ``keys`` anywhere in ``node`` (the SDK's status words)."""
    for key, value in _pairs(node):
        if key in keys and isinstance(value, str):
            yield value
