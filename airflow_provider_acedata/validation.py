"""Input checks shared by the hook and the operators, run before any HTTP request."""

from __future__ import annotations

import uuid
from collections.abc import Collection

from airflow_provider_acedata.exceptions import AceDataInputError

APPLICATION_TYPES = ("Usage", "Period")
APPLICATION_SCOPES = ("Individual", "Global")


def require_uuid(field: str, value: object) -> str:
    """Return ``value`` as a canonical UUID string, or raise naming the field."""
    if isinstance(value, str):
        try:
            return str(uuid.UUID(value.strip()))
        except ValueError:
            pass
    raise AceDataInputError(f"{field} must be a UUID such as 'd87e5e99-b797-4ade-9e73-b896896b0461', got {value!r}")


def require_choice(field: str, value: object, allowed: Collection[str]) -> str:
    """Return ``value`` if it is one of ``allowed``, or raise naming the field and the allowed values."""
    if isinstance(value, str) and value in allowed:
        return value
    choices = ", ".join(repr(a) for a in allowed)
    raise AceDataInputError(f"{field} must be one of {choices}, got {value!r}")


def application_key(service_id: str | None, application_type: str, scope: str) -> tuple[str | None, str, str]:
    """Validate the (service, type, scope) triple that identifies an application; Global needs no service."""
    application_type = require_choice("application_type", application_type, APPLICATION_TYPES)
    scope = require_choice("scope", scope, APPLICATION_SCOPES)
    if scope == "Global":
        if service_id not in (None, ""):
            raise AceDataInputError(
                "service_id must be empty when scope is 'Global' (a Global application spans all services)"
            )
        return None, application_type, scope
    return require_uuid("service_id", service_id), application_type, scope
