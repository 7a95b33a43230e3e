"""HTTP primitives shared by the fake platform's views, fault rules and server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Stream:
    """A body sent in chunks, as a file server streams it: ``length`` bytes of ``content_type``."""

    chunks: Iterator[bytes]
    length: int
    content_type: str


@dataclass
class Response:
    """A response to send: ``body`` None means no body, str/bytes go out as text, a Stream in chunks, else JSON."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def encode(self) -> tuple[bytes, str | None]:
        """The wire bytes of the body and their content type (None when there is no body)."""
        if self.body is None:
            return b"", None
        if isinstance(self.body, bytes):
            return self.body, "text/plain"
        if isinstance(self.body, str):
            return self.body.encode(), "text/plain; charset=utf-8"
        return json.dumps(self.body).encode(), "application/json"


class ApiError(Exception):
    """An error response raised from inside a view, DRF style."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}

    def response(self) -> Response:
        """The response this error stands for."""
        return Response(self.status, self.body, dict(self.headers))


def not_found() -> ApiError:
    """DRF's 404."""
    return ApiError(404, {"detail": "Not found."})


def permission_denied() -> ApiError:
    """DRF's 403, as the platform sends it for owner lists without (or with someone else's) ``user_id``."""
    return ApiError(403, {"detail": "You do not have permission to perform this action.", "code": "permission_denied"})


def validation_error(errors: dict[str, Any]) -> ApiError:
    """DRF's 400 with a field-error dict."""
    return ApiError(400, errors)
