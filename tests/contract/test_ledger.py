"""The offline platform and the provider against the official backend ledger (mcp-acedatacloud's contract)."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from contract import ledger

from airflow_provider_acedata.testing import FakeAceDataPlatform

PIN = Path(__file__).resolve().parents[2] / ".ci" / "official-ledger.txt"
SERVED = [
    ("GET", "/platform-tokens/"),
    ("POST", "/platform-tokens/"),
    ("GET", "/platform-tokens/me/"),
    ("GET", "/platform-tokens/{id}"),
    ("DELETE", "/platform-tokens/{id}"),
    ("GET", "/services/"),
    ("GET", "/services/{id}"),
    ("GET", "/services/{id}/apis/"),
    ("GET", "/services/{id}/proxies/"),
    ("GET", "/applications/"),
    ("POST", "/applications/"),
    ("GET", "/applications/{id}"),
    ("POST", "/applications/{id}/update-allow-consume-global/"),
    ("GET", "/credentials/"),
    ("POST", "/credentials/"),
    ("GET", "/credentials/{id}"),
    ("PATCH", "/credentials/{id}"),
    ("PUT", "/credentials/{id}"),
    ("DELETE", "/credentials/{id}"),
    ("GET", "/usage/apis/"),
    ("GET", "/usage/apis/aggregate/"),
    ("GET", "/usage/apis/{id}"),
    ("GET", "/orders/"),
    ("GET", "/orders/{id}"),
]
WRONG_TYPE: dict[str, Any] = {"string": 12345, "number": "many", "integer": "many", "array": "x", "object": "x"}


def test_wheel_is_the_pinned_one() -> None:
    assert ledger.WHEEL.exists(), "run `make test` (or make the .cache/official wheel target) first"
    pinned = re.search(r"sha256:([0-9a-f]{64})", PIN.read_text())
    assert pinned is not None
    assert hashlib.sha256(ledger.WHEEL.read_bytes()).hexdigest() == pinned.group(1)


@pytest.mark.parametrize(("method", "path"), SERVED)
def test_every_served_route_is_in_the_ledger(method: str, path: str) -> None:
    concrete = path.replace("{id}", str(uuid.uuid4()))
    assert ledger.find(method, concrete) is not None


def test_checker_catches_what_the_ledger_rejects() -> None:
    app = str(uuid.uuid4())
    assert ledger.violations("POST", "/api/v1/credentials/", {}, {"application_id": app}) == []
    assert ledger.violations("POST", "/api/v1/credentials/", {}, {"application_id": app, "bogus": 1})
    assert ledger.violations("POST", "/api/v1/credentials/", {}, {"allowed_api_ids": "x", "application_id": app})
    assert ledger.violations("GET", "/api/v1/credentials/", {"limit": ["500"]}, None)
    assert ledger.violations("GET", "/api/v1/nowhere/", {}, None)
    assert ledger.violations("POST", f"/api/v1/credentials/{app}/rotate/", {}, None) == []


@pytest.fixture
def fake() -> Iterator[FakeAceDataPlatform]:
    with FakeAceDataPlatform() as platform:
        yield platform


def _call(platform: FakeAceDataPlatform, method: str, path: str, body: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {platform.token}"}
    return requests.request(method, platform.api_url + path, json=body, headers=headers, timeout=5)


def _valid(schema: dict[str, Any]) -> Any:
    kind = schema.get("type")
    kind = kind[0] if isinstance(kind, list) else kind
    if schema.get("format") == "uuid":
        return str(uuid.uuid4())
    if schema.get("format") == "date-time":
        return "2031-01-01T00:00:00Z"
    if kind == "array":
        return [_valid(schema.get("items", {"type": "string"}))]
    scalars: dict[str, Any] = {"number": 5, "integer": 5, "boolean": False, "object": {"k": "v"}}
    return scalars.get(str(kind), "ledger")


def _cases() -> list[tuple[str, str, str]]:
    writes = [("POST", "/platform-tokens/"), ("POST", "/credentials/"), ("PATCH", "/credentials/{id}")]
    writes.append(("POST", "/applications/{id}/update-allow-consume-global/"))
    cases = []
    for method, path in writes:
        operation = ledger.find(method, path.replace("{id}", str(uuid.uuid4())))
        assert operation is not None
        cases += [(method, path, name) for name in operation.body_schema.get("properties", {})]
    return cases


def _context(fake: FakeAceDataPlatform) -> dict[str, str]:
    app = _call(fake, "POST", "/applications/", {"service_id": fake.service_id("suno")}).json()
    return {"application_id": app["id"], "{id}": app["credentials"][0]["id"], "app": app["id"]}


@pytest.mark.parametrize(("method", "path", "name"), _cases())
def test_fake_accepts_every_ledger_field_and_rejects_what_the_ledger_rejects(
    fake: FakeAceDataPlatform, method: str, path: str, name: str
) -> None:
    context = _context(fake)
    concrete = path.replace("{id}", context["app"] if "applications" in path else context["{id}"])
    operation = ledger.find(method, concrete)
    assert operation is not None
    schema = operation.body_schema["properties"][name]
    base = {key: context[key] for key in operation.body_schema.get("required", []) if key in context}
    for key in operation.body_schema.get("required", []):
        base.setdefault(key, _valid(operation.body_schema["properties"][key]))
    good = dict(base, **{name: context.get(name) or _valid(schema)})
    if name in ("for_user_id", "user_id"):
        good[name] = fake.user["id"]
    assert ledger.violations(method, "/api/v1" + concrete, {}, good) == []
    accepted = _call(fake, method, concrete, good)
    assert accepted.status_code in (200, 201), (name, accepted.text)
    kind = schema.get("type")
    kind = kind[0] if isinstance(kind, list) else kind
    if kind in WRONG_TYPE or kind == "boolean":
        bad = dict(base, **{name: "x" if kind == "boolean" else WRONG_TYPE[str(kind)]})
        assert ledger.violations(method, "/api/v1" + concrete, {}, bad)
        rejected = _call(fake, method, concrete, bad)
        assert rejected.status_code == 400, (name, rejected.text)
        assert name in rejected.json()
