"""Monitoring queries: checked filters, the half-open interval, sub-intervals, parameters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from airflow_provider_acedata.exceptions import AceDataInputError
from airflow_provider_acedata.queries import order_query, usage_query

START = datetime(2026, 3, 1, tzinfo=UTC)
END = START + timedelta(days=1)
APP_ID = "107f8d0f-e465-4a7e-a49e-d633d26f7aa2"


def record(at: datetime, **fields: object) -> dict:
    return {"id": at.isoformat(), "created_at": at.isoformat().replace("+00:00", "Z"), **fields}


def test_usage_query_parameters_are_canonical_and_repeated():
    query = usage_query(created_at_from=START, created_at_to=END, application_id=APP_ID.upper(), status_code=200)

    assert query.params("me-id") == {
        "application_id": [APP_ID],
        "status_code": ["200"],
        "created_at_from": "2026-03-01T00:00:00.000000Z",
        "created_at_to": "2026-03-02T00:00:00.000000Z",
        "user_id": "me-id",
    }


def test_within_keeps_the_half_open_interval_and_blanks_secrets():
    query = usage_query(created_at_from=START, created_at_to=END)
    records = [
        record(START - timedelta(microseconds=1)),
        record(START, credential={"id": "c", "name": "n", "token": "sk-secret-12345"}),
        record(END),
    ]

    kept = list(query.within(iter(records)))

    assert [r["id"] for r in kept] == [START.isoformat()]
    assert kept[0]["credential"] == {"id": "c", "name": "n"}


def test_between_narrows_the_interval_and_keeps_the_filters():
    query = usage_query(created_at_from=START, created_at_to=END, status_code=[500])
    half = query.between(START, START + timedelta(hours=12))

    assert half.params("u")["created_at_to"] == "2026-03-01T12:00:00.000000Z"
    assert half.params("u")["status_code"] == ["500"]
    assert list(half.within(iter([record(START + timedelta(hours=13))]))) == []


def test_order_query_without_an_interval_lists_everything_and_blanks_payment_links():
    query = order_query(state="Paid")

    assert "created_at_from" not in query.params("u")
    [order] = query.within(iter([record(START, pay_url="https://pay/x", pay_id="pi_1")]))
    assert order["pay_url"] is None and order["pay_id"] is None


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: order_query(created_at_to=END), "created_at_from and created_at_to"),
        (lambda: order_query(state="Done"), "state"),
        (lambda: usage_query(created_at_from=END, created_at_to=START), "created_at_to"),
        (lambda: usage_query(created_at_from=START, created_at_to=END, api_id="nope"), "api_id"),
    ],
)
def test_bad_input_names_the_field(build, field):
    with pytest.raises(AceDataInputError, match=field):
        build()
