"""FakeAceDataPlatform over real sockets: the documented platform behaviour and every fault switch."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from airflow_provider_acedata.testing import FakeAceDataPlatform, FaultRule, RequestRecord

MIDJOURNEY = "d87e5e99-b797-4ade-9e73-b896896b0461"
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fake_platform() -> Iterator[FakeAceDataPlatform]:
    with FakeAceDataPlatform() as fake:
        yield fake


class Client:
    """A tiny bearer-token client for the fake's API."""

    def __init__(self, platform: FakeAceDataPlatform, token: str | None = None) -> None:
        self.base = platform.api_url
        self.session = requests.Session()
        self.token = token if token is not None else platform.token
        if self.token:
            self.session.headers["Authorization"] = f"Bearer {self.token}"

    def __call__(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 5)
        return self.session.request(method, self.base + path, **kwargs)


@pytest.fixture
def api(fake_platform: FakeAceDataPlatform) -> Client:
    return Client(fake_platform)


def test_url_token_user_and_connection_json(fake_platform: FakeAceDataPlatform) -> None:
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", fake_platform.url)
    assert fake_platform.api_url == fake_platform.url + "/api/v1"
    assert re.fullmatch(r"platform-v1-[0-9a-f]{64}", fake_platform.token)
    assert fake_platform.user["username"] == "demo"
    assert json.loads(fake_platform.connection_json()) == {
        "conn_type": "acedata",
        "host": fake_platform.url,
        "password": fake_platform.token,
    }
    assert json.loads(fake_platform.connection_json("other-token"))["password"] == "other-token"
    assert {s["alias"] for s in fake_platform.services} >= {"midjourney", "suno", "openai", "flux"}
    assert fake_platform.service_id("midjourney") == MIDJOURNEY
    assert any(s["free_amount"] > 0 for s in fake_platform.services)
    with pytest.raises(KeyError):
        fake_platform.service_id("nope")


def test_not_started_has_no_url() -> None:
    with pytest.raises(RuntimeError):
        _ = FakeAceDataPlatform().url


@pytest.mark.parametrize(
    ("headers", "detail"),
    [
        ({}, "Authentication credentials were not provided."),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "Authentication credentials were not provided."),
        ({"Authorization": "Bearer platform-v1-" + "0" * 64}, "Invalid token."),
        ({"Authorization": "Bearer "}, "Invalid token."),
    ],
)
def test_auth_required(fake_platform: FakeAceDataPlatform, headers: dict[str, str], detail: str) -> None:
    response = requests.get(fake_platform.api_url + "/platform-tokens/me/", headers=headers, timeout=5)
    assert response.status_code == 401
    assert response.json() == {"detail": detail}
    assert "platform-v1" not in response.text


def test_me(fake_platform: FakeAceDataPlatform, api: Client) -> None:
    for path in ("/platform-tokens/me/", "/platform-tokens/me"):
        response = api("GET", path)
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "application/json"
        assert response.json() == fake_platform.user
        assert set(response.json()) == {"id", "username", "email", "nickname", "avatar", "permissions"}
    assert fake_platform.live_tokens()[0]["used_at"] is not None


