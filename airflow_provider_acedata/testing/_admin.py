"""Admin routes of the offline platform (``/_admin/...``, not part of the platform API): top-ups and state.

They let a person or a script outside the process change what a test or demo waits for, e.g. top up the
application a deferred sensor is waiting on. Any live token of the platform authorizes them; each acts on
the token's own account.
"""

from __future__ import annotations

import re
from typing import Any, Final

from airflow_provider_acedata.testing._http import ApiError, Response, not_found, validation_error
from airflow_provider_acedata.testing._store import PlatformStore

ADMIN_PREFIX: Final = "/_admin"
_BALANCE: Final = re.compile(r"^/applications/(?P<id>[0-9a-fA-F-]{36})/balance/?$")
_STATE: Final = re.compile(r"^/state/?$")


class AdminApi:
    """``GET /_admin/state`` and ``POST /_admin/applications/{id}/balance``."""

    def __init__(self, store: PlatformStore) -> None:
        self.store = store

    def handle(self, method: str, path: str, body: Any, user: dict[str, Any]) -> Response:
        relative = path[len(ADMIN_PREFIX) :]
        try:
            if _STATE.match(relative):
                return self._only("GET", method) or Response(200, self.state(str(user["id"])))
            if match := _BALANCE.match(relative):
                return self._only("POST", method) or self.set_balance(match["id"].lower(), body, str(user["id"]))
            raise not_found()
        except ApiError as error:
            return error.response()

    def state(self, user_id: str) -> dict[str, Any]:
        """The account's applications with their balance and scheduled top-ups, and its live tokens."""
        with self.store.lock:
            self.store.apply_due()
            applications = [
                {
                    "id": app["id"],
                    "service_alias": self._alias(app["service_id"]),
                    "type": app["type"],
                    "scope": app["scope"],
                    "remaining_amount": app["remaining_amount"],
                    "scheduled": self.store.pending_balances(app["id"]),
                }
                for app in self.store.applications.values()
                if app["user_id"] == user_id
            ]
            tokens = sum(1 for token in self.store.tokens.values() if token["user_id"] == user_id)
            return {"user_id": user_id, "applications": applications, "platform_tokens": tokens}

    def set_balance(self, application_id: str, body: Any, user_id: str) -> Response:
        """Set (``after_seconds`` absent or 0) or schedule an application's ``remaining_amount``."""
        data = body if isinstance(body, dict) else {}
        amount: Any = data.get("remaining_amount")
        after: Any = data.get("after_seconds", 0)
        errors = {}
        if isinstance(amount, bool) or not isinstance(amount, int | float) or amount < 0:
            errors["remaining_amount"] = ["A number of Credits >= 0 is required."]
        if isinstance(after, bool) or not isinstance(after, int | float) or after < 0:
            errors["after_seconds"] = ["A number of seconds >= 0 is required."]
        if errors:
            raise validation_error(errors)
        with self.store.lock:
            app = self.store.applications.get(application_id)
            if app is None or app["user_id"] != user_id:
                raise not_found()
            if after:
                self.store.schedule_balance(application_id, float(amount), float(after))
            else:
                self.store.set_balance(application_id, float(amount))
        return Response(200, self.state(user_id))

    @staticmethod
    def _only(allowed: str, method: str) -> Response | None:
        if method == allowed:
            return None
        return Response(405, {"detail": f'Method "{method}" not allowed.'}, {"Allow": allowed})

    def _alias(self, service_id: str | None) -> str | None:
        service = self.store.services.get(service_id) if service_id else None
        return None if service is None else str(service["alias"])
