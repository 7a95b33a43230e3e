"""Call records and orders of the offline platform: bulk seeding, the ledger's list filters, a mid-listing switch."""

from __future__ import annotations

import bisect
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from airflow_provider_acedata.testing import _query as q
from airflow_provider_acedata.testing._http import Response, not_found, validation_error
from airflow_provider_acedata.testing._store import PlatformStore, format_time

ORDER_STATES: Final = ("Pending", "Paid", "Finished", "Expired", "Failed", "Refunded")
PAY_WAYS: Final = (
    "WechatPay", "AliPay", "Stripe", "Card", "Airwallex", "X402", "PayPal", "AppleIAP", "Reward", "RechargeCard",
    "BankTransfer",
)  # fmt: skip
USAGE_QUERY: Final = frozenset(
    {"service_id", "application_id", "user_id", "api_id", "credential_id", "created_at_from", "created_at_to",
     "status_code", "perspective", "ordering"} | q.PAGING
)  # fmt: skip
AGGREGATE_QUERY: Final = frozenset(
    {"service_id", "application_id", "api_id", "credential_id", "user_id", "created_at_from", "start_time",
     "created_at_to", "end_time", "timezone", "include_models"} | q.PAGING
)  # fmt: skip
ORDER_QUERY: Final = frozenset(
    {"pay_way", "state", "created_at_from", "created_at_to", "finished_at_from", "finished_at_to", "user_id",
     "ordering"} | q.PAGING
)  # fmt: skip
USAGE_ORDERINGS: Final = ("created_at", "-created_at", "updated_at", "-updated_at")
ORDER_ORDERINGS: Final = ("created_at", "-created_at")
PERSPECTIVES: Final = ("billing", "actor", "both")

Query = q.Query


