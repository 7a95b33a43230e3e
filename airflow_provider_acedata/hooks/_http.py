"""The transport under both hooks: one request, retry and error policy, sent with requests or httpx.

The sync path (``requests``) serves operators in workers; the async path (``httpx``) serves triggers, so a
wait never blocks the triggerer's event loop. Both send the same requests and raise the same errors:
only the client and the sleep differ. The platform API and the gateway differ only in their ``Endpoint``.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import json
import logging
import random
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from tenacity import AsyncRetrying, RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from airflow_provider_acedata import DEFAULT_HOST
from airflow_provider_acedata.exceptions import (
    AceDataApiError,
    AceDataConfigError,
    AceDataRateLimitError,
    AceDataServerError,
    AceDataTransportError,
    error_class,
)
from airflow_provider_acedata.masking import mask_payload

if TYPE_CHECKING:
    import httpx
    import requests

IDEMPOTENT_METHODS = frozenset({"GET", "DELETE"})
MAX_BACKOFF = 60.0


@dataclass(frozen=True)
class Endpoint:
    """Where and how requests go: the API root, the per-request timeout and the User-Agent.

    ``secret`` names the secret sent and where it comes from, for the message of a 401.
    """

    base_url: str
    root: str
    timeout: float
    user_agent: str
    secret: str = "the token"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}{self.root}"

    def headers(self, token: str) -> dict[str, str]:
        return {"Accept": "application/json", "Authorization": f"Bearer {token}", "User-Agent": self.user_agent}


@dataclass(frozen=True)
class RetryPolicy:
    """Which failures are retried, and how long to wait before the next attempt.

    GET and DELETE are retried on transport errors, 429 and 5xx, with exponential backoff and jitter, or
    the server's ``Retry-After``; a ``Retry-After`` longer than ``max_retry_wait`` is raised at once so
    that no worker sleeps through it (Airflow's task retries take over). Nothing else is retried.
    """

    retry_limit: int
    retry_delay: float
    max_retry_wait: float

    def applies_to(self, method: str, idempotent: bool | None = None) -> bool:
        """Whether a request may be retried: GET and DELETE, or one the caller declares a read (a task read)."""
        return (method in IDEMPOTENT_METHODS if idempotent is None else idempotent) and self.retry_limit > 0

    def is_transient(self, error: BaseException) -> bool:
        if isinstance(error, AceDataRateLimitError):
            return error.retry_after is None or error.retry_after <= self.max_retry_wait
        return isinstance(error, AceDataTransportError | AceDataServerError)

    def wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, AceDataApiError) and error.retry_after is not None:
            return error.retry_after
        delay = min(self.retry_delay * 2.0 ** (state.attempt_number - 1), MAX_BACKOFF)
        return delay + random.uniform(0, delay / 10)

    def retrying(self, log: logging.Logger) -> Retrying:
        return Retrying(sleep=_sleep, **self._tenacity(log))

    def async_retrying(self, log: logging.Logger) -> AsyncRetrying:
        return AsyncRetrying(sleep=_async_sleep, **self._tenacity(log))

    def _tenacity(self, log: logging.Logger) -> dict[str, Any]:
        def log_retry(state: RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            wait = state.next_action.sleep if state.next_action else 0
            log.warning("%s; retry %d of %d in %.1fs", error, state.attempt_number, self.retry_limit, wait)

        return {
            "stop": stop_after_attempt(self.retry_limit + 1),
            "wait": self.wait,
            "retry": retry_if_exception(self.is_transient),
            "before_sleep": log_retry,
            "reraise": True,
        }


def _sleep(seconds: float) -> None:
    time.sleep(seconds)


async def _async_sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


class Transport:
    """What both clients share: the endpoint, the retry policy, redaction and decoding of answers."""

    def __init__(self, endpoint: Endpoint, policy: RetryPolicy, log: logging.Logger) -> None:
        self.endpoint = endpoint
        self.policy = policy
        self.log = log

    def decode(
        self,
        *,
        method: str,
        path: str,
        status: int,
        headers: Mapping[str, str],
        content: bytes,
        reason: str,
        token: str,
        mask_secrets: bool,
    ) -> Any:
        """The JSON payload of an answer (None for an empty one), or the matching ``AceDataApiError``."""
        if status >= 300:
            raise self.api_error(method, path, status, headers, content, reason, token)
        if status == 204 or not content:
            return None
        try:
            payload = json.loads(content)
        except ValueError:
            raise AceDataApiError(
                f"{method} {path} -> {status}: the answer is not JSON",
                status_code=status,
                method=method,
                path=path,
                code="invalid_response",
            ) from None
        if mask_secrets:
            mask_payload(payload)
        return payload

    def api_error(
        self,
        method: str,
        path: str,
        status: int,
        headers: Mapping[str, str],
        content: bytes,
        reason: str,
        token: str,
    ) -> AceDataApiError:
        """Turn an error answer into the matching exception, keeping status, code and message."""
        try:
            body = json.loads(content) if content else None
        except ValueError:
            body = None
        code, message, field_errors = parse_error_body(body)
        if message is None and body is None:
            message = content.decode("utf-8", "replace").strip()[:200] or reason or None
        if 300 <= status < 400:
            location = urlsplit(headers.get("Location", "")).path
            message = f"redirect to {location!r} not followed; check the connection host ({self.endpoint.base_url})"
        text = f"{method} {path} -> {status}"
        if code:
            text += f" [{code}]"
        if message:
            text += f": {message}"
        if field_errors:
            text += f" {field_errors}"
        if status == 401:
            text += f" ({self.endpoint.secret} was refused: put a live one there)"
        if status == 403 and code in (None, "permission_denied"):
            text += " (owner lists need user_id; the token may lack this permission)"
        trace_id = body.get("trace_id") if isinstance(body, dict) else None
        return error_class(status, code)(
            redact(text, token),
            status_code=status,
            method=method,
            path=path,
            code=code,
            api_message=redact(message, token) if message else None,
            field_errors={key: redact(str(value), token) for key, value in field_errors.items()},
            request_id=headers.get("X-Request-Id") or headers.get("X-Trace-Id") or (trace_id and str(trace_id)),
            retry_after=parse_retry_after(headers.get("Retry-After")),
        )

    def timed_out(self, method: str, path: str) -> AceDataTransportError:
        return AceDataTransportError(
            f"{method} {path} got no answer within {self.endpoint.timeout:g}s (timeout)",
            method=method,
            path=path,
            timed_out=True,
        )

    def failed(self, method: str, path: str, error: Exception, token: str) -> AceDataTransportError:
        return AceDataTransportError(
            redact(f"{method} {path} failed before an answer: {type(error).__name__}: {error}", token),
            method=method,
            path=path,
        )

    def log_answer(self, method: str, path: str, status: int, started: float) -> None:
        self.log.debug("%s %s -> %s (%.0f ms)", method, path, status, (time.monotonic() - started) * 1000)


class SyncTransport(Transport):
    """Requests over one ``requests.Session`` (keep-alive), shared by every hook of one family."""

    _session: requests.Session | None = None

    @property
    def session(self) -> requests.Session:
        if self._session is None:
            import requests  # imported here, not at DAG parse time (it costs ~100 ms)

            self._session = requests.Session()
        return self._session

    def request(
        self,
        method: str,
        path: str,
        *,
        token: str,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        mask_secrets: bool = True,
        retry: bool | None = None,
    ) -> Any:
        """Send one API call, retried on transient failures when it is a read.

        ``retry`` None: GET and DELETE are reads, anything else is not; True: this call is a read (a POST
        that only reads, such as a task read); False: never retried.
        """
        if not self.policy.applies_to(method, retry):
            return self._send(method, path, token, params, json, mask_secrets)
        return self.policy.retrying(self.log)(self._send, method, path, token, params, json, mask_secrets)

    def _send(
        self, method: str, path: str, token: str, params: Mapping[str, Any] | None, json: Any, mask_secrets: bool
    ) -> Any:
        import requests

        started = time.monotonic()
        try:
            response = self.session.request(
                method,
                f"{self.endpoint.api_url}{path}",
                params=params,
                json=json,
                headers=self.endpoint.headers(token),
                timeout=self.endpoint.timeout,
                allow_redirects=False,
            )
        except requests.Timeout:
            raise self.timed_out(method, path) from None
        except requests.RequestException as error:
            raise self.failed(method, path, error, token) from None
        self.log_answer(method, path, response.status_code, started)
        return self.decode(
            method=method,
            path=path,
            status=response.status_code,
            headers=response.headers,
            content=response.content,
            reason=response.reason or "",
            token=token,
            mask_secrets=mask_secrets,
        )

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None


class AsyncTransport(Transport):
    """Requests over one ``httpx.AsyncClient``, for triggers: no thread and no blocking call per request."""

    _client: httpx.AsyncClient | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            import httpx

            self._client = httpx.AsyncClient(
                timeout=self.endpoint.timeout, follow_redirects=False, verify=_shared_ssl_context()
            )
        return self._client

    async def request(
        self,
        method: str,
        path: str,
        *,
        token: str,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        mask_secrets: bool = True,
        retry: bool | None = None,
    ) -> Any:
        """The async twin of ``SyncTransport.request``: the same retries, waits and errors."""
        if not self.policy.applies_to(method, retry):
            return await self._send(method, path, token, params, json, mask_secrets)
        return await self.policy.async_retrying(self.log)(self._send, method, path, token, params, json, mask_secrets)

    async def _send(
        self, method: str, path: str, token: str, params: Mapping[str, Any] | None, json: Any, mask_secrets: bool
    ) -> Any:
        import httpx

        started = time.monotonic()
        try:
            response = await self.client.request(
                method,
                f"{self.endpoint.api_url}{path}",
                params=_query(params),
                json=json,
                headers=self.endpoint.headers(token),
            )
        except httpx.TimeoutException:
            raise self.timed_out(method, path) from None
        except httpx.HTTPError as error:
            raise self.failed(method, path, error, token) from None
        self.log_answer(method, path, response.status_code, started)
        return self.decode(
            method=method,
            path=path,
            status=response.status_code,
            headers=response.headers,
            content=response.content,
            reason=response.reason_phrase,
            token=token,
            mask_secrets=mask_secrets,
        )

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()


@functools.cache
def _shared_ssl_context() -> ssl.SSLContext:
    """One TLS context for every async client in the process.

    httpx builds a context per client by default, loading the CA bundle each time: about 50 ms of CPU and
    0.8 MiB per client, which a triggerer holding a thousand waits (a client each) would pay a thousand times.
    """
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


def _query(params: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Query values as requests would send them (httpx renders booleans as ``true``, requests as ``True``)."""
    if params is None:
        return None
    return {key: str(value) if isinstance(value, bool) else value for key, value in params.items()}


def redact(text: str, token: str | None) -> str:
    """Remove the token from text that may end up in a log or exception."""
    return text.replace(token, "***") if token else text


def parse_error_body(body: Any) -> tuple[str | None, str | None, dict[str, Any]]:
    """Read both error dialects: DRF (``detail``, ``code``, field dict) and gateway (``error``)."""
    if not isinstance(body, dict):
        return None, (str(body)[:200] if body else None), {}
    code = body.get("code")
    message: Any = None
    field_errors: dict[str, Any] = {}
    if isinstance(body.get("error"), dict):
        code = code or body["error"].get("code")
        message = body["error"].get("message")
    detail = body.get("detail")
    if isinstance(detail, dict):
        code = code or detail.get("code")
        message = message or detail.get("message") or detail.get("detail")
    elif detail is not None:
        message = message or detail
    if message is None:
        field_errors = {key: value for key, value in body.items() if key not in ("code", "error", "trace_id", "detail")}
        if "non_field_errors" in field_errors:
            message = field_errors.pop("non_field_errors")
    if isinstance(message, list):
        message = " ".join(str(item) for item in message)
    return (str(code) if code else None), (str(message) if message else None), field_errors


def parse_retry_after(value: str | None) -> float | None:
    """Parse ``Retry-After`` (seconds or an HTTP date) into seconds from now."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def base_url(
    host: str | None, port: int | None, schema: str | None, *, default: str = DEFAULT_HOST, root: str = ""
) -> str:
    """Normalise the connection host (URL or bare host, with optional port) to ``scheme://host[:port]``.

    A trailing ``root`` (the API's path, e.g. ``/api/v1``) pasted into the host is dropped.
    """
    raw = (host or default).strip().rstrip("/")
    if "://" not in raw:
        bare = urlsplit(f"//{raw}").hostname or ""
        scheme = schema if schema in ("http", "https") else ("http" if is_loopback(bare) else "https")
        raw = f"{scheme}://{raw}"
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AceDataConfigError(f"Connection host must be a URL such as {default!r}, got {host!r}")
    if parts.username or parts.password:
        raise AceDataConfigError("Connection host must not contain credentials; put the token in the password")
    if parts.scheme != "https" and not is_loopback(parts.hostname):
        raise AceDataConfigError(
            f"Connection host {parts.hostname!r} must use https (plain http is allowed for loopback only)"
        )
    netloc = parts.netloc
    if port and parts.port is None:
        netloc = f"{netloc}:{port}"
    path = parts.path.rstrip("/")
    if root:
        path = path.removesuffix(root)
    return f"{parts.scheme}://{netloc}{path}"
