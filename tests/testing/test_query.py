"""The offline platform's one query toolkit: one answer per question, the backend ledger's, on every route."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import requests

from airflow_provider_acedata.testing import FakeAceDataPlatform
from airflow_provider_acedata.testing import _query as q
from airflow_provider_acedata.testing._http import ApiError

START = datetime(2026, 3, 1, tzinfo=UTC)


def rejected(call, *args, **kwargs) -> dict:
    with pytest.raises(ApiError) as raised:
        call(*args, **kwargs)
    assert raised.value.status == 400
    return dict(raised.value.body)


def test_page_takes_a_limit_of_1_to_100_and_answers_400_outside() -> None:
    rows = [{"id": str(n)} for n in range(250)]

    assert len(q.page(rows, {}).body["items"]) == 10
    assert len(q.page(rows, {"limit": ["100"]}).body["items"]) == 100
    assert q.page(rows, {"limit": ["5"], "offset": ["248"]}).body == {"count": 250, "items": rows[248:]}
    for query, name in (({"limit": ["101"]}, "limit"), ({"limit": ["0"]}, "limit"), ({"offset": ["-1"]}, "offset")):
        assert list(rejected(q.page, rows, query)) == [name]
    assert rejected(q.page, rows, {"limit": ["500"]}) == {"limit": ["Ensure this value is less than or equal to 100."]}


def test_page_copies_rows_so_callers_cannot_change_the_store() -> None:
    rows = [{"id": "a"}]
    served = q.page(rows, {}).body["items"]
    served[0]["id"] = "changed"
    assert rows == [{"id": "a"}]


def test_ordered_by_allowed_fields_with_ties_broken_by_id() -> None:
    rows = [
        {"id": "b", "created_at": "2", "rank": 1},
        {"id": "a", "created_at": "2", "rank": 2},
        {"id": "c", "created_at": "1", "rank": 2},
    ]

    assert [r["id"] for r in q.ordered(rows, {}, q.CREATED)] == ["b", "a", "c"]
    assert [r["id"] for r in q.ordered(rows, {"ordering": ["created_at"]}, q.CREATED)] == ["c", "a", "b"]
    assert [r["id"] for r in q.ordered(rows, {}, q.CREATED, default=None)] == ["b", "a", "c"]
    both = q.ordered(rows, {"ordering": ["rank,-created_at"]}, ("rank", "-created_at"))
    assert [r["id"] for r in both] == ["b", "a", "c"]
    assert list(rejected(q.ordered, rows, {"ordering": ["token"]}, q.CREATED)) == ["ordering"]


def test_presorted_rows_are_not_sorted_again() -> None:
    rows = [{"id": "1", "created_at": "1"}, {"id": "2", "created_at": "2"}]

    assert q.ordered(rows, {"ordering": ["created_at"]}, q.CREATED, presorted=True) == rows
    assert q.ordered(rows, {}, q.CREATED, presorted=True) == rows[::-1]


def test_known_names_every_unknown_parameter() -> None:
    assert q.known({"user_id": ["me"]}, {"user_id"}) == {"user_id": ["me"]}
    assert rejected(q.known, {"alias": ["x"], "colour": ["red"], "user_id": ["me"]}, {"user_id"}).keys() == {
        "alias",
        "colour",
    }


def test_choices_repeat_and_split_commas_only_where_asked() -> None:
    query = {"state": ["Paid,Pending", "Failed"]}

    assert q.choices(query, "state", ("Paid", "Pending", "Failed"), comma=True) == ["Paid", "Pending", "Failed"]
    assert list(rejected(q.choices, query, "state", ("Paid", "Pending", "Failed"))) == ["state"]


def test_scalars_uuids_and_times() -> None:
    value = str(uuid.uuid4()).upper()

    assert q.uuids({"id": [value]}, "id") == [value.lower()]
    assert list(rejected(q.uuids, {"id": ["nope"]}, "id")) == ["id"]
    assert q.boolean({"private": ["1"]}, "private") is True
    assert q.boolean({}, "private") is None
    assert list(rejected(q.boolean, {"private": ["yes"]}, "private")) == ["private"]
    assert q.moment({"t": ["2026-03-01T00:00:00"]}, "t") == "2026-03-01T00:00:00.000000Z"
    assert list(rejected(q.moment, {"t": ["soon"]}, "t")) == ["t"]
    assert q.integer({"n": ["7"]}, "n", 1, 0, 10) == 7


@pytest.fixture
def fake() -> Iterator[FakeAceDataPlatform]:
    with FakeAceDataPlatform() as platform:
        yield platform


def get(fake: FakeAceDataPlatform, path: str, **params: object) -> requests.Response:
    headers = {"Authorization": f"Bearer {fake.token}"}
    return requests.get(f"{fake.api_url}{path}", params=params, headers=headers, timeout=5)


def application(fake: FakeAceDataPlatform, alias: str) -> str:
    headers = {"Authorization": f"Bearer {fake.token}"}
    body = {"service_id": fake.service_id(alias)}
    return str(requests.post(f"{fake.api_url}/applications/", json=body, headers=headers, timeout=5).json()["id"])


@pytest.mark.parametrize(
    "path",
    ["/platform-tokens/", "/applications/", "/credentials/", "/usage/apis/", "/orders/", "/services/"],
)
def test_every_list_route_answers_the_same_to_a_limit_over_100(fake: FakeAceDataPlatform, path: str) -> None:
    """Both modules used to disagree: platform routes clamped a limit over 100, monitoring routes refused it."""
    owner = {} if path == "/services/" else {"user_id": "me"}
    over = get(fake, path, **owner, limit=101)
    at_most = get(fake, path, **owner, limit=100)

    assert over.status_code == 400
    assert list(over.json()) == ["limit"]
    assert at_most.status_code == 200


@pytest.mark.parametrize("path", ["/applications/", "/usage/apis/"])
def test_every_list_route_refuses_an_ordering_it_cannot_apply(fake: FakeAceDataPlatform, path: str) -> None:
    response = get(fake, path, user_id="me", ordering="elapsed")

    assert response.status_code == 400
    assert list(response.json()) == ["ordering"]


def test_writes_and_details_take_only_the_ledgers_query_parameters(fake: FakeAceDataPlatform) -> None:
    headers = {"Authorization": f"Bearer {fake.token}"}
    created = requests.post(
        f"{fake.api_url}/applications/",
        params={"limit": 5},
        json={"service_id": fake.service_id("suno")},
        headers=headers,
        timeout=5,
    )
    assert created.status_code == 400
    assert list(created.json()) == ["limit"]
    app = application(fake, "suno")
    assert get(fake, f"/applications/{app}", limit=5).status_code == 200
    assert list(get(fake, f"/applications/{app}", user_id="me").json()) == ["user_id"]


def test_order_states_may_be_comma_separated(fake: FakeAceDataPlatform) -> None:
    app = application(fake, "suno")
    fake.add_orders(app, count=1, start=START, end=START + timedelta(hours=1), state="Paid")
    fake.add_orders(app, count=2, start=START, end=START + timedelta(hours=1), state="Pending", seed=1)

    assert get(fake, "/orders/", user_id="me", state="Paid,Pending").json()["count"] == 3
