"""In-memory state of the fake platform: users, tokens, services, applications, credentials; one lock."""

from __future__ import annotations

import copy
import secrets
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from airflow_provider_acedata.testing._clock import ScriptedClock
from airflow_provider_acedata.testing._http import ApiError, validation_error

TOKEN_PREFIX: Final = "platform-v1-"
PERMISSIONS: Final = (
    "applications:read",
    "applications:write",
    "credentials:read",
    "credentials:write",
    "orders:read",
    "orders:write",
    "platform_tokens:read",
    "platform_tokens:write",
    "usage:read",
)
_SERVICE_NS: Final = uuid.UUID("6f1d3c2a-4b5e-4f60-9a7b-8c9d0e1f2a3b")
_SEEDED_AT: Final = "2025-01-01T00:00:00.000000Z"


def new_platform_token() -> str:
    """A platform token in the documented shape: ``platform-v1-`` + 64 lowercase hex."""
    return TOKEN_PREFIX + secrets.token_hex(32)


def format_time(moment: datetime) -> str:
    """ISO-8601 in UTC with microseconds and a ``Z``, as DRF renders it."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _service(
    service_id: str, alias: str, title: str, type_: str, price: float, free_amount: int, description: str
) -> dict[str, Any]:
    package = {
        "id": str(uuid.uuid5(_SERVICE_NS, f"{alias}/usage")),
        "amount": 1000,
        "price": round(price * 1000, 2),
        "duration": None,
        "type": "Usage",
        "metadata": None,
    }
    return {
        "id": service_id,
        "alias": alias,
        "title": title,
        "type": type_,
        "unit": "Credits",
        "price": price,
        "description": description,
        "free_amount": free_amount,
        "applied_count": 0,
        "applied": False,
        "private": False,
        "tags": [type_.lower()],
        "metadata": None,
        "cost": [],
        "packages": [package],
        "created_at": _SEEDED_AT,
        "updated_at": _SEEDED_AT,
    }


SEED_SERVICES: Final = (
    _service(
        "d87e5e99-b797-4ade-9e73-b896896b0461",
        "midjourney",
        "Midjourney",
        "Api",
        0.08,
        0,
        "Image generation.",
    ),
    _service("0b3c4b7e-6d5a-4f3e-9a2b-1c8d7e6f5a41", "suno", "Suno", "Api", 0.05, 0, "Music generation."),
    _service("4f1a9c2e-8b7d-4e6f-a5c3-2d1b0e9f8a72", "openai", "OpenAI", "Api", 0.01, 0, "Chat completions."),
    _service("9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c63", "flux", "Flux", "Api", 0.03, 100, "Image generation."),
    _service("1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e51", "luma", "Luma", "Api", 0.2, 0, "Video generation."),
    _service("2d3e4f5a-6b7c-4d8e-9f0a-1b2c3d4e5f62", "kling", "Kling", "Api", 0.25, 0, "Video generation."),
    _service("3e4f5a6b-7c8d-4e9f-8a1b-2c3d4e5f6a73", "claude", "Claude", "Api", 0.015, 0, "Chat completions."),
    _service("4f5a6b7c-8d9e-4f0a-9b2c-3d4e5f6a7b84", "gemini", "Gemini", "Api", 0.01, 0, "Chat completions."),
    _service("5a6b7c8d-9e0f-4a1b-8c3d-4e5f6a7b8c95", "serp", "Google SERP", "Api", 0.002, 50, "Web search."),
    _service("6b7c8d9e-0f1a-4b2c-9d4e-5f6a7b8c9da6", "proxy", "Global Proxy", "Proxy", 0.01, 0, "HTTP proxies."),
    _service("7c8d9e0f-1a2b-4c3d-8e5f-6a7b8c9d0eb7", "veo", "Veo", "Api", 0.3, 0, "Video generation."),
    _service("8d9e0f1a-2b3c-4d4e-9f6a-7b8c9d0e1fc8", "seedance", "Seedance", "Api", 0.2, 0, "Video generation."),
)
"""About a dozen services, as on the platform: more than one default page (10), ``veo`` beyond the first."""

SEED_APIS: Final = (
    ("midjourney", "imagine", "/midjourney/imagine", None, "Midjourney Imagine API"),
    ("midjourney", "tasks", "/midjourney/tasks", None, "Midjourney Tasks API"),
    ("suno", "audios", "/suno/audios", None, "Suno Audios API"),
    ("suno", "tasks", "/suno/tasks", None, "Suno Tasks API"),
    ("flux", "images", "/flux/images", None, "Flux Images API"),
    ("flux", "tasks", "/flux/tasks", None, "Flux Tasks API"),
    ("veo", "videos", "/veo/videos", None, "Veo Videos API"),
    ("veo", "tasks", "/veo/tasks", None, "Veo Tasks API"),
    ("openai", "chat-completions", "/openai/chat/completions", "/v1/chat/completions", "Chat Completions API"),
)
"""The APIs the offline gateway serves: (service alias, name, path, second path, title). Their ids are stable."""


def _api(alias: str, name: str, path: str, path2: str | None, title: str) -> dict[str, Any]:
    service_id = next(s["id"] for s in SEED_SERVICES if s["alias"] == alias)
    return {
        "id": str(uuid.uuid5(_SERVICE_NS, f"api:{path}")),
        "name": name,
        "title": title,
        "path": path,
        "path2": path2,
        "stage": "Production",
        "cost": [],
        "definition": None,
        "visible_models": [],
        "service_id": service_id,
        "document_id": None,
        "created_at": _SEEDED_AT,
        "updated_at": _SEEDED_AT,
    }


class PlatformStore:
    """All platform data; every method takes ``lock`` (reentrant) and returns internal dicts, not copies."""

    def __init__(self, *, default_token: str | None = None, clock: ScriptedClock | None = None) -> None:
        self.lock = threading.RLock()
        self.clock = clock or ScriptedClock()
        self._last_time = self.clock.now() - timedelta(microseconds=1)
        self.due_hooks: list[Callable[[], None]] = []
        """Run by ``apply_due()`` after scheduled balances: whatever else comes due with time (gateway tasks)."""
        self.apis: dict[str, dict[str, Any]] = {api["id"]: api for api in (_api(*row) for row in SEED_APIS)}
        self.users: dict[str, dict[str, Any]] = {}
        self.tokens: dict[str, dict[str, Any]] = {}
        self._token_ids: dict[str, str] = {}
        self.services: dict[str, dict[str, Any]] = {s["id"]: copy.deepcopy(s) for s in SEED_SERVICES}
        self.applications: dict[str, dict[str, Any]] = {}
        self.credentials: dict[str, dict[str, Any]] = {}
        self._scheduled: list[tuple[float, str, float]] = []
        self.auto_topup: tuple[float, float] | None = None
        """(Credits, seconds): every application created is topped up to that many Credits that much later."""
        self.default_user = self.add_user("demo")
        self.default_token: str = self.add_token(self.default_user["id"], value=default_token)["token"]
        other = self.add_user("other")
        self.add_token(other["id"])
        self.add_application(other["id"], SEED_SERVICES[0]["id"])

    def now(self) -> str:
        """The current time, strictly later than any earlier call, so ``created_at`` orders by creation."""
        with self.lock:
            self._last_time = max(self.clock.now(), self._last_time + timedelta(microseconds=1))
            return format_time(self._last_time)

    def add_user(self, username: str) -> dict[str, Any]:
        """Create a user account."""
        with self.lock:
            user: dict[str, Any] = {
                "id": str(uuid.uuid4()),
                "username": username,
                "email": f"{username}@example.com",
                "nickname": username.capitalize(),
                "avatar": None,
                "permissions": list(PERMISSIONS),
            }
            self.users[user["id"]] = user
            return user

    def add_token(
        self,
        user_id: str,
        *,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        value: str | None = None,
    ) -> dict[str, Any]:
        """Mint a platform token for a user."""
        with self.lock:
            if user_id not in self.users:
                raise KeyError(f"no such user: {user_id}")
            value = value or new_platform_token()
            if value in self._token_ids:
                raise ValueError("token value already in use")
            stamp = self.now()
            token: dict[str, Any] = {
                "id": str(uuid.uuid4()),
                "user_id": user_id,
                "token": value,
                "expiration": None,
                "used_at": None,
                "created_at": stamp,
                "updated_at": stamp,
                "tags": list(tags) if tags is not None else None,
                "metadata": copy.deepcopy(metadata),
            }
            self.tokens[token["id"]] = token
            self._token_ids[value] = token["id"]
            return token

    def token_by_value(self, value: str) -> dict[str, Any] | None:
        """The live token with this value, if any."""
        with self.lock:
            token_id = self._token_ids.get(value)
            return self.tokens.get(token_id) if token_id else None

    def authenticate(self, value: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """The (user, token) for a bearer token, marking the token used; None when it is not live."""
        with self.lock:
            token = self.token_by_value(value)
            if token is None:
                return None
            token["used_at"] = self.now()
            return self.users[token["user_id"]], token

    def credential_by_token(self, value: str) -> dict[str, Any] | None:
        """The credential (API key) whose token is this value, if any."""
        with self.lock:
            return next((c for c in self.credentials.values() if c["token"] == value), None)

    def delete_token(self, token_id: str) -> None:
        """Revoke a token; it stops authenticating at once."""
        with self.lock:
            token = self.tokens.pop(token_id)
            del self._token_ids[token["token"]]

    def add_application(
        self,
        user_id: str,
        service_id: str | None,
        *,
        type_: str = "Usage",
        scope: str = "Individual",
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        allow_consume_global: bool = True,
        expired_at: str | None = None,
    ) -> dict[str, Any]:
        """Subscribe a user to a service (or create the Global application), with one auto-made credential."""
        with self.lock:
            service = self.services.get(service_id) if service_id is not None else None
            if service_id is not None and service is None:
                message = f'Invalid pk "{service_id}" - object does not exist.'
                raise validation_error({"service_id": [message]})
            key = (user_id, service_id, type_, scope)
            if any((a["user_id"], a["service_id"], a["type"], a["scope"]) == key for a in self.applications.values()):
                raise ApiError(400, {"detail": "Application already exists.", "code": "duplication"})
            stamp = self.now()
            app: dict[str, Any] = {
                "id": str(uuid.uuid4()),
                "user_id": user_id,
                "service_id": service_id,
                "type": type_,
                "scope": scope,
                "remaining_amount": service["free_amount"] if service else 0,
                "used_amount": 0,
                "paid": False,
                "disabled": False,
                "allow_consume_global": allow_consume_global,
                "expired_at": expired_at,
                "tags": list(tags) if tags is not None else None,
                "metadata": copy.deepcopy(metadata),
                "created_at": stamp,
                "updated_at": stamp,
            }
            self.applications[app["id"]] = app
            self.add_credential(user_id, app["id"])
            if self.auto_topup is not None:
                amount, after_seconds = self.auto_topup
                self.schedule_balance(app["id"], amount, after_seconds)
            return app

    def render_application(self, app: dict[str, Any]) -> dict[str, Any]:
        """The API shape of an application: embedded credentials (full tokens), packages and service."""
        with self.lock:
            service = self.services.get(app["service_id"]) if app["service_id"] else None
            credentials = [c for c in self.credentials.values() if c["application_id"] == app["id"]]
            rendered = copy.deepcopy(app)
            rendered["credentials"] = copy.deepcopy(credentials)
            rendered["packages"] = []
            rendered["service"] = service and {
                "id": service["id"],
                "alias": service["alias"],
                "name": service["title"],
            }
            return {key: rendered[key] for key in _APPLICATION_FIELDS}

    def render_service(self, service: dict[str, Any], user_id: str | None) -> dict[str, Any]:
        """The API shape of a service; ``applied`` and ``applied_count`` reflect current applications."""
        with self.lock:
            apps = [a for a in self.applications.values() if a["service_id"] == service["id"]]
            rendered = copy.deepcopy(service)
            rendered["applied_count"] = service["applied_count"] + len(apps)
            rendered["applied"] = any(a["user_id"] == user_id for a in apps)
            return rendered

    def add_credential(
        self,
        user_id: str,
        application_id: str,
        *,
        name: str | None = None,
        limited_amount: float | None = None,
        expired_at: str | None = None,
        host: str | None = None,
        allowed_api_ids: list[str] | None = None,
        creator_id: str | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Create an API key for one of the user's applications."""
        with self.lock:
            stamp = self.now()
            credential: dict[str, Any] = {
                "id": str(uuid.uuid4()),
                "name": name,
                "type": "Token",
                "token": secrets.token_hex(16),
                "username": None,
                "password": None,
                "host": host,
                "limited_amount": limited_amount,
                "used_amount": 0,
                "expired_at": expired_at,
                "application_id": application_id,
                "user_id": user_id,
                "creator_id": creator_id or user_id,
                "allowed_api_ids": list(allowed_api_ids or []),
                "tags": list(tags) if tags is not None else None,
                "metadata": copy.deepcopy(metadata),
                "created_at": stamp,
                "updated_at": stamp,
            }
            self.credentials[credential["id"]] = credential
            return credential

    def update_credential(self, credential_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Apply already-validated field changes to a credential."""
        with self.lock:
            credential = self.credentials[credential_id]
            credential.update(copy.deepcopy(changes))
            credential["updated_at"] = self.now()
            return credential

    def rotate_credential(self, credential_id: str) -> dict[str, Any]:
        """Give a credential a new token, keeping its id and usage; the old token dies at once."""
        return self.update_credential(credential_id, {"token": secrets.token_hex(16)})

    def set_balance(self, application_id: str, remaining_amount: float) -> None:
        """Set an application's ``remaining_amount`` now."""
        with self.lock:
            app = self.applications[application_id]
            app["remaining_amount"] = remaining_amount
            app["updated_at"] = self.now()

    def schedule_balance(self, application_id: str, remaining_amount: float, after_seconds: float) -> None:
        """Set an application's ``remaining_amount`` once ``after_seconds`` have passed."""
        with self.lock:
            if application_id not in self.applications:
                raise KeyError(f"no such application: {application_id}")
            self._scheduled.append((self.clock.monotonic() + after_seconds, application_id, remaining_amount))

    def pending_balances(self, application_id: str) -> list[dict[str, float]]:
        """The balance changes still scheduled for an application: seconds from now and Credits."""
        with self.lock:
            now = self.clock.monotonic()
            return [
                {"in_seconds": round(due - now, 3), "remaining_amount": amount}
                for due, app_id, amount in sorted(self._scheduled)
                if app_id == application_id
            ]

    def apply_due(self) -> None:
        """Apply scheduled balance changes whose time has come, in due order, then run the ``due_hooks``."""
        with self.lock:
            now = self.clock.monotonic()
            due = sorted((item for item in self._scheduled if item[0] <= now), key=lambda item: item[0])
            self._scheduled = [item for item in self._scheduled if item[0] > now]
            for _, application_id, amount in due:
                if application_id in self.applications:
                    self.set_balance(application_id, amount)
            for hook in self.due_hooks:
                hook()


_APPLICATION_FIELDS: Final = (
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
)
