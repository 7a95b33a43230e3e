"""Secret masking: register every secret with Airflow's masker the moment it is read or received."""

from __future__ import annotations

from typing import Any

from airflow_provider_acedata.version_compat import mask_secret

SECRET_KEYS = frozenset({"token", "password", "api_key", "access_token", "refresh_token", "pay_url"})

_masked: set[str] = set()


def mask(secret: str | None) -> None:
    """Mask one secret in this process and in the task supervisor (once per value per process)."""
    if secret and secret not in _masked:
        mask_secret(secret)
        _masked.add(secret)


def mask_payload(payload: Any) -> None:
    """Mask every secret-named string value anywhere inside a decoded JSON payload."""
    if isinstance(payload, dict):
        for key, value in payload.items():
            if isinstance(value, str):
                if key in SECRET_KEYS:
                    mask(value)
            else:
                mask_payload(value)
    elif isinstance(payload, list):
        for item in payload:
            mask_payload(item)


def without_secrets(payload: Any) -> Any:
    """A copy of a decoded JSON payload with every secret-named string value replaced by None."""
    if isinstance(payload, dict):
        return {
            key: None if key in SECRET_KEYS and isinstance(value, str) else without_secrets(value)
            for key, value in payload.items()
        }
    if isinstance(payload, list):
        return [without_secrets(item) for item in payload]
    return payload


def fingerprint(secret: str) -> str:
    """A log-safe hint of a secret: its last four characters."""
    return f"...{secret[-4:]}" if len(secret) >= 12 else "..."