def test_token_lifecycle(fake_platform: FakeAceDataPlatform, api: Client) -> None:
    created = api("POST", "/platform-tokens/", json={"tags": ["rotation"], "metadata": {"dag": "d"}})
    assert created.status_code == 201
    token = created.json()
    assert set(token) == {
        "id",
        "user_id",
        "token",
        "expiration",
        "used_at",
        "created_at",
        "updated_at",
        "tags",
        "metadata",
    }
    assert token["user_id"] == fake_platform.user["id"]
    assert re.fullmatch(r"platform-v1-[0-9a-f]{64}", token["token"])
    assert (token["expiration"], token["used_at"], token["tags"]) == (None, None, ["rotation"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", token["created_at"])
    assert fake_platform.is_live(token["token"])

    bare = api("POST", "/platform-tokens/")
    assert bare.status_code == 201
    assert bare.json()["tags"] is None

    listed = api("GET", "/platform-tokens/", params={"user_id": "me", "tag": "rotation"}).json()
    assert listed == {"count": 1, "items": [token]}
    everything = api("GET", "/platform-tokens/", params={"user_id": fake_platform.user["id"]}).json()
    assert everything["count"] == 3
    assert everything["items"][0]["id"] == bare.json()["id"]

    assert api("GET", f"/platform-tokens/{token['id']}").json() == token
    assert api("GET", f"/platform-tokens/{token['id']}/").json() == token
    for method in ("PUT", "PATCH"):
        refused = api(method, f"/platform-tokens/{token['id']}", json={})
        assert refused.status_code == 405
        assert refused.json() == {"detail": f'Method "{method}" not allowed.'}

    own = Client(fake_platform, token["token"])
    assert own("GET", "/platform-tokens/me/").status_code == 200
    deleted = own("DELETE", f"/platform-tokens/{token['id']}/")
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert own("GET", "/platform-tokens/me/").status_code == 401
    assert not fake_platform.is_live(token["token"])
    assert api("DELETE", f"/platform-tokens/{token['id']}").status_code == 404
    assert api("GET", f"/platform-tokens/{token['id']}").json() == {"detail": "Not found."}


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({"tags": "x"}, {"tags": ['Expected a list of items but got type "str".']}),
        ({"tags": [1]}, {"tags": ["Not a valid string."]}),
        ({"metadata": [1]}, {"metadata": ['Expected a dictionary of items but got type "list".']}),
        ([], {"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}),
    ],
)
def test_token_validation(api: Client, body: Any, errors: dict[str, Any]) -> None:
    response = api("POST", "/platform-tokens/", json=body)
    assert response.status_code == 400
    assert response.json() == errors


def test_invalid_json(api: Client) -> None:
    response = api("POST", "/platform-tokens/", data=b"{nope", headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json() == {"detail": "JSON parse error"}


@pytest.mark.parametrize("collection", ["/platform-tokens/", "/applications/", "/credentials/"])
def test_owner_lists_require_own_user_id(fake_platform: FakeAceDataPlatform, api: Client, collection: str) -> None:
    forbidden = {
        "detail": "You do not have permission to perform this action.",
        "code": "permission_denied",
    }
    other, _ = fake_platform.create_user("mallory")
    for params in ({}, {"user_id": other["id"]}, {"user_id": ["me", other["id"]]}):
        response = api("GET", collection, params=params)
        assert response.status_code == 403
        assert response.json() == forbidden
    assert api("GET", collection.rstrip("/"), params={"user_id": "me"}).status_code == 200


def test_other_users_objects_are_invisible(fake_platform: FakeAceDataPlatform, api: Client) -> None:
    assert [u["username"] for u in fake_platform.users] == ["demo", "other"]
    other_id = fake_platform.users[1]["id"]
    assert fake_platform.applications() == []
    other_token = fake_platform.live_tokens(other_id)[0]
    other_app = fake_platform.applications(other_id)[0]
    other_credential = fake_platform.credentials(other_id)[0]
    assert other_app["credentials"] == [other_credential]
    assert api("GET", f"/platform-tokens/{other_token['id']}").status_code == 404
    assert api("DELETE", f"/platform-tokens/{other_token['id']}").status_code == 404
    assert api("GET", f"/applications/{other_app['id']}").status_code == 404
    assert api("GET", f"/credentials/{other_credential['id']}").status_code == 404
    assert api("POST", f"/credentials/{other_credential['id']}/rotate/").status_code == 404
    assert fake_platform.is_live(other_token["token"])
    assert api("GET", "/applications/", params={"user_id": "me"}).json() == {"count": 0, "items": []}
    stolen = api("POST", "/credentials/", json={"application_id": other_app["id"]})
    assert stolen.status_code == 400
    assert list(stolen.json()) == ["application_id"]
    other = Client(fake_platform, other_token["token"])
    assert other("GET", f"/applications/{other_app['id']}").json() == other_app


def test_pagination(fake_platform: FakeAceDataPlatform, api: Client) -> None:
    issued = [fake_platform.issue_token(tags=["bulk"]) for _ in range(250)]
    assert len({t["created_at"] for t in issued}) == 250
    fake_platform.clear_requests()
    seen: list[str] = []
    offset = 0
    while True:
        page = api(
            "GET",
            "/platform-tokens/",
            params={"user_id": "me", "limit": 100, "offset": offset, "ordering": "created_at"},
        ).json()
        assert page["count"] == 251
        if not page["items"]:
            break
        seen += [t["id"] for t in page["items"]]
        offset += len(page["items"])
        if offset >= page["count"]:
            break
    assert len(fake_platform.calls("GET", r"/platform-tokens/$")) == 3
    assert seen == [t["id"] for t in fake_platform.live_tokens()]
    assert seen[1:] == [t["id"] for t in issued]

    default = api("GET", "/platform-tokens/", params={"user_id": "me"}).json()
    assert len(default["items"]) == 10
    assert default["items"][0]["id"] == issued[-1]["id"]
    most = api("GET", "/platform-tokens/", params={"user_id": "me", "limit": 100}).json()
    assert len(most["items"]) == 100
    tail = api("GET", "/platform-tokens/", params={"user_id": "me", "offset": 245}).json()
    assert len(tail["items"]) == 6
    assert api("GET", "/platform-tokens/", params={"user_id": "me", "offset": 900}).json()["items"] == []
    tagged = api("GET", "/platform-tokens/", params={"user_id": "me", "tag": "bulk", "limit": 1}).json()
    assert tagged["count"] == 250
    for params, field in (
        ({"limit": "x"}, "limit"),
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"offset": -1}, "offset"),
        ({"ordering": "token"}, "ordering"),
        ({"colour": "red"}, "colour"),
    ):
        bad = api("GET", "/platform-tokens/", params={"user_id": "me", **params})
        assert bad.status_code == 400
        assert list(bad.json()) == [field]


def test_services(fake_platform: FakeAceDataPlatform) -> None:
    public = Client(fake_platform, token="")
    listing = public("GET", "/services/").json()
    assert listing["count"] == len(fake_platform.services)
    # The real server ignores ``alias`` (platform-api.md §3.2); the ledger lists no such filter, so the fake,
    # like for every parameter the ledger does not list, answers 400 naming it.
    alias = public("GET", "/services", params={"alias": "suno"})
    assert alias.status_code == 400
    assert list(alias.json()) == ["alias"]
    by_rank = public("GET", "/services/", params={"ordering": "rank", "limit": 100}).json()["items"]
    assert [s["alias"] for s in by_rank] == [s["alias"] for s in fake_platform.services]
    last_first = public("GET", "/services/", params={"ordering": "-rank", "limit": 100}).json()["items"]
    assert last_first == list(reversed(by_rank))
    service = next(s for s in listing["items"] if s["id"] == MIDJOURNEY)
    assert service["alias"] == "midjourney"
    assert {
        "id",
        "alias",
        "title",
        "type",
        "unit",
        "price",
        "description",
        "free_amount",
        "applied_count",
        "tags",
        "packages",
    } <= set(service)
    two = [fake_platform.service_id("suno"), fake_platform.service_id("flux")]
    assert {s["id"] for s in public("GET", "/services/", params={"id": two}).json()["items"]} == set(two)
    proxies = public("GET", "/services/", params={"type": "Proxy"}).json()
    assert [s["alias"] for s in proxies["items"]] == ["proxy"]
    assert public("GET", "/services/", params={"type": "Dataset"}).json() == {"count": 0, "items": []}
    assert public("GET", "/services/", params={"type": "Nope"}).status_code == 400
    assert public("GET", "/services/", params={"id": "nope"}).status_code == 400
    assert public("GET", f"/services/{MIDJOURNEY}").json()["alias"] == "midjourney"
    assert public("GET", "/services/midjourney/").json()["id"] == MIDJOURNEY
    assert public("GET", f"/services/{UNKNOWN_ID}").status_code == 404
    assert public("POST", "/services/", json={}).status_code == 405
    bad_token = Client(fake_platform, token="platform-v1-nope")
    assert bad_token("GET", "/services/").status_code == 401


def test_application_create_and_read(fake_platform: FakeAceDataPlatform, api: Client) -> None:
    flux = fake_platform.service_id("flux")
    response = api("POST", "/applications/", json={"service_id": flux})
    assert response.status_code == 201
    app = response.json()
    assert list(app) == [
        "id",
        "user_id",
        "service_id",
        "type",
        "scope",
        "remaining_amount",
        "used_amount",
        "paid",
        "disabled",
        "allow_consume_global",
        "expired_at",
        "credentials",
        "packages",
        "service",
        "tags",
        "metadata",
        "created_at",
        "updated_at",
    ]
    assert app["user_id"] == fake_platform.user["id"]
    assert (app["type"], app["scope"], app["remaining_amount"], app["used_amount"]) == (
        "Usage",
        "Individual",
        100,
        0,
    )
    assert (app["paid"], app["disabled"], app["allow_consume_global"]) == (False, False, True)
    assert app["service"] == {"id": flux, "alias": "flux", "name": "Flux"}
    assert len(app["credentials"]) == 1
    assert re.fullmatch(r"[0-9a-f]{32}", app["credentials"][0]["token"])

    duplicate = api("POST", "/applications/", json={"service_id": flux, "type": "Usage"})
    assert duplicate.status_code == 400
    assert duplicate.json() == {"detail": "Application already exists.", "code": "duplication"}
    period = api("POST", "/applications/", json={"service_id": flux, "type": "Period"})
    assert period.status_code == 201

    assert api("GET", f"/applications/{app['id']}").json() == app
    assert api("GET", f"/applications/{app['id']}/").json() == app
    assert api("GET", f"/applications/{UNKNOWN_ID}").status_code == 404
    for method in ("PUT", "PATCH", "DELETE"):
        assert api(method, f"/applications/{app['id']}/", json={}).status_code == 405

    listing = api("GET", "/applications/", params={"user_id": "me", "ordering": "created_at"}).json()
    assert [a["id"] for a in listing["items"]] == [app["id"], period.json()["id"]]
    only_period = api("GET", "/applications/", params={"user_id": "me", "type": "Period"}).json()
    assert only_period["count"] == 1
    by_service = api("GET", "/applications/", params={"user_id": "me", "service_id": [MIDJOURNEY, flux]})
    assert by_service.json()["count"] == 2
    assert [a["id"] for a in fake_platform.applications()] == [app["id"], period.json()["id"]]


def test_global_application(api: Client) -> None:
    created = api("POST", "/applications/", json={"scope": "Global", "allow_consume_global": False})
    assert created.status_code == 201
    assert (created.json()["service_id"], created.json()["service"]) == (None, None)
    assert created.json()["allow_consume_global"] is False
    again = api("POST", "/applications/", json={"scope": "Global"})
    assert again.json()["code"] == "duplication"
    listed = api("GET", "/applications/", params={"user_id": "me", "scope": "Global", "type": "Usage"})
    assert listed.json()["count"] == 1


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({"service_id": MIDJOURNEY, "type": "Foo"}, {"type": ['"Foo" is not a valid choice.']}),
        ({"service_id": MIDJOURNEY, "scope": "Team"}, {"scope": ['"Team" is not a valid choice.']}),
        ({}, {"service_id": ["This field is required."]}),
        ({"service_id": None}, {"service_id": ["This field may not be null."]}),
        ({"service_id": "abc"}, {"service_id": ["Must be a valid UUID."]}),
        ({"service_id": UNKNOWN_ID}, {"service_id": [f'Invalid pk "{UNKNOWN_ID}" - object does not exist.']}),
        (
            {"scope": "Global", "service_id": MIDJOURNEY},
            {"service_id": ["Must be empty for a Global application."]},
        ),
        (
            {"service_id": MIDJOURNEY, "allow_consume_global": "yes"},
            {"allow_consume_global": ["Must be a valid boolean."]},
        ),
        ({"service_id": MIDJOURNEY, "tags": "a"}, {"tags": ['Expected a list of items but got type "str".']}),
    ],
)
def test_application_validation(
    fake_platform: FakeAceDataPlatform, api: Client, body: dict[str, Any], errors: dict[str, Any]
) -> None:
    response = api("POST", "/applications/", json=body)
    assert response.status_code == 400
    assert response.json() == errors
    assert fake_platform.applications() == []


