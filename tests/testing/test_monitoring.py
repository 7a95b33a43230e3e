"""The offline platform's call records and orders: seeding, the ledger's query schemas, the mid-listing switch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import requests

START = datetime(2026, 3, 1, tzinfo=UTC)
END = START + timedelta(days=1)


@pytest.fixture
def get(platform):
    def call(path: str, **params):
        headers = {"Authorization": f"Bearer {platform.token}"}
        return requests.get(f"{platform.api_url}{path}", params=params, headers=headers, timeout=10)

    return call


def test_seeding_is_deterministic_and_spread_over_the_interval(platform, app_id):
    first = platform.add_usage(app_id, count=10, start=START, end=END)
    again = platform.add_usage(app_id, count=10, start=START, end=END)

    assert [r["id"] for r in first] == [r["id"] for r in again]
    assert first[0]["created_at"] == "2026-03-01T00:00:00.000000Z"
    assert first[-1]["created_at"] < "2026-03-02T00:00:00.000000Z"


def test_usage_list_pages_in_created_at_order_with_an_inclusive_to(platform, app_id, get):
    platform.add_usage(app_id, count=5, start=START, end=END)
    platform.add_usage(app_id, count=1, start=END, end=END + timedelta(microseconds=1), seed=1)
    query = {"user_id": "me", "created_at_from": "2026-03-01T00:00:00Z", "created_at_to": "2026-03-02T00:00:00Z"}

    page = get("/usage/apis/", **query, ordering="created_at", limit=4).json()

    assert page["count"] == 6
    stamps = [item["created_at"] for item in page["items"]]
    assert stamps == sorted(stamps) and len(stamps) == 4
    assert page["items"][0]["credential"].keys() == {"id", "name"}


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/usage/apis/", {"user_id": "me", "colour": "red"}, "colour"),
        ("/usage/apis/", {"user_id": "me", "limit": 101}, "limit"),
        ("/usage/apis/", {"user_id": "me", "ordering": "elapsed"}, "ordering"),
        ("/usage/apis/", {"user_id": "me", "created_at_from": "soon"}, "created_at_from"),
        ("/usage/apis/", {"user_id": "me", "perspective": "mine"}, "perspective"),
        ("/orders/", {"user_id": "me", "state": "Done"}, "state"),
        ("/orders/", {"user_id": "me", "application_id": "x"}, "application_id"),
        ("/usage/apis/aggregate/", {"perspective": "both"}, "perspective"),
    ],
)
def test_queries_outside_the_ledger_schema_are_400_naming_the_field(platform, get, path, params, field):
    response = get(path, **params)

    assert response.status_code == 400
    assert field in response.json()


def test_owner_lists_need_user_id(platform, get):
    assert get("/usage/apis/").status_code == 403
    assert get("/orders/").status_code == 403


def test_another_users_records_are_invisible(platform, get):
    other = next(u for u in platform.users if u["username"] == "other")
    [other_app] = platform.applications(other["id"])
    [record] = platform.add_usage(other_app["id"], count=1, start=START, end=END)
    [order] = platform.add_orders(other_app["id"], count=1, start=START, end=END)

    assert get("/usage/apis/", user_id="me").json()["count"] == 0
    assert get(f"/usage/apis/{record['id']}").status_code == 404
    assert get(f"/orders/{order['id']}").status_code == 404


def test_switch_inserts_records_after_each_page(platform, app_id, get):
    platform.add_usage(app_id, count=3, start=START, end=END)
    platform.insert_while_listing("usage", per_page=2)

    assert get("/usage/apis/", user_id="me", limit=1).json()["count"] == 3
    assert get("/usage/apis/", user_id="me", limit=1).json()["count"] == 5


def test_aggregate_sums_spend_per_day_and_api(platform, app_id, get):
    records = platform.add_usage(app_id, count=4, start=START, end=END)

    body = get("/usage/apis/aggregate/", user_id="me", start_time="2026-03-01T00:00:00Z").json()

    assert body["total"] == pytest.approx(sum(r["used_amount"] for r in records), abs=1e-3)
    assert {item["date"] for item in body["items"]} == {"2026-03-01"}
    assert set(body["apis"]) == {r["api_id"] for r in records}


def test_order_detail_and_filters(platform, app_id, get):
    [paid] = platform.add_orders(app_id, count=1, start=START, end=END, state="Paid")
    platform.add_orders(app_id, count=2, start=START, end=END, state="Pending", seed=1)

    assert get(f"/orders/{paid['id']}").json()["state"] == "Paid"
    assert get("/orders/", user_id="me", state="Paid").json()["count"] == 1
    assert get("/orders/", user_id="me", state=["Paid", "Pending"]).json()["count"] == 3
