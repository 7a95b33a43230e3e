"""Constants and helpers shared by the hook tests (kept out of conftest.py, which is not importable)."""

from __future__ import annotations

import json

TOKEN = "platform-v1-" + "ab12" * 16
API = "https://platform.example.test/api/v1"
USER = {"id": "b87f67c1-b04f-4332-99a1-7a5e651331c6", "username": "ada", "email": "ada@example.test"}


def connection_json(host: str = "https://platform.example.test", token: str = TOKEN, **extra: object) -> str:
    """An AIRFLOW_CONN_* value for an acedata connection."""
    return json.dumps({"conn_type": "acedata", "host": host, "password": token, "extra": extra})


def redact(text: str) -> str:
    """What Airflow's secret masker makes of ``text``."""
    from airflow.sdk._shared.secrets_masker import redact as _redact

    return str(_redact(text))