def test_credentials(fake_platform: FakeAceDataPlatform, api: Client) -> None:
    app = api("POST", "/applications/", json={"service_id": MIDJOURNEY}).json()
    created = api(
        "POST",
        "/credentials/",
        json={"application_id": app["id"], "name": "airflow", "limited_amount": 50, "tags": ["t"]},
    )
    assert created.status_code == 201
    credential = created.json()
    assert credential["type"] == "Token"
    assert (credential["name"], credential["limited_amount"], credential["used_amount"]) == ("airflow", 50, 0)
    assert (credential["application_id"], credential["user_id"]) == (app["id"], fake_platform.user["id"])
    assert re.fullmatch(r"[0-9a-f]{32}", credential["token"])

    by_name = api("GET", "/credentials/", params={"user_id": "me", "name": "airflow"}).json()
    assert by_name == {"count": 1, "items": [credential]}
    by_app = api("GET", "/credentials", params={"user_id": "me", "application_id": app["id"]}).json()
    assert by_app["count"] == 2
    assert api("GET", f"/credentials/{credential['id']}").json() == credential

    patched = api(
        "PATCH",
        f"/credentials/{credential['id']}/",
        json={"name": "renamed", "limited_amount": None, "expired_at": "2030-01-01T00:00:00Z"},
    ).json()
    assert (patched["name"], patched["limited_amount"], patched["expired_at"]) == (
        "renamed",
        None,
        "2030-01-01T00:00:00.000000Z",
    )
    assert patched["token"] == credential["token"]
    assert api("PATCH", f"/credentials/{credential['id']}", json={"limited_amount": -1}).status_code == 400

    rotated = api("POST", f"/credentials/{credential['id']}/rotate/")
    assert rotated.status_code == 200
    assert rotated.json()["id"] == credential["id"]
    assert rotated.json()["token"] != credential["token"]
    embedded = api("GET", f"/applications/{app['id']}").json()["credentials"]
    assert rotated.json() in embedded

    assert api("DELETE", f"/credentials/{credential['id']}").status_code == 204
    assert api("GET", f"/credentials/{credential['id']}/").status_code == 404
    assert len(fake_platform.credentials()) == 1
    missing = api("POST", "/credentials/", json={"name": "x"})
    assert missing.json() == {"application_id": ["This field is required."]}


