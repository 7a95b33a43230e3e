"""Bearer-token authentication for ``requests``."""

from __future__ import annotations

from requests import PreparedRequest
from requests.auth import AuthBase


class BearerAuth(AuthBase):
    """Send ``Authorization: Bearer <token>``; the token never shows in ``repr``."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: PreparedRequest) -> PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self) -> str:
        return "BearerAuth(token=***)"
