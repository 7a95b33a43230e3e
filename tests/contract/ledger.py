"""The official backend route ledger, read from the pinned mcp-acedatacloud wheel, and request checks against it."""

from __future__ import annotations

import copy
import json
import re
import zipfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Final

import jsonschema

WHEEL: Final = (
    Path(__file__).resolve().parents[2] / ".cache" / "official" / "mcp_acedatacloud-2026.10.25.0-py3-none-any.whl"
)
LEDGER_MEMBER: Final = "contracts/management_surface.json"
API_PREFIX: Final = "/api/v1"
TOLERATED: Final = frozenset({("POST", "/credentials/{id}/rotate/")})
"""Documented by the platform but absent from the ledger; the provider falls back when it is missing."""


@dataclass(frozen=True)
class Operation:
    """One ledger route: method, path template and the JSON Schemas of its query and body."""

    method: str
    path: str
    pattern: re.Pattern[str]
    query_schema: dict[str, Any]
    body_schema: dict[str, Any]


def _nullable(schema: Any) -> Any:
    """OpenAPI ``nullable: true`` as JSON Schema (``type`` widened by ``null``)."""
    if isinstance(schema, list):
        return [_nullable(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result = {key: _nullable(value) for key, value in schema.items()}
    if result.pop("nullable", False) and "type" in result:
        result["type"] = [result["type"], "null"]
    return result


def _pattern(path: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", path.rstrip("/"))
    regex = "".join("[^/]+" if part.startswith("{") else re.escape(part) for part in parts)
    return re.compile(f"^{regex}/?$")


@cache
def operations() -> tuple[Operation, ...]:
    """Every ledger tool's operation, most specific (literal) paths first."""
    with zipfile.ZipFile(WHEEL) as wheel:
        ledger = json.loads(wheel.read(LEDGER_MEMBER))
    found = {
        (tool["method"], tool["path"]): Operation(
            tool["method"],
            tool["path"],
            _pattern(tool["path"]),
            _nullable(tool.get("query_schema") or {"type": "object"}),
            _nullable(tool.get("body_schema") or {"type": "object"}),
        )
        for tool in ledger["tools"]
    }
    return tuple(sorted(found.values(), key=lambda op: (op.path.count("{"), -len(op.path))))


def find(method: str, path: str) -> Operation | None:
    """The ledger operation serving ``method path`` (path relative to /api/v1), if any."""
    return next((op for op in operations() if op.method == method and op.pattern.match(path)), None)


def typed_query(schema: dict[str, Any], query: dict[str, list[str]]) -> dict[str, Any]:
    """A parsed query string as the ledger types it: arrays stay lists, integers and booleans are parsed."""
    properties = schema.get("properties", {})
    typed: dict[str, Any] = {}
    for name, values in query.items():
        kind = properties.get(name, {}).get("type")
        if kind == "array":
            typed[name] = list(values)
            continue
        value: Any = values[-1]
        if kind == "integer" and re.fullmatch(r"-?\d+", value):
            value = int(value)
        elif kind == "boolean" and value in ("true", "false"):
            value = value == "true"
        typed[name] = value
    return typed


def violations(method: str, full_path: str, query: dict[str, list[str]], body: Any) -> list[str]:
    """Why one request does not conform to the ledger (empty when it does or is tolerated)."""
    if not full_path.startswith(API_PREFIX + "/"):
        return [f"{method} {full_path}: outside {API_PREFIX}"]
    path = full_path[len(API_PREFIX) :]
    lookup = "GET" if method == "HEAD" else method
    operation = find(lookup, path)
    if operation is None:
        if any(lookup == m and _pattern(p).match(path) for m, p in TOLERATED):
            return []
        return [f"{method} {path}: no such route in the ledger"]
    problems = []
    checker = jsonschema.FormatChecker()
    for part, schema, value in (
        ("query", operation.query_schema, typed_query(operation.query_schema, query)),
        ("body", operation.body_schema, {} if body is None else body),
    ):
        validator = jsonschema.Draft202012Validator(copy.deepcopy(schema), format_checker=checker)
        for error in validator.iter_errors(value):
            where = "/".join(str(p) for p in error.absolute_path) or "(root)"
            problems.append(f"{method} {operation.path}: {part} {where}: {error.message}")
    return problems
