"""Input checks shared by the hook and the operators, run before any HTTP request."""

from __future__ import annotations

import math
import uuid
from collections.abc import Collection
from datetime import UTC, datetime

from airflow_provider_acedata.exceptions import AceDataInputError

APPLICATION_TYPES = ("Usage", "Period")
APPLICATION_SCOPES = ("Individual", "Global")
SERVICE_TYPES = ("Api", "Proxy", "Integration", "Dataset", "Introduction", "Agent")


def require_uuid(field: str, value: object) -> str:
    """Return ``value`` as a canonical UUID string, or raise naming the field."""
    if isinstance(value, str) and looks_like_uuid(value):
        return str(uuid.UUID(value.strip()))
    raise AceDataInputError(f"{field} must be a UUID such as 'd87e5e99-b797-4ade-9e73-b896896b0461', got {value!r}")


def looks_like_uuid(value: str) -> bool:
    """Whether ``value`` parses as a UUID."""
    try:
        uuid.UUID(value.strip())
    except ValueError:
        return False
    return True


def require_choice(field: str, value: object, allowed: Collection[str]) -> str:
    """Return ``value`` if it is one of ``allowed``, or raise naming the field and the allowed values."""
    if isinstance(value, str) and value in allowed:
        return value
    choices = ", ".join(repr(a) for a in allowed)
    raise AceDataInputError(f"{field} must be one of {choices}, got {value!r}")


def application_key(service_id: str | None, application_type: str, scope: str) -> tuple[str | None, str, str]:
    """Validate the (service, type, scope) triple that identifies an application; Global needs no service."""
    application_type = require_choice("application_type", application_type, APPLICATION_TYPES)
    scope = require_choice("scope", scope, APPLICATION_SCOPES)
    if scope == "Global":
        if service_id not in (None, ""):
            raise AceDataInputError(
                "service_id must be empty when scope is 'Global' (a Global application spans all services)"
            )
        return None, application_type, scope
    return require_uuid("service_id", service_id), application_type, scope


def require_number(field: str, value: object, *, minimum: float | None = None) -> float:
    """Return ``value`` as a finite float (a number or a numeric string such as a rendered template), or raise."""
    number: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    if number is None or not math.isfinite(number):
        raise AceDataInputError(f"{field} must be a number, got {value!r}")
    if minimum is not None and number < minimum:
        raise AceDataInputError(f"{field} must be >= {minimum:g}, got {value!r}")
    return number


def require_text(field: str, value: object, *, max_length: int = 255) -> str:
    """Return ``value`` stripped if it is a non-empty string of at most ``max_length`` characters, or raise."""
    if isinstance(value, str) and value.strip() and len(value.strip()) <= max_length:
        return value.strip()
    raise AceDataInputError(f"{field} must be a non-empty string of at most {max_length} characters, got {value!r}")


def optional_datetime(field: str, value: object) -> str | None:
    """Return an ISO-8601 timestamp (UTC when no offset is given) for a datetime or ISO string; None if empty."""
    if value is None or value == "":
        return None
    moment: datetime | None = value if isinstance(value, datetime) else None
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            moment = None
    if moment is None:
        raise AceDataInputError(f"{field} must be an ISO-8601 timestamp such as '2030-01-31T00:00:00Z', got {value!r}")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.isoformat()


ORDER_STATES = ("Pending", "Paid", "Finished", "Expired", "Failed", "Refunded")
EXPORT_FORMATS = ("jsonl", "csv")


def require_datetime(field: str, value: object) -> datetime:
    """Return an aware datetime (UTC when no offset is given) for a datetime or ISO-8601 string, or raise."""
    text = optional_datetime(field, value)
    if text is None:
        raise AceDataInputError(f"{field} is required: an ISO-8601 timestamp such as '2030-01-31T00:00:00Z'")
    return datetime.fromisoformat(text)


