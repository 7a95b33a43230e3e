"""AceDataApiHook: the gateway ``api.acedata.cloud``, with the API key of an ``acedata_api`` connection."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from airflow_provider_acedata import DEFAULT_API_HOST
from airflow_provider_acedata.exceptions import AceDataApiError, AceDataInputError
from airflow_provider_acedata.hooks._base import AceDataBaseHook
from airflow_provider_acedata.validation import require_api_path, require_task_ids, require_text

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from airflow_provider_acedata.hooks._base import HookSettings


class AceDataApiHook(AceDataBaseHook):
    """Call Ace Data Cloud's APIs (Midjourney, Suno, Flux, Veo, chat, ...) with an API key.

    The connection's password is an API key: a credential's token, as ``CreateCredentialOperator`` makes
    and ``RotateCredentialOperator`` rotates. Requests go over the same transport and retry policy as
    ``AceDataHook``, with one difference that costs money if missed: a submit (:meth:`call`) is a POST that
    may create a paid task, so it is never retried; a task read (:meth:`retrieve`, :meth:`retrieve_batch`)
    is a POST that only reads, so it is retried like a GET. Gateway errors (``{"error": {"code",
    "message"}, "trace_id"}``) become the types of :mod:`airflow_provider_acedata.exceptions`, keeping
    ``code`` and ``trace_id``; ``used_up`` is ``AceDataInsufficientBalanceError``.

    :param acedata_api_conn_id: the ``acedata_api`` connection (host default ``https://api.acedata.cloud``).
    :param settings: ``timeout``, ``retry_limit``, ``retry_delay``, ``max_retry_wait`` and ``token``
        (:class:`~airflow_provider_acedata.hooks._base.HookSettings`).
    """

    conn_name_attr = "acedata_api_conn_id"
    default_conn_name = "acedata_api_default"
    conn_type = "acedata_api"
    hook_name = "Ace Data Cloud API"
    default_host = DEFAULT_API_HOST
    api_root = ""
    secret_name = "API Key"

    def __init__(self, acedata_api_conn_id: str = default_conn_name, **settings: Unpack[HookSettings]) -> None:
        super().__init__(acedata_api_conn_id, **settings)
        self.acedata_api_conn_id = acedata_api_conn_id

    def check_secret(self, secret: str, source: str) -> None:
        if secret.startswith("platform-"):
            self.log.warning(
                "The secret from %s is a platform token, not an API key: the gateway refuses it (401). Put an "
                "API key there (CreateCredentialOperator with a token_store makes one).",
                source,
            )

    def call(self, path: str, body: Mapping[str, Any]) -> Any:
        """POST ``body`` to a gateway route and return its answer. Never retried.

        A submit whose answer is lost (``AceDataTransportError``) may have created a paid task: find out
        before sending it again.
        """
        path = require_api_path("path", path)
        if not isinstance(body, Mapping):
            raise AceDataInputError(f"body must be a JSON object (a dict), got {type(body).__name__}")
        return self._request("POST", path, json=dict(body), retry=False)

    def retrieve(self, service: str, task_id: str) -> dict[str, Any]:
        """Read one task of ``service`` (``POST /<service>/tasks`` ``{"action": "retrieve"}``); retried."""
        [task_id] = require_task_ids("task_id", [task_id])
        return self._task_answer(
            self._request("POST", tasks_path(service), json={"action": "retrieve", "id": task_id}, retry=True)
        )

    def retrieve_batch(self, service: str, task_ids: Sequence[str]) -> list[dict[str, Any]]:
        """Read up to 100 tasks of ``service`` in one request (``{"action": "retrieve_batch"}``); retried."""
        body = {"action": "retrieve_batch", "ids": require_task_ids("task_ids", list(task_ids))}
        return batch_items(self._request("POST", tasks_path(service), json=body, retry=True))

    async def aretrieve(self, service: str, task_id: str) -> dict[str, Any]:
        """The async twin of :meth:`retrieve`, for triggers."""
        [task_id] = require_task_ids("task_id", [task_id])
        body = {"action": "retrieve", "id": task_id}
        return self._task_answer(await self._arequest("POST", tasks_path(service), json=body, retry=True))

    async def aretrieve_batch(
        self, service: str, task_ids: Sequence[str], *, retry: bool = True
    ) -> list[dict[str, Any]]:
        """The async twin of :meth:`retrieve_batch`, for triggers.

        ``retry=False`` sends the read once: a caller that paces many reads itself (the shared reader of
        ``ApiTaskTrigger``) backs them all off together instead of letting each sleep on its own.
        """
        body = {"action": "retrieve_batch", "ids": require_task_ids("task_ids", list(task_ids))}
        return batch_items(await self._arequest("POST", tasks_path(service), json=body, retry=retry))

    @staticmethod
    def _task_answer(answer: Any) -> dict[str, Any]:
        if not isinstance(answer, dict):
            raise AceDataApiError(
                f"a task read answered {type(answer).__name__}, not a task record",
                status_code=200,
                method="POST",
                path="/tasks",
                code="invalid_response",
            )
        return cast("dict[str, Any]", answer)


def tasks_path(service: str) -> str:
    """Where a service's tasks are read: ``/<service>/tasks`` (the official SDK's rule for every service)."""
    name = require_text("service", service, max_length=64)
    if "/" in name or name in (".", ".."):
        raise AceDataInputError(f"service must be one path segment such as 'midjourney', got {service!r}")
    return f"/{name}/tasks"


def batch_items(answer: Any) -> list[dict[str, Any]]:
    """The task records of a ``retrieve_batch`` answer (``{"items": [...], "count": N}``)."""
    items = answer.get("items") if isinstance(answer, dict) else None
    if not isinstance(items, list):
        raise AceDataApiError(
            "a retrieve_batch answer has no items list",
            status_code=200,
            method="POST",
            path="/tasks",
            code="invalid_response",
        )
    return [item for item in items if isinstance(item, dict)]


__all__ = ["AceDataApiHook"]