def test_unknown_routes(fake_platform: FakeAceDataPlatform, api: Client) -> None:
    for path in ("/api/v1/nothing/", "/", "/api/v2/services/", "/api/v1/platform-tokens/a/b/c"):
        response = api.session.get(fake_platform.url + path, timeout=5, allow_redirects=False)
        assert response.status_code == 404
        assert response.json() == {"detail": "Not found."}


def test_request_log(fake_platform: FakeAceDataPlatform, api: Client) -> None:
    api("GET", "/platform-tokens/", params={"user_id": "me", "tag": ["a", "b"]})
    api("POST", "/platform-tokens/", json={"tags": ["x"]})
    requests.get(fake_platform.api_url + "/services/", timeout=5)
    records = fake_platform.requests
    assert [(r.method, r.path, r.status) for r in records] == [
        ("GET", "/api/v1/platform-tokens/", 200),
        ("POST", "/api/v1/platform-tokens/", 201),
        ("GET", "/api/v1/services/", 200),
    ]
    assert records[0].query == {"user_id": ["me"], "tag": ["a", "b"]}
    assert records[1].body == {"tags": ["x"]}
    assert [r.token for r in records] == [fake_platform.token, fake_platform.token, None]
    assert fake_platform.calls("post") == [records[1]]
    assert fake_platform.calls(path=r"^/api/v1/platform-tokens/$") == records[:2]
    assert isinstance(records[0], RequestRecord)
    fake_platform.clear_requests()
    assert fake_platform.requests == []