def require_interval(
    start: object, end: object, *, now: datetime | None = None, start_field: str = "start", end_field: str = "end"
) -> tuple[datetime, datetime]:
    """Return ``[start, end)`` as aware datetimes; ``end`` after ``start`` and, when ``now`` is given, not after it."""
    begin, finish = require_datetime(start_field, start), require_datetime(end_field, end)
    if finish <= begin:
        raise AceDataInputError(f"{end_field} ({finish.isoformat()}) must be after {start_field} ({begin.isoformat()})")
    if now is not None and finish > now:
        raise AceDataInputError(
            f"{end_field} ({finish.isoformat()}) is in the future (now {now.isoformat()}): only a closed interval "
            "in the past can be exported exactly once"
        )
    return begin, finish


def platform_time(moment: datetime) -> str:
    """A timestamp as the platform renders and parses it: UTC, microseconds, ``Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def optional_uuids(field: str, value: object) -> list[str] | None:
    """Return one UUID or a list of them as canonical strings (a repeated query parameter), None if empty."""
    if value is None or value == "" or value == []:
        return None
    values = value if isinstance(value, list | tuple) else [value]
    return [require_uuid(field, item) for item in values]


def optional_status_codes(field: str, value: object) -> list[str] | None:
    """Return one HTTP status code or a list of them (100-599) as strings, None if empty."""
    if value is None or value == "" or value == []:
        return None
    values = value if isinstance(value, list | tuple) else [value]
    codes = []
    for item in values:
        text = str(item).strip()
        if isinstance(item, bool) or not text.isdigit() or not 100 <= int(text) <= 599:
            raise AceDataInputError(f"{field} must be HTTP status codes between 100 and 599, got {value!r}")
        codes.append(str(int(text)))
    return codes


def optional_choices(field: str, value: object, allowed: Collection[str]) -> list[str] | None:
    """Return one allowed value or a list of them, None if empty; raise naming the field and allowed values."""
    if value is None or value == "" or value == []:
        return None
    values = value if isinstance(value, list | tuple) else [value]
    return [require_choice(field, item, allowed) for item in values]


MAX_BATCH_IDS = 100


def require_api_path(field: str, value: object) -> str:
    """Return a gateway route such as ``/midjourney/imagine``, or raise naming the field and what is wrong.

    A route is a path on the connection's host: a leading slash, then the service and the API's segments;
    no scheme or host (the API key goes only to the connection's host), no query string, no ``..``.
    """
    example = "e.g. '/midjourney/imagine' or '/openai/chat/completions'"
    if not isinstance(value, str) or not value.strip():
        raise AceDataInputError(f"{field} must be a gateway route, {example}; got {value!r}")
    path = value.strip()
    problem = None
    if "://" in path or path.startswith("//"):
        problem = "holds a scheme or host; the API key goes only to the connection's host"
    elif not path.startswith("/"):
        problem = "must start with '/'"
    elif "?" in path or "#" in path:
        problem = "must not hold a query string or fragment; put options in the body"
    elif any(segment in (".", "..") for segment in path.split("/")):
        problem = "must not hold '.' or '..' segments"
    elif len([segment for segment in path.split("/") if segment]) < 2:
        problem = "needs the service and the API's segment"
    if problem:
        raise AceDataInputError(f"{field} {problem}, {example}; got {value!r}")
    return path.rstrip("/") or path


def api_service(path: str) -> str:
    """The service of a gateway route (its first segment): where its tasks are read (``/<service>/tasks``)."""
    return path.strip("/").split("/")[0]


def require_task_ids(field: str, value: object) -> list[str]:
    """Return 1 to ``MAX_BATCH_IDS`` non-empty task ids, or raise naming the field."""
    ids = [value] if isinstance(value, str) else value
    if (
        not isinstance(ids, list | tuple)
        or not 1 <= len(ids) <= MAX_BATCH_IDS
        or not all(isinstance(item, str) and item.strip() for item in ids)
    ):
        raise AceDataInputError(f"{field} must be 1 to {MAX_BATCH_IDS} task ids (non-empty strings), got {value!r}")
    return [item.strip() for item in ids]
