"""Monitoring queries: a listing of call records or orders, its checked filters and its half-open interval.

A query is built (and its input checked) before any request; the hook sends it. The platform's
``created_at_to`` may be inclusive, so the interval's edges are enforced here, on the records, too.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypedDict

from airflow_provider_acedata.exceptions import AceDataInputError
from airflow_provider_acedata.records import created_at, order_record, usage_record
from airflow_provider_acedata.validation import (
    ORDER_STATES,
    optional_choices,
    optional_status_codes,
    optional_uuids,
    platform_time,
    require_interval,
)

if TYPE_CHECKING:
    from typing import Required

    from typing_extensions import Unpack

USAGE_PATH = "/usage/apis/"
ORDERS_PATH = "/orders/"
UUID_FILTERS = ("application_id", "service_id", "credential_id", "api_id")


@dataclass(frozen=True)
class RecordQuery:
    """One listing of the account's records: where it is read, its filters and its interval ``[start, end)``.

    :param path: the collection (``/usage/apis/`` or ``/orders/``).
    :param filters: query parameters, each a list of values (a repeated parameter) or None.
    :param shape: what a record may carry out of the hook (secrets blanked).
    :param start: the interval's start (inclusive), or None for an unbounded listing.
    :param end: the interval's end (exclusive), or None.
    """

    path: str
    filters: Mapping[str, list[str] | None]
    shape: Callable[[dict[str, Any]], dict[str, Any]]
    start: datetime | None = None
    end: datetime | None = None

    def params(self, user_id: str) -> dict[str, Any]:
        """The query parameters for the account ``user_id``, oldest record first."""
        params: dict[str, Any] = {key: value for key, value in self.filters.items() if value is not None}
        if self.start is not None and self.end is not None:
            params["created_at_from"] = platform_time(self.start)
            params["created_at_to"] = platform_time(self.end)
        return {**params, "user_id": user_id}

    def between(self, start: datetime, end: datetime) -> RecordQuery:
        """The same query over ``[start, end)``."""
        return replace(self, start=start, end=end)

    def split(self, parts: int) -> list[RecordQuery]:
        """The query over ``parts`` consecutive sub-intervals of equal length covering ``[start, end)``, in order.

        Boundaries are rounded to the microsecond (the platform's resolution); an interval shorter than
        ``parts`` microseconds gives fewer, non-empty parts.
        """
        if self.start is None or self.end is None or parts <= 1:
            return [self]
        step = (self.end - self.start) / parts
        edges = [self.start + step * number for number in range(parts)] + [self.end]
        return [self.between(lo, hi) for lo, hi in itertools.pairwise(edges) if lo < hi]

    def within(self, records: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """The records created in ``[start, end)``, shaped: the platform's edges are not trusted either way."""
        for record in records:
            if self.start is None or self.end is None or self.start <= created_at(record) < self.end:
                yield self.shape(record)


class UsageFilters(TypedDict, total=False):
    """What selects call records: the interval ``[created_at_from, created_at_to)`` and optional filters.

    Each filter takes one value or a list of them (any of which matches).
    """

    created_at_from: Required[str | datetime]
    created_at_to: Required[str | datetime]
    application_id: str | list[str] | None
    service_id: str | list[str] | None
    credential_id: str | list[str] | None
    api_id: str | list[str] | None
    status_code: int | str | list[int | str] | None


class OrderFilters(TypedDict, total=False):
    """What selects orders: ``state`` (one or a list of ``ORDER_STATES``) and the interval ``[from, to)``."""

    state: str | list[str] | None
    created_at_from: str | datetime | None
    created_at_to: str | datetime | None


def usage_query(**filters: Unpack[UsageFilters]) -> RecordQuery:
    """The call records (``GET /usage/apis/``) created in ``[created_at_from, created_at_to)``, filtered."""
    start, end = require_interval(
        filters["created_at_from"], filters["created_at_to"], start_field="created_at_from", end_field="created_at_to"
    )
    params = {name: optional_uuids(name, filters.get(name)) for name in UUID_FILTERS}
    params["status_code"] = optional_status_codes("status_code", filters.get("status_code"))
    return RecordQuery(USAGE_PATH, params, usage_record, start, end)


def order_query(**filters: Unpack[OrderFilters]) -> RecordQuery:
    """The orders (``GET /orders/``), optionally only those in ``state`` or created in ``[from, to)``."""
    created_at_from, created_at_to = filters.get("created_at_from"), filters.get("created_at_to")
    params = {"state": optional_choices("state", filters.get("state"), ORDER_STATES)}
    given = [value not in (None, "") for value in (created_at_from, created_at_to)]
    if any(given) and not all(given):
        raise AceDataInputError("created_at_from and created_at_to must be given together (the interval [from, to))")
    if not any(given):
        return RecordQuery(ORDERS_PATH, params, order_record)
    start, end = require_interval(
        created_at_from, created_at_to, start_field="created_at_from", end_field="created_at_to"
    )
    return RecordQuery(ORDERS_PATH, params, order_record, start, end)
