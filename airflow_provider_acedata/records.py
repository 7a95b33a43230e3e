"""What call records and orders may carry out of the hook: token-like values and payment links blanked."""

from __future__ import annotations

from datetime import datetime
from typing import Any

_TOKEN_LIKE = ("token", "secret", "password", "api_key", "apikey", "authorization")
ORDER_SECRET_KEYS = frozenset({"pay_url", "pay_id"})


def _is_token_like(key: str) -> bool:
    lowered = key.lower()
    return any(part in lowered for part in _TOKEN_LIKE)


def blank_token_like(payload: Any) -> Any:
    """A copy of a decoded JSON payload with every string under a token-like key replaced by None."""
    if isinstance(payload, dict):
        return {
            key: None if _is_token_like(key) and isinstance(value, str) else blank_token_like(value)
            for key, value in payload.items()
        }
    if isinstance(payload, list):
        return [blank_token_like(item) for item in payload]
    return payload


def usage_record(record: dict[str, Any]) -> dict[str, Any]:
    """A call record safe to write out: credential reduced to ``{id, name}``, token-like values blanked."""
    shaped = blank_token_like(record)
    credential = shaped.get("credential")
    if isinstance(credential, dict):
        shaped["credential"] = {"id": credential.get("id"), "name": credential.get("name")}
    return dict(shaped)


def order_record(record: dict[str, Any]) -> dict[str, Any]:
    """An order safe to write out: ``pay_url``, ``pay_id`` and token-like values blanked."""
    shaped = dict(blank_token_like(record))
    for key in ORDER_SECRET_KEYS & shaped.keys():
        shaped[key] = None
    return shaped


def created_at(record: dict[str, Any]) -> datetime:
    """A record's ``created_at`` (a call record, an order, a platform token) as an aware datetime."""
    return datetime.fromisoformat(str(record["created_at"]).replace("Z", "+00:00"))
