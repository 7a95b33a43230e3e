"""AceDataHook monitoring methods against requests-mock: query shape, edges, counts, secrets, input checks."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from testdata import API, USER

from airflow_provider_acedata.exceptions import AceDataInputError

APP_ID = "107f8d0f-e465-4a7e-a49e-d633d26f7aa2"
START = "2026-03-01T00:00:00Z"
END = datetime(2026, 3, 2, tzinfo=timezone.utc)


def usage(record_id: str, created_at: str) -> dict:
    return {
        "id": record_id,
        "created_at": created_at,
        "credential": {"id": "c1", "name": "ci", "token": "sk-live-secret-value-1234"},
        "metadata": {"authorization": "Bearer abc-secret-xyz", "model": "gpt"},
    }


def test_iter_usage_sends_the_filters_and_drops_both_edges(hook, me, requests_mock):
    route = requests_mock.get(
        f"{API}/usage/apis/",
        json={
            "count": 3,
            "items": [
                usage("a", "2026-02-28T23:59:59.999999Z"),
                usage("b", "2026-03-01T00:00:00.000000Z"),
                usage("c", "2026-03-02T00:00:00.000000Z"),
            ],
        },
    )

    records = list(
        hook.iter_usage(created_at_from=START, created_at_to=END, application_id=APP_ID, status_code=[200, "429"])
    )

    assert [r["id"] for r in records] == ["b"]
    query = route.last_request.qs
    assert query["user_id"] == [USER["id"]]
    assert query["created_at_from"] == ["2026-03-01t00:00:00.000000z"]
    assert query["created_at_to"] == ["2026-03-02t00:00:00.000000z"]
    assert query["application_id"] == [APP_ID]
    assert query["status_code"] == ["200", "429"]
    assert query["ordering"] == ["created_at"]


def test_usage_records_leave_the_hook_without_token_like_values(hook, me, requests_mock):
    requests_mock.get(f"{API}/usage/apis/", json={"count": 1, "items": [usage("b", "2026-03-01T01:00:00Z")]})

    [record] = hook.iter_usage(created_at_from=START, created_at_to=END)

    assert record["credential"] == {"id": "c1", "name": "ci"}
    assert record["metadata"] == {"authorization": None, "model": "gpt"}
    assert "secret" not in repr(record)


def test_count_usage_leaves_out_records_at_exactly_the_end(hook, me, requests_mock):
    requests_mock.get(
        f"{API}/usage/apis/",
        json={
            "count": 5,
            "items": [usage("z", "2026-03-02T00:00:00Z"), usage("y", "2026-03-01T23:00:00Z")],
        },
    )

    assert hook.count_usage(created_at_from=START, created_at_to=END) == 4


def test_orders_blank_payment_links(hook, me, requests_mock):
    order = {"id": APP_ID, "created_at": "2026-03-01T05:00:00Z", "pay_url": "https://pay/x", "pay_id": "pi_1"}
    requests_mock.get(f"{API}/orders/", json={"count": 1, "items": [order]})
    requests_mock.get(f"{API}/orders/{APP_ID}", json=order)

    [listed] = hook.iter_orders(state=["Paid", "Finished"], created_at_from=START, created_at_to=END)

    assert listed["pay_url"] is None and listed["pay_id"] is None
    assert hook.get_order(APP_ID)["pay_id"] is None
    assert requests_mock.request_history[-2].qs["state"] == ["paid", "finished"]


def test_aggregate_usage_sends_the_window(hook, me, requests_mock):
    route = requests_mock.get(f"{API}/usage/apis/aggregate/", json={"total": 1.5, "items": [], "apis": {}})

    assert hook.aggregate_usage(start_time=START, end_time=END, timezone="Asia/Shanghai")["total"] == 1.5
    assert route.last_request.qs["timezone"] == ["asia/shanghai"]


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda h: h.iter_usage(created_at_from=END, created_at_to=START), "created_at_to"),
        (lambda h: h.iter_usage(created_at_from=START, created_at_to=END, service_id="x"), "service_id"),
        (lambda h: h.iter_usage(created_at_from=START, created_at_to=END, status_code=700), "status_code"),
        (lambda h: h.iter_orders(state="Done"), "state"),
        (lambda h: h.iter_orders(created_at_from=START), "created_at_to"),
        (lambda h: h.get_order("42"), "order_id"),
        (lambda h: h.aggregate_usage(start_time=START, end_time=END, colour="red"), "colour"),
    ],
)
def test_bad_filters_fail_before_any_request(hook, requests_mock, call, field):
    with pytest.raises(AceDataInputError, match=field):
        call(hook)

    assert requests_mock.request_history == []