def test_fault_status_with_retry_after(fake_platform: FakeAceDataPlatform, api: Client) -> None:
    rule = fake_platform.fail(path=r"/platform-tokens/me/$", status=429, retry_after=3)
    throttled = api("GET", "/platform-tokens/me/")
    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"] == "3"
    assert throttled.json() == {"detail": "Request was throttled."}
    assert api("GET", "/platform-tokens/me/").status_code == 200
    assert rule.hits == 1
    assert [r.status for r in fake_platform.requests] == [429, 200]

    fake_platform.fail(method="GET", path="services", body="<html>bad gateway</html>", status=502)
    gateway = api("GET", "/services/")
    assert (gateway.status_code, gateway.text) == (502, "<html>bad gateway</html>")
    default = fake_platform.fail(path="services")
    assert api("GET", "/services/").json() == {"detail": "Injected fault"}
    assert default.status == 503


def test_fault_skip_and_times(fake_platform: FakeAceDataPlatform, api: Client) -> None:
    rule = fake_platform.fail(method="GET", path="me", skip=2, times=3)
    statuses = [api("GET", "/platform-tokens/me/").status_code for _ in range(7)]
    assert statuses == [200, 200, 503, 503, 503, 200, 200]
    assert (rule.hits, rule.matches, rule.spent) == (3, 5, True)
    assert api("POST", "/platform-tokens/").status_code == 201

    forever = fake_platform.fail(path="services", times=None)
    assert {api("GET", "/services/").status_code for _ in range(4)} == {503}
    assert forever.hits == 4
    fake_platform.clear_faults()
    assert api("GET", "/services/").status_code == 200


