"""Constants and helpers shared by the tests (kept out of conftest.py, which is not importable)."""

from __future__ import annotations

import itertools
import json
from typing import Any

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


def raise_balance_after_reads(platform: Any, application_id: str, amount: float, reads: int) -> None:
    """Make ``platform`` answer the application's first ``reads`` reads as they are, and later ones with ``amount``."""
    seen = itertools.count(1)

    def on_request(record: Any) -> bool:
        is_read = record.method == "GET" and record.path.rstrip("/").endswith(f"/applications/{application_id}")
        if is_read and next(seen) > reads:
            platform.set_balance(application_id, amount)
        return False

    platform.fail(predicate=on_request, times=None)


def pushed(context: dict) -> dict:
    """What a task pushed to XCom through the ``context`` fixture's mock task instance, by key."""
    return {c.kwargs["key"]: c.kwargs["value"] for c in context["ti"].xcom_push.call_args_list}