@dataclass
class _Table:
    """Records of one kind kept sorted by ``(created_at, id)``: interval reads are a bisect, not a scan."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    keys: list[tuple[str, str]] = field(default_factory=list)
    by_id: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, row: dict[str, Any]) -> None:
        key = (row["created_at"], row["id"])
        at = bisect.bisect_right(self.keys, key)
        self.keys.insert(at, key)
        self.rows.insert(at, row)
        self.by_id[row["id"]] = row

    def extend_sorted(self, rows: list[dict[str, Any]]) -> None:
        """Add many rows at once (one sort instead of one insert each)."""
        merged = sorted([*self.rows, *rows], key=lambda row: (row["created_at"], row["id"]))
        self.rows = merged
        self.keys = [(row["created_at"], row["id"]) for row in merged]
        self.by_id.update((row["id"], row) for row in rows)

    def between(self, start: str | None, end: str | None) -> list[dict[str, Any]]:
        """Rows with ``start <= created_at <= end`` (the backend's ``_from``/``_to`` read as ``gte``/``lte``)."""
        lo = 0 if start is None else bisect.bisect_left(self.keys, (start, ""))
        hi = len(self.rows) if end is None else bisect.bisect_right(self.keys, (end, "\uffff"))
        return self.rows[lo:hi]


@dataclass
class ListingSwitch:
    """While a listing is paged, insert ``per_page`` new records after each page served (``created_at`` from ``at``)."""

    kind: str
    per_page: int
    at: Callable[[], datetime]
    pages: int = 0


class MonitoringStore:
    """Call records and orders per user, with deterministic bulk seeding."""

    def __init__(self, store: PlatformStore) -> None:
        self.store = store
        self.tables: dict[tuple[str, str], _Table] = {}
        self.switch: ListingSwitch | None = None

    def table(self, kind: str, user_id: str) -> _Table:
        """The ``usage`` or ``orders`` table of one user (created empty)."""
        return self.tables.setdefault((kind, user_id), _Table())

    def find(self, kind: str, record_id: str, user_id: str) -> dict[str, Any] | None:
        """One record of this user by id, else None."""
        return self.table(kind, user_id).by_id.get(record_id)

    def add_usage(
        self,
        application_id: str,
        *,
        count: int,
        start: datetime,
        end: datetime,
        status_code: int = 200,
        seed: int = 0,
    ) -> list[dict[str, Any]]:
        """``count`` call records of an application spread evenly over ``[start, end)``; same seed, same records."""
        app = self._application(application_id)
        rng = random.Random(f"usage:{application_id}:{seed}")
        step = (end - start) / max(count, 1)
        rows = [self._usage_row(app, start + step * n, status_code, rng) for n in range(count)]
        with self.store.lock:
            self.table("usage", app["user_id"]).extend_sorted(rows)
        return rows

    def add_orders(
        self, application_id: str, *, count: int, start: datetime, end: datetime, state: str = "Finished", seed: int = 0
    ) -> list[dict[str, Any]]:
        """``count`` orders of an application spread evenly over ``[start, end)``; same seed, same orders."""
        app = self._application(application_id)
        rng = random.Random(f"orders:{application_id}:{seed}")
        step = (end - start) / max(count, 1)
        rows = [self._order_row(app, start + step * n, state, rng) for n in range(count)]
        with self.store.lock:
            self.table("orders", app["user_id"]).extend_sorted(rows)
        return rows

    def insert_while_listing(self, kind: str, per_page: int, at: Callable[[], datetime] | None = None) -> None:
        """After each page of ``kind`` (``usage`` or ``orders``) served, add ``per_page`` records stamped ``at()``."""
        if kind not in ("usage", "orders"):
            raise ValueError(f"kind must be 'usage' or 'orders', got {kind!r}")
        self.switch = ListingSwitch(kind, per_page, at or self.store.clock.now)

    def _application(self, application_id: str) -> dict[str, Any]:
        with self.store.lock:
            app = self.store.applications.get(str(uuid.UUID(application_id)))
            if app is None:
                raise KeyError(f"no application {application_id!r}")
            return app

    def _usage_row(self, app: dict[str, Any], moment: datetime, status_code: int, rng: random.Random) -> dict[str, Any]:
        """A call record of one of the application's service's catalogue APIs (any service's for a Global one)."""
        credential = next((c for c in self.store.credentials.values() if c["application_id"] == app["id"]), None)
        billable = [
            api
            for api in self.store.apis.values()
            if not api["path"].endswith("/tasks") and app["service_id"] in (None, api["service_id"])
        ]
        used = round(rng.uniform(0.01, 2.0), 4)
        stamp = format_time(moment)
        if billable:
            chosen = rng.choice(billable)
            api = {"id": chosen["id"], "path": chosen["path"], "title": chosen["title"]}
            service_id = chosen["service_id"]
        else:
            api_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            api = {"id": api_id, "path": "/v1/chat/completions", "title": "Chat Completions"}
            service_id = app["service_id"]
        service = self.store.services.get(service_id) if service_id else None
        return {
            "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "user_id": app["user_id"],
            "application_id": app["id"],
            "service_id": service_id,
            "api_id": api["id"],
            "api": api,
            "credential_id": credential and credential["id"],
            "credential": credential and {"id": credential["id"], "name": credential.get("name")},
            "status_code": status_code,
            "elapsed": round(rng.uniform(0.05, 9.0), 3),
            "trace_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "remaining_amount": round(rng.uniform(0, 1000), 4),
            "used_amount": used,
            "deducted_amount": used,
            "original_amount": used,
            "metadata": {},
            "service": service and {"id": service["id"], "alias": service["alias"], "title": service["title"]},
            "created_at": stamp,
            "updated_at": stamp,
        }

    def _order_row(self, app: dict[str, Any], moment: datetime, state: str, rng: random.Random) -> dict[str, Any]:
        stamp = format_time(moment)
        amount = rng.choice((1000, 5000, 20000))
        order_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        return {
            "id": order_id,
            "user_id": app["user_id"],
            "application_id": app["id"],
            "package_id": None,
            "amount": amount,
            "price": round(amount / 1000, 2),
            "discount": 1,
            "pay_way": "Stripe",
            "pay_id": f"pi_{uuid.UUID(int=rng.getrandbits(128)).hex}",
            "pay_url": f"https://checkout.example.test/pay/{order_id}",
            "state": state,
            "description": None,
            "scope": "Application",
            "metadata": {},
            "created_at": stamp,
            "updated_at": stamp,
            "finished_at": stamp if state == "Finished" else None,
        }

    def after_page(self, kind: str, user_id: str) -> None:
        """Run the mid-listing switch once a page of ``kind`` was served to this user."""
        switch = self.switch
        if switch is None or switch.kind != kind or switch.per_page <= 0:
            return
        switch.pages += 1
        table = self.table(kind, user_id)
        template = table.rows[-1] if table.rows else None
        if template is None:
            return
        for _ in range(switch.per_page):
            row = dict(template, id=str(uuid.uuid4()), created_at=format_time(switch.at()))
            row["updated_at"] = row["created_at"]
            table.add(row)


class MonitoringViews:
    """The ``/usage/apis/`` and ``/orders/`` views; the routes check the ledger's query schemas (``_query``)."""

    def __init__(self, monitoring: MonitoringStore) -> None:
        self.monitoring = monitoring

    def list_usage(self, request: Any) -> Response:
        query = request.query
        q.require_owner(query, request.user_id)
        q.choices(query, "perspective", PERSPECTIVES)
        rows = self._filtered(
            self.monitoring.table("usage", request.user_id),
            query,
            ("application_id", "service_id", "api_id", "credential_id"),
        )
        codes = q.values(query, "status_code")
        for code in codes:
            if not code.isdigit():
                raise validation_error({"status_code": ["A valid integer is required."]})
        if codes:
            rows = [row for row in rows if str(row["status_code"]) in codes]
        response = q.page(q.ordered(rows, query, USAGE_ORDERINGS, presorted=True), query)
        self.monitoring.after_page("usage", request.user_id)
        return response

    def get_usage(self, request: Any) -> Response:
        return Response(200, dict(_own(self.monitoring, "usage", request)))

    def aggregate_usage(self, request: Any) -> Response:
        query = request.query
        start = q.moment(query, "start_time") or q.moment(query, "created_at_from")
        end = q.moment(query, "end_time") or q.moment(query, "created_at_to")
        rows = [
            row
            for row in self.monitoring.table("usage", request.user_id).between(start, end)
            if _matches(row, query, ("application_id", "service_id", "api_id", "credential_id"))
        ]
        totals: dict[tuple[str, str], float] = {}
        apis: dict[str, dict[str, Any]] = {}
        for row in rows:
            key = (row["created_at"][:10], row["api_id"])
            totals[key] = totals.get(key, 0.0) + float(row["used_amount"])
            apis[row["api_id"]] = {"title": row["api"]["title"]}
        items = [
            {"date": date, "api_id": api_id, "amount": round(amount, 4)}
            for (date, api_id), amount in sorted(totals.items())
        ]
        return Response(200, {"total": round(sum(totals.values()), 4), "items": items, "apis": apis})

    def list_orders(self, request: Any) -> Response:
        query = request.query
        q.require_owner(query, request.user_id)
        states = q.choices(query, "state", ORDER_STATES, comma=True)
        ways = q.choices(query, "pay_way", PAY_WAYS, comma=True)
        rows = self._filtered(self.monitoring.table("orders", request.user_id), query, ())
        if states:
            rows = [row for row in rows if row["state"] in states]
        if ways:
            rows = [row for row in rows if row["pay_way"] in ways]
        finished_from, finished_to = q.moment(query, "finished_at_from"), q.moment(query, "finished_at_to")
        if finished_from or finished_to:
            rows = [
                row
                for row in rows
                if row["finished_at"]
                and (finished_from is None or row["finished_at"] >= finished_from)
                and (finished_to is None or row["finished_at"] <= finished_to)
            ]
        response = q.page(q.ordered(rows, query, ORDER_ORDERINGS, presorted=True), query)
        self.monitoring.after_page("orders", request.user_id)
        return response

    def get_order(self, request: Any) -> Response:
        return Response(200, dict(_own(self.monitoring, "orders", request)))

    @staticmethod
    def _filtered(table: _Table, query: Query, id_fields: tuple[str, ...]) -> list[dict[str, Any]]:
        rows = table.between(q.moment(query, "created_at_from"), q.moment(query, "created_at_to"))
        if any(q.values(query, name) for name in id_fields):
            rows = [row for row in rows if _matches(row, query, id_fields)]
        return rows


def _matches(row: dict[str, Any], query: Query, id_fields: tuple[str, ...]) -> bool:
    for name in id_fields:
        wanted = q.uuids(query, name)
        if wanted and str(row.get(name)) not in wanted:
            return False
    return True


def _own(monitoring: MonitoringStore, kind: str, request: Any) -> dict[str, Any]:
    row = monitoring.find(kind, request.params["id"], request.user_id)
    if row is None:
        raise not_found()
    return row