def test_fault_first_matching_rule_wins(fake_platform: FakeAceDataPlatform, api: Client) -> None:
    first = fake_platform.fail(path="me", status=500)
    second = fake_platform.fail(path="me", status=502)
    assert [api("GET", "/platform-tokens/me/").status_code for _ in range(3)] == [500, 502, 200]
    assert (first.hits, second.hits) == (1, 1)


def test_fault_delay_times_out_client(fake_platform: FakeAceDataPlatform, api: Client) -> None:
    fake_platform.fail(path="me", delay=2)
    started = time.monotonic()
    with pytest.raises(requests.Timeout):
        api("GET", "/platform-tokens/me/", timeout=0.2)
    assert time.monotonic() - started < 1
    assert api("GET", "/platform-tokens/me/").status_code == 200


def test_fault_delay_only_then_normal_response(fake_platform: FakeAceDataPlatform, api: Client) -> None:
    rule = fake_platform.fail(path="me", delay=0.2)
    assert rule.status is None
    started = time.monotonic()
    assert api("GET", "/platform-tokens/me/").status_code == 200
    assert time.monotonic() - started >= 0.2


def test_fault_drop(fake_platform: FakeAceDataPlatform, api: Client) -> None:
    fake_platform.fail(method="GET", path="me", drop=True)
    with pytest.raises(requests.ConnectionError):
        api("GET", "/platform-tokens/me/")
    assert fake_platform.requests[-1].status == 0
    assert api("GET", "/platform-tokens/me/").status_code == 200


def test_fault_after_apply(fake_platform: FakeAceDataPlatform, api: Client) -> None:
    fake_platform.fail(method="POST", path=r"/platform-tokens/$", drop=True, after_apply=True)
    with pytest.raises(requests.ConnectionError):
        api("POST", "/platform-tokens/", json={"tags": ["lost"]})
    tokens = fake_platform.live_tokens()
    assert len(tokens) == 2
    assert tokens[-1]["tags"] == ["lost"]

    fake_platform.fail(method="POST", path="applications", status=504, after_apply=True)
    assert api("POST", "/applications/", json={"service_id": MIDJOURNEY}).status_code == 504
    assert len(fake_platform.applications()) == 1

    fake_platform.fail(method="DELETE", path="platform-tokens", delay=1, after_apply=True)
    with pytest.raises(requests.Timeout):
        api("DELETE", f"/platform-tokens/{tokens[-1]['id']}/", timeout=0.2)
    assert not fake_platform.is_live(tokens[-1]["token"])


def test_fault_by_token_and_predicate(fake_platform: FakeAceDataPlatform, api: Client) -> None:
    new = fake_platform.issue_token()
    other = Client(fake_platform, new["token"])
    fake_platform.fail(token=new["token"], status=500, times=None)
    assert api("GET", "/platform-tokens/me/").status_code == 200
    assert other("GET", "/platform-tokens/me/").status_code == 500
    fake_platform.clear_faults()

    def wants_rotation(record: RequestRecord) -> bool:
        return isinstance(record.body, dict) and "rotation" in (record.body.get("tags") or [])

    fake_platform.fail(method="POST", predicate=wants_rotation, status=409)
    assert api("POST", "/platform-tokens/", json={"tags": ["other"]}).status_code == 201
    assert api("POST", "/platform-tokens/", json={"tags": ["rotation"]}).status_code == 409


