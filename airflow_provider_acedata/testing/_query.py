"""The offline platform's one query toolkit: how every list route reads its query string.

One rule for every route, the backend route ledger's (the pinned ``mcp-acedatacloud`` wheel's
``contracts/management_surface.json``): what its query schema forbids is a 400 naming the parameter, DRF
style. Every list route's schema there sets ``limit`` to 1..100, ``offset`` >= 0 and
``additionalProperties: false``, so a ``limit`` over 100, a negative ``offset`` and an unknown parameter are
400s, never silently clamped or ignored. An ``ordering`` the route cannot apply is a 400 too: the real server
(DRF) may fall back to its default order instead, and a client paging on an order it did not get would skip
or repeat rows without noticing. Multi-valued filters repeat the parameter (``?type=Api&type=Proxy``); a
few fields the docs show comma-separated (orders' ``state``) also split on commas.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from airflow_provider_acedata.testing._http import Response, permission_denied, validation_error
from airflow_provider_acedata.testing._store import format_time

Query = dict[str, list[str]]
Row = dict[str, Any]

MAX_LIMIT: Final = 100
DEFAULT_LIMIT: Final = 10
PAGING: Final = frozenset({"limit", "offset"})
CREATED: Final = ("created_at", "-created_at")


def values(query: Query, name: str) -> list[str]:
    """Every non-empty value of a (repeatable) parameter, in order."""
    return [value for value in query.get(name, []) if value != ""]


def last(query: Query, name: str) -> str | None:
    """The last non-empty value of a parameter, else None."""
    found = values(query, name)
    return found[-1] if found else None


def known(query: Query, allowed: Iterable[str]) -> Query:
    """The query unchanged, or a 400 naming each parameter the route's ledger schema does not allow."""
    unknown = sorted(set(query) - set(allowed))
    if unknown:
        raise validation_error({name: ["Unknown query parameter."] for name in unknown})
    return query


def require_owner(query: Query, user_id: str) -> None:
    """Owner collections need ``user_id`` (``me`` or the caller's UUID); anything else is a 403."""
    found = values(query, "user_id")
    if not found or any(value not in ("me", user_id) for value in found):
        raise permission_denied()


def integer(query: Query, name: str, default: int, minimum: int, maximum: int | None = None) -> int:
    """An integer parameter within ``[minimum, maximum]``; 400 naming it otherwise."""
    raw = last(query, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise validation_error({name: ["A valid integer is required."]}) from None
    if value < minimum:
        raise validation_error({name: [f"Ensure this value is greater than or equal to {minimum}."]})
    if maximum is not None and value > maximum:
        raise validation_error({name: [f"Ensure this value is less than or equal to {maximum}."]})
    return value


def page(items: Sequence[Row], query: Query) -> Response:
    """A limit/offset page ``{count, items}``: ``limit`` 1..100 (default 10), ``offset`` >= 0."""
    limit = integer(query, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    offset = integer(query, "offset", 0, 0)
    return Response(200, {"count": len(items), "items": [dict(item) for item in items[offset : offset + limit]]})


def ordered(
    items: Sequence[Row],
    query: Query,
    allowed: Sequence[str],
    *,
    default: str | None = "-created_at",
    keys: dict[str, Callable[[Row], Any]] | None = None,
    presorted: bool = False,
) -> list[Row]:
    """Items in the requested ``ordering`` (comma-separated fields, ``-`` for descending), ``id`` breaking ties.

    Every field must be one of ``allowed`` (400 naming ``ordering`` otherwise). Without an ordering the
    ``default`` applies; ``None`` keeps the given order. ``keys`` maps a field to its sort key when the
    field is not a plain item key. ``presorted``: the items already come sorted by ``(created_at, id)``,
    so ordering by ``created_at`` either way needs no sort (call-record tables are kept that way).
    """
    raw = last(query, "ordering")
    parts = [part.strip() for part in raw.split(",") if part.strip()] if raw is not None else []
    for part in parts:
        if part not in allowed:
            choices = ", ".join(allowed)
            raise validation_error({"ordering": [f"Select a valid choice. {part} is not one of {choices}."]})
    if not parts:
        if default is None:
            return list(items)
        parts = [default]
    if presorted and parts in (["created_at"], ["-created_at"]):
        return list(items) if parts == ["created_at"] else list(reversed(items))
    result = list(items)
    for position, part in enumerate(reversed(parts)):
        key = _sort_key(part.lstrip("-"), keys or {}, tie_break=position == 0)
        result.sort(key=key, reverse=part.startswith("-"))
    return result


def _sort_key(name: str, keys: dict[str, Callable[[Row], Any]], *, tie_break: bool) -> Callable[[Row], Any]:
    """The sort key of one ordering field; the least significant one (sorted first) also breaks ties by ``id``."""
    field = keys.get(name) or (lambda item: item[name])
    if not tie_break:
        return field
    return lambda item: (field(item), str(item.get("id", "")))


def choices(query: Query, name: str, allowed: Sequence[str], *, comma: bool = False) -> list[str]:
    """The values of a choice filter, each one of ``allowed`` (400 naming the parameter otherwise)."""
    found = values(query, name)
    if comma:
        found = [part for value in found for part in value.split(",") if part]
    for value in found:
        if value not in allowed:
            message = f"Select a valid choice. {value} is not one of the available choices."
            raise validation_error({name: [message]})
    return found


def boolean(query: Query, name: str) -> bool | None:
    """A ``true``/``false`` filter (Django's BooleanFilter also takes ``1``/``0``); None when absent."""
    raw = last(query, name)
    if raw is None:
        return None
    lowered = raw.lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise validation_error({name: ["Select a valid choice. true or false."]})


def is_uuid(value: Any) -> bool:
    """Whether a value is a string holding a UUID."""
    if not isinstance(value, str):
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def canonical(value: Any) -> str:
    """A UUID in its canonical lowercase form (Django compares UUIDs, not strings); other values as given."""
    return str(uuid.UUID(value)) if is_uuid(value) else str(value)


def uuids(query: Query, name: str) -> list[str]:
    """A UUID filter's values, canonicalised; 400 naming it when one is not a UUID."""
    found = values(query, name)
    for value in found:
        if not is_uuid(value):
            raise validation_error({name: [f"“{value}” is not a valid UUID."]})
    return [canonical(value) for value in found]


def moment(query: Query, name: str) -> str | None:
    """An ISO-8601 time filter as the store renders times (UTC, microseconds, ``Z``); naive means UTC."""
    raw = last(query, name)
    if raw is None:
        return None
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise validation_error({name: ["Enter a valid date/time."]}) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return format_time(parsed)
