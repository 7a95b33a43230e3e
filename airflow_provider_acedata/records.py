"""What call records and orders may carry out of the hook: token-like values and payment links blanked.

Records are shaped in place: the hook owns each decoded page, and an export of a million records should
not copy each one again. A key's verdict (token-like or not) is computed once per process, since the
same dozen keys repeat in every record.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any

_TOKEN_LIKE = ("token", "secret", "password", "api_key", "apikey", "authorization")
ORDER_SECRET_KEYS = frozenset({"pay_url", "pay_id"})


@lru_cache(maxsize=4096)
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


def _blank_in_place(payload: Any) -> None:
    """Replace, inside ``payload`` itself, every string under a token-like key by None.

    The hot loop of an export (every key of every record): a dict of verdicts instead of a cached call.
    """
    if isinstance(payload, list):
        for item in payload:
            _blank_in_place(item)
    elif isinstance(payload, dict):
        verdicts = _VERDICTS
        for key, value in payload.items():
            if isinstance(value, str):
                verdict = verdicts.get(key)
                if verdict is None:
                    verdict = _is_token_like(key)
                    if len(verdicts) < 4096:
                        verdicts[key] = verdict
                if verdict:
                    payload[key] = None
            elif isinstance(value, dict | list):
                _blank_in_place(value)


_VERDICTS: dict[str, bool] = {}


def usage_record(record: dict[str, Any]) -> dict[str, Any]:
    """The call record, shaped in place and returned: credential as ``{id, name}``, token-like values blanked."""
    credential = record.get("credential")
    if isinstance(credential, dict):
        record["credential"] = {"id": credential.get("id"), "name": credential.get("name")}
    _blank_in_place(record)
    return record


def order_record(record: dict[str, Any]) -> dict[str, Any]:
    """The order, shaped in place and returned: ``pay_url``, ``pay_id`` and token-like values blanked."""
    _blank_in_place(record)
    for key in ORDER_SECRET_KEYS & record.keys():
        record[key] = None
    return record


def created_at(record: dict[str, Any]) -> datetime:
    """A record's ``created_at`` (a call record, an order, a platform token) as an aware datetime."""
    return datetime.fromisoformat(str(record["created_at"]).replace("Z", "+00:00"))