def test_fault_rule_validation(fake_platform: FakeAceDataPlatform) -> None:
    with pytest.raises(ValueError):
        fake_platform.fail(status=42)
    with pytest.raises(ValueError):
        fake_platform.fail(skip=-1)
    assert isinstance(fake_platform.fail(status=None), FaultRule)


def test_balances(fake_platform: FakeAceDataPlatform, api: Client) -> None:
    app = api("POST", "/applications/", json={"service_id": MIDJOURNEY}).json()
    assert app["remaining_amount"] == 0
    fake_platform.set_balance(app["id"], 5)
    assert api("GET", f"/applications/{app['id']}").json()["remaining_amount"] == 5
    fake_platform.schedule_balance(app["id"], 42.5, after_seconds=0.3)
    assert api("GET", f"/applications/{app['id']}").json()["remaining_amount"] == 5
    time.sleep(0.35)
    assert api("GET", f"/applications/{app['id']}").json()["remaining_amount"] == 42.5
    assert fake_platform.applications()[0]["remaining_amount"] == 42.5
    with pytest.raises(KeyError):
        fake_platform.set_balance(UNKNOWN_ID, 1)


def test_cross_user_tokens(fake_platform: FakeAceDataPlatform) -> None:
    user, token = fake_platform.create_user("bob")
    bob = Client(fake_platform, token)
    assert bob("GET", "/platform-tokens/me/").json()["id"] == user["id"]
    listing = bob("GET", "/platform-tokens/", params={"user_id": user["id"]}).json()
    assert [t["token"] for t in listing["items"]] == [token]
    demo_token_id = fake_platform.live_tokens()[0]["id"]
    assert bob("DELETE", f"/platform-tokens/{demo_token_id}").status_code == 404
    assert fake_platform.is_live(fake_platform.token)
    assert fake_platform.live_tokens(user["id"])[0]["token"] == token


def test_keep_alive_session_survives_many_calls(api: Client) -> None:
    assert {api("GET", "/platform-tokens/me/").status_code for _ in range(50)} == {200}


def test_concurrent_creates_are_consistent(fake_platform: FakeAceDataPlatform) -> None:
    def create() -> None:
        client = Client(fake_platform)
        for _ in range(10):
            assert client("POST", "/platform-tokens/").status_code == 201

    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    tokens = fake_platform.live_tokens()
    assert len(tokens) == 81
    assert len({t["created_at"] for t in tokens}) == 81


def _read_lines(stream: Any, count: int, timeout: float) -> list[str]:
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for line in stream:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    return [lines.get(timeout=timeout).rstrip("\n") for _ in range(count)]


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_main_serves_until_signalled(stop_signal: signal.Signals) -> None:
    token = "platform-v1-" + "ab" * 32
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_acedata.testing", "--port", "0", "--token", token],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO_ROOT,
    )
    try:
        url, printed_token, export = _read_lines(proc.stdout, 3, timeout=10)
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url)
        assert printed_token == token
        assert export.startswith("export AIRFLOW_CONN_ACEDATA_DEFAULT='")
        conn = json.loads(export.split("=", 1)[1].strip("'"))
        assert conn == {"conn_type": "acedata", "host": url, "password": token}
        me = requests.get(url + "/api/v1/platform-tokens/me/", headers={"Authorization": f"Bearer {token}"}, timeout=5)
        assert me.json()["username"] == "demo"
        proc.send_signal(stop_signal)
        assert proc.wait(timeout=5) == 0
        assert proc.stderr is not None
        assert token not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)


def test_import_does_not_pull_in_airflow() -> None:
    code = (
        "import sys, airflow_provider_acedata.testing; "
        "sys.exit(any(m == 'airflow' or m.startswith('airflow.') for m in sys.modules))"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    assert subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO_ROOT, timeout=10).returncode == 0


def test_errors_inside_the_fake_become_500(fake_platform: FakeAceDataPlatform, api: Client) -> None:
    def broken(record: RequestRecord) -> bool:
        raise RuntimeError("boom")

    fake_platform.fail(predicate=broken)
    response = api("GET", "/platform-tokens/me/")
    assert response.status_code == 500
    assert [type(e) for e in fake_platform.errors] == [RuntimeError]
