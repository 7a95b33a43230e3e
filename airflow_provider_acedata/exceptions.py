"""Exceptions raised by the Ace Data Cloud provider.

Every API error keeps what a caller (or an Airflow 3.3 retry policy) needs to decide what to do: the HTTP
status, the API's error code and message, the method and path, the request id and ``Retry-After``. None of
them ever holds the platform token: the hook redacts it before building the message.
"""

from __future__ import annotations

from typing import Any


class AceDataError(Exception):
    """Base class of every error this provider raises."""


class AceDataInputError(AceDataError, ValueError):
    """A parameter is invalid; raised before any HTTP request is made."""


class AceDataConfigError(AceDataError, ValueError):
    """The Airflow connection is unusable (missing token, plain http to a remote host, bad extra)."""


class AceDataTransportError(AceDataError):
    """The request did not get an HTTP answer: connection refused or dropped, or timed out.

    A write that fails this way may or may not have been applied by the server.
    """

    def __init__(self, message: str, *, method: str, path: str, timed_out: bool = False) -> None:
        super().__init__(message)
        self.method = method
        self.path = path
        self.timed_out = timed_out


class AceDataApiError(AceDataError):
    """The platform answered with an error status."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        method: str,
        path: str,
        code: str | None = None,
        api_message: str | None = None,
        field_errors: dict[str, Any] | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.method = method
        self.path = path
        self.code = code
        self.api_message = api_message
        self.field_errors = field_errors or {}
        self.request_id = request_id
        self.retry_after = retry_after

    @property
    def trace_id(self) -> str | None:
        """The gateway's name for the request id (``trace_id``), which support asks for."""
        return self.request_id

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status_code={self.status_code}, code={self.code!r}, {self.args[0]!r})"


class AceDataAuthenticationError(AceDataApiError):
    """401: the token is missing, revoked or expired."""


class AceDataPermissionError(AceDataApiError):
    """403: the token may not do this (owner lists need ``user_id``; admin-only routes)."""


class AceDataInsufficientBalanceError(AceDataPermissionError):
    """403 ``used_up``: the application's balance (or the Global one it may fall back to) is used up."""


class AceDataNotFoundError(AceDataApiError):
    """404: no such object, or it belongs to another account."""


class AceDataValidationError(AceDataApiError):
    """400: the platform rejected the request body; ``field_errors`` maps each field to its messages."""


class AceDataDuplicationError(AceDataValidationError):
    """The object already exists (error code ``duplication``)."""


class AceDataRateLimitError(AceDataApiError):
    """429: too many requests; ``retry_after`` holds the server's hint in seconds, if any."""


class AceDataServerError(AceDataApiError):
    """5xx: the platform failed; safe to retry for reads."""


class AceDataConflictError(AceDataError):
    """An object exists that the operator was told not to reuse (``if_exists="fail"``)."""


ERRORS_BY_STATUS: dict[int, type[AceDataApiError]] = {
    400: AceDataValidationError,
    401: AceDataAuthenticationError,
    403: AceDataPermissionError,
    404: AceDataNotFoundError,
    429: AceDataRateLimitError,
}


def error_class(status: int, code: str | None = None) -> type[AceDataApiError]:
    """The exception type for an error answer: by the API's error code first, then by HTTP status."""
    if code == "duplication" or status == 409:
        return AceDataDuplicationError
    if code == "used_up":
        return AceDataInsufficientBalanceError
    if status in ERRORS_BY_STATUS:
        return ERRORS_BY_STATUS[status]
    return AceDataServerError if status >= 500 else AceDataApiError


class AceDataTaskFailedError(AceDataError):
    """A gateway task ended failed (or its submit was answered with a failure); nothing was resubmitted.

    Keeps the gateway's error ``code`` (None when it gave none), its message (``api_message``), the task id
    and the ``trace_id`` that support asks for.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str,
        code: str | None,
        api_message: str,
        task_id: str | None,
        trace_id: str | None,
    ) -> None:
        super().__init__(message)
        self.path = path
        self.code = code
        self.api_message = api_message
        self.task_id = task_id
        self.trace_id = trace_id


class AceDataSubmitUnknownError(AceDataError):
    """A submit got no answer (timeout, dropped connection, a killed try): it may have created a paid task.

    Nothing is submitted again for this task instance until it is cleared: check the call records first.
    """


class AceDataExportError(AceDataError):
    """An export could not prove it wrote each record exactly once; the destination was left untouched."""


class AceDataLowBalanceError(AceDataError):
    """Applications are below the balance threshold; failing the task lets callbacks and notifiers alert."""
