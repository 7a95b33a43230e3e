"""Fault injection for the fake platform: which requests to break, and how."""

from __future__ import annotations

import enum
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from airflow_provider_acedata.testing._http import Response


class _Unset(enum.Enum):
    UNSET = "UNSET"


UNSET: Final = _Unset.UNSET
"""Default of ``FakeAceDataPlatform.fail(status=...)``: 503, unless the rule only delays or drops."""

StatusArg = int | None | Literal[_Unset.UNSET]

DEFAULT_BODIES: Final[dict[int, dict[str, str]]] = {429: {"detail": "Request was throttled."}}
DEFAULT_BODY: Final[dict[str, str]] = {"detail": "Injected fault"}
PLANES: Final = ("platform", "gateway", "artifacts")
"""Where a request arrived: the platform API, the gateway (``api.acedata.cloud``) or the artifact host."""
GATEWAY_CODES: Final[dict[int, str]] = {
    400: "bad_request",
    401: "invalid_token",
    403: "forbidden",
    404: "no_api",
    429: "too_many_requests",
    504: "timeout",
}
"""The gateway's error code for an injected status (platform-api.md §9); any other status: ``api_error``."""


def gateway_error_body(code: str, message: str, trace_id: str | None = None) -> dict[str, Any]:
    """The gateway's error dialect: ``{"error": {"code", "message"}, "trace_id"}``."""
    return {"error": {"code": code, "message": message}, "trace_id": trace_id or str(uuid.uuid4())}


@dataclass
class RequestRecord:
    """One request the fake platform handled; ``status`` is 0 while in flight or when no response was sent.

    ``plane`` says which listener got it (``platform``, ``gateway`` or ``artifacts``); ``at`` is when it
    arrived (``time.monotonic()``), for counting requests per interval.
    """

    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    status: int
    token: str | None
    user_agent: str | None = field(default=None, compare=False, repr=False)
    plane: str = "platform"
    at: float = field(default_factory=time.monotonic, compare=False, repr=False)


@dataclass(eq=False)
class FaultRule:
    """A fault for matching requests: let ``skip`` through, break the next ``times`` (None = forever).

    The fault is: wait ``delay`` seconds, then close the socket (``drop``), or answer ``status`` with
    ``body``, or (``status`` None) answer normally. ``after_apply`` runs the request for real first.
    ``plane`` limits the rule to one listener (None: any). Without a ``body``, a gateway fault answers in
    the gateway's dialect (``{"error": {"code", "message"}, "trace_id"}``), the others DRF's.
    """

    method: str | None = None
    path: str | None = None
    token: str | None = None
    predicate: Callable[[RequestRecord], bool] | None = None
    status: int | None = 503
    times: int | None = 1
    skip: int = 0
    retry_after: float | str | None = None
    body: Any = None
    delay: float | None = None
    drop: bool = False
    after_apply: bool = False
    plane: str | None = None
    matches: int = field(default=0, init=False)
    hits: int = field(default=0, init=False)
    _pattern: re.Pattern[str] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.method is not None:
            self.method = self.method.upper()
        if self.status is not None and not 100 <= self.status <= 599:
            raise ValueError(f"status must be an HTTP status code, got {self.status!r}")
        if self.times is not None and self.times < 0:
            raise ValueError("times must be >= 0 or None")
        if self.skip < 0:
            raise ValueError("skip must be >= 0")
        if self.delay is not None and self.delay < 0:
            raise ValueError("delay must be >= 0")
        if self.plane is not None and self.plane not in PLANES:
            raise ValueError(f"plane must be one of {PLANES}, got {self.plane!r}")
        self._pattern = re.compile(self.path) if self.path is not None else None

    @property
    def spent(self) -> bool:
        """True once the rule has fired ``times`` times."""
        return self.times is not None and self.hits >= self.times

    def matches_request(self, record: RequestRecord) -> bool:
        """Whether this rule's filters select the request (regardless of skip/times)."""
        if self.method is not None and record.method != self.method:
            return False
        if self.plane is not None and record.plane != self.plane:
            return False
        if self._pattern is not None and not self._pattern.search(record.path):
            return False
        if self.token is not None and record.token != self.token:
            return False
        return self.predicate is None or bool(self.predicate(record))

    def claim(self) -> bool:
        """Count one matching request; true when this one gets the fault (the first ``skip`` pass)."""
        self.matches += 1
        if self.matches <= self.skip:
            return False
        self.hits += 1
        return True

    def response(self, plane: str = "platform") -> Response:
        """The injected error response (only meaningful when ``status`` is set), in ``plane``'s dialect."""
        status = self.status if self.status is not None else 503
        body = self.body
        if body is None and plane == "gateway":
            body = gateway_error_body(GATEWAY_CODES.get(status, "api_error"), "Injected fault")
        elif body is None:
            body = DEFAULT_BODIES.get(status, DEFAULT_BODY)
        headers = {"Retry-After": _retry_after(self.retry_after)} if self.retry_after is not None else {}
        return Response(status, body, headers)


def resolve_status(status: StatusArg, *, delay: float | None, drop: bool) -> int | None:
    """Turn ``fail(status=...)`` into the rule's status: unset means 503 unless the rule delays or drops."""
    if status is UNSET:
        return None if (delay is not None or drop) else 503
    return status


def _retry_after(value: float | str) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
