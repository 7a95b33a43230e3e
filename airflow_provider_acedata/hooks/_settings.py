"""The connection settings both connection types share: one table feeds the hooks and the connection forms.

Stdlib only: ``get_provider_info()`` reads this table while Airflow discovers providers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_acedata.exceptions import AceDataConfigError


@dataclass(frozen=True)
class Setting:
    """One numeric connection extra: its form label and description, its type, default and minimum."""

    name: str
    label: str
    description: str
    kind: type[int] | type[float]
    default: float
    minimum: float

    def read(self, value: object, where: str) -> float:
        """``value`` (an override, the extra, or None for the default) checked against this setting."""
        if value is None or value == "":
            return self.default
        number = None
        if isinstance(value, int | float | str) and not isinstance(value, bool):
            try:
                number = float(value)
            except ValueError:
                number = None
        kind = "an integer" if self.kind is int else "a number"
        if number is None or (self.kind is int and not number.is_integer()):
            raise AceDataConfigError(f"{where}: extra {self.name!r} must be {kind}, got {value!r}")
        if number < self.minimum:
            raise AceDataConfigError(f"{where}: extra {self.name!r} must be >= {self.minimum:g}, got {value!r}")
        return number

    def form_field(self) -> dict[str, Any]:
        """The field's entry in the provider's declarative connection form (``conn-fields``)."""
        schema_type = "integer" if self.kind is int else "number"
        return {
            "label": self.label,
            "description": self.description,
            "schema": {"type": [schema_type, "null"], "minimum": self.minimum, "default": self.default},
        }


SETTINGS: tuple[Setting, ...] = (
    Setting("timeout", "Timeout (seconds)", "Per-request timeout; every request has one.", float, 30, 0.1),
    Setting(
        "retry_limit",
        "Retry limit",
        "Retries of a read (GET, DELETE, a task read) on connection errors, timeouts, 429 and 5xx.",
        int,
        3,
        0,
    ),
    Setting("retry_delay", "Retry delay (seconds)", "Base of the exponential backoff between retries.", float, 1, 0),
    Setting(
        "max_retry_wait",
        "Longest Retry-After (seconds)",
        "The longest Retry-After a retry sleeps through; a longer one fails the call at once "
        "(AceDataRateLimitError), and Airflow's task retries take over.",
        float,
        60,
        0,
    ),
)


@dataclass(frozen=True)
class ConnectionSettings:
    """A connection's request settings, as read from its extras (and any hook arguments overriding them)."""

    timeout: float
    retry_limit: int
    retry_delay: float
    max_retry_wait: float

    @classmethod
    def read(cls, extras: Mapping[str, Any], overrides: Mapping[str, float | None], where: str) -> ConnectionSettings:
        """Each setting from ``overrides`` if given, else the extra, else its default (``where``: for messages)."""
        values = {}
        for setting in SETTINGS:
            given = overrides.get(setting.name)
            values[setting.name] = setting.read(extras.get(setting.name) if given is None else given, where)
        return cls(
            timeout=values["timeout"],
            retry_limit=int(values["retry_limit"]),
            retry_delay=values["retry_delay"],
            max_retry_wait=values["max_retry_wait"],
        )


def form_fields(**more: dict[str, Any]) -> dict[str, Any]:
    """The ``conn-fields`` of a connection type: the shared settings, then ``more``."""
    return {**{setting.name: setting.form_field() for setting in SETTINGS}, **more}


def connection_type(
    conn_type: str,
    hook_class: str,
    hook_name: str,
    *,
    host: tuple[str, str],
    password: tuple[str, str],
    **more: dict[str, Any],
) -> dict[str, Any]:
    """A ``connection-types`` entry: the form shows the host and the password (each ``(label, placeholder)``),
    the shared settings and ``more`` extras; login, schema and port are hidden."""
    defaults = {setting.name: setting.default for setting in SETTINGS}
    return {
        "connection-type": conn_type,
        "hook-class-name": hook_class,
        "hook-name": hook_name,
        "ui-field-behaviour": {
            "hidden-fields": ["schema", "login", "port"],
            "relabeling": {"host": host[0], "password": password[0]},
            "placeholders": {"host": host[1], "password": password[1], "extra": json.dumps(defaults)},
        },
        "conn-fields": form_fields(**more),
    }
