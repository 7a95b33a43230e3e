"""The offline platform matches the real one where issue 14 found it diverged."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from airflow_provider_acedata.hooks.acedata import AceDataHook
from airflow_provider_acedata.testing import FakeAceDataPlatform

API_ID = "3fa85f64-5717-4562-b3fc-2c963f66afa6"


@pytest.fixture
def fidelity_platform() -> Iterator[FakeAceDataPlatform]:
    with FakeAceDataPlatform() as fake:
        yield fake


@pytest.fixture
def session(fidelity_platform: FakeAceDataPlatform) -> requests.Session:
    client = requests.Session()
    client.headers["Authorization"] = f"Bearer {fidelity_platform.token}"
    return client


def _call(platform: FakeAceDataPlatform, session: requests.Session, method: str, path: str, **kw: Any) -> Any:
    kw.setdefault("timeout", 5)
    return session.request(method, platform.api_url + path, **kw)


def _application(platform: FakeAceDataPlatform, session: requests.Session) -> str:
    response = _call(platform, session, "POST", "/applications/", json={"service_id": platform.service_id("suno")})
    assert response.status_code == 201
    return str(response.json()["id"])


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        ([API_ID], True),
        ([], True),
        (None, True),
        (API_ID, False),
        (["not-a-uuid"], False),
        ([API_ID, 7], False),
    ],
)
def test_allowed_api_ids_validated_on_create_and_patch(
    fidelity_platform: FakeAceDataPlatform, session: requests.Session, value: Any, accepted: bool
) -> None:
    app_id = _application(fidelity_platform, session)
    created = _call(
        fidelity_platform, session, "POST", "/credentials/", json={"application_id": app_id, "allowed_api_ids": value}
    )
    patched = _call(
        fidelity_platform,
        session,
        "PATCH",
        f"/credentials/{fidelity_platform.credentials()[0]['id']}/",
        json={"allowed_api_ids": value},
    )
    for response in (created, patched):
        if accepted:
            assert response.status_code in (200, 201)
            assert response.json()["allowed_api_ids"] == (value or [])
        else:
            assert response.status_code == 400
            assert list(response.json()) == ["allowed_api_ids"]


def test_credential_and_service_shapes(fidelity_platform: FakeAceDataPlatform, session: requests.Session) -> None:
    app_id = _application(fidelity_platform, session)
    credential = _call(fidelity_platform, session, "POST", "/credentials/", json={"application_id": app_id}).json()
    assert {"username", "password", "creator_id", "allowed_api_ids"} <= set(credential)
    assert credential["creator_id"] == fidelity_platform.user["id"]
    service = _call(fidelity_platform, session, "GET", "/services/suno/").json()
    assert service["cost"] == []


def test_filters_private_affiliation_granted(fidelity_platform: FakeAceDataPlatform, session: requests.Session) -> None:
    _application(fidelity_platform, session)
    services = _call(fidelity_platform, session, "GET", "/services/", params={"private": "true"}).json()
    assert services["count"] == 0
    public = _call(fidelity_platform, session, "GET", "/services/", params={"private": "false"}).json()
    assert public["count"] == len(fidelity_platform.services)
    assert list(_call(fidelity_platform, session, "GET", "/services/", params={"private": "maybe"}).json()) == [
        "private"
    ]
    owned = {"user_id": "me", "affiliation": "owner"}
    assert _call(fidelity_platform, session, "GET", "/applications/", params=owned).json()["count"] == 1
    granted = {"user_id": "me", "affiliation": "granted"}
    assert _call(fidelity_platform, session, "GET", "/applications/", params=granted).json()["count"] == 0
    bad = _call(fidelity_platform, session, "GET", "/applications/", params={"user_id": "me", "affiliation": "x"})
    assert list(bad.json()) == ["affiliation"]
    mine = _call(
        fidelity_platform, session, "GET", "/credentials/", params={"user_id": "me", "granted": "false"}
    ).json()
    assert mine["count"] == 1
    theirs = _call(
        fidelity_platform, session, "GET", "/credentials/", params={"user_id": "me", "granted": "true"}
    ).json()
    assert theirs["count"] == 0


def test_service_sub_routes_and_allow_consume_global(
    fidelity_platform: FakeAceDataPlatform, session: requests.Session
) -> None:
    apis = _call(fidelity_platform, session, "GET", "/services/suno/apis/").json()
    assert [(api["path"], api["title"]) for api in apis["items"]] == [
        ("/suno/audios", "Suno Audios API"),
        ("/suno/tasks", "Suno Tasks API"),
    ]
    assert {api["service_id"] for api in apis["items"]} == {fidelity_platform.service_id("suno")}
    proxies = f"/services/{fidelity_platform.service_id('suno')}/proxies/"
    assert _call(fidelity_platform, session, "GET", proxies).json() == {"count": 0, "items": []}
    assert _call(fidelity_platform, session, "GET", "/services/nope/apis/").status_code == 404
    app_id = _application(fidelity_platform, session)
    path = f"/applications/{app_id}/update-allow-consume-global/"
    updated = _call(fidelity_platform, session, "POST", path, json={"allow_consume_global": False})
    assert updated.status_code == 200
    assert updated.json()["allow_consume_global"] is False
    assert _call(fidelity_platform, session, "GET", f"/applications/{app_id}/").json()["allow_consume_global"] is False
    for body in ({}, {"allow_consume_global": "no"}):
        rejected = _call(fidelity_platform, session, "POST", path, json=body)
        assert rejected.status_code == 400
        assert list(rejected.json()) == ["allow_consume_global"]


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_non_json_body_is_415(
    fidelity_platform: FakeAceDataPlatform, session: requests.Session, content_type: str | None
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = _call(fidelity_platform, session, "POST", "/platform-tokens/", data=b'{"tags": ["x"]}', headers=headers)
    assert response.status_code == 415
    assert "Unsupported media type" in response.json()["detail"]
    as_json = _call(fidelity_platform, session, "POST", "/platform-tokens/", json={"tags": ["x"]})
    assert as_json.status_code == 201


def test_catalogue_spans_pages_and_alias_lookup_pages(
    fidelity_platform: FakeAceDataPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = requests.get(fidelity_platform.api_url + "/services/", timeout=5).json()
    assert first["count"] > len(first["items"]) == 10
    assert "veo" not in {s["alias"] for s in first["items"]}
    monkeypatch.setenv("AIRFLOW_CONN_ACEDATA_DEFAULT", fidelity_platform.connection_json())
    found = AceDataHook().find_service("VEO")
    assert found is not None
    assert found["id"] == fidelity_platform.service_id("veo")
