"""Apache Airflow provider for the Ace Data Cloud platform API."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

DEFAULT_HOST = "https://platform.acedata.cloud"


def get_provider_info() -> dict[str, Any]:
    """Describe the provider to Airflow's ProvidersManager (entry point ``apache_airflow_provider``)."""
    return {
        "package-name": "airflow-provider-acedata",
        "name": "Ace Data Cloud",
        "description": "Ace Data Cloud platform API: applications, API keys and platform-token rotation.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "Ace Data Cloud",
                "external-doc-url": "https://platform.acedata.cloud/documents/platform-token",
                "tags": ["service"],
            }
        ],
        "hooks": [
            {
                "integration-name": "Ace Data Cloud",
                "python-modules": ["airflow_provider_acedata.hooks.acedata"],
            }
        ],
        "operators": [
            {
                "integration-name": "Ace Data Cloud",
                "python-modules": [
                    "airflow_provider_acedata.operators.application",
                    "airflow_provider_acedata.operators.credential",
                    "airflow_provider_acedata.operators.platform_token",
                    "airflow_provider_acedata.operators.export",
                    "airflow_provider_acedata.operators.balance",
                ],
            }
        ],
        "sensors": [
            {
                "integration-name": "Ace Data Cloud",
                "python-modules": ["airflow_provider_acedata.sensors.balance"],
            }
        ],
        "triggers": [
            {
                "integration-name": "Ace Data Cloud",
                "python-modules": [
                    "airflow_provider_acedata.triggers.balance",
                    "airflow_provider_acedata.triggers.events",
                ],
            }
        ],
        "extra-links": ["airflow_provider_acedata.links.AceDataApplicationLink"],
        "connection-types": [
            {
                "connection-type": "acedata",
                "hook-class-name": "airflow_provider_acedata.hooks.acedata.AceDataHook",
                "hook-name": "Ace Data Cloud",
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "login", "port"],
                    "relabeling": {"host": "Platform URL", "password": "Platform Token"},
                    "placeholders": {
                        "host": DEFAULT_HOST,
                        "password": "platform-v1-...",
                        "extra": '{"timeout": 30, "retry_limit": 3, "retry_delay": 1}',
                    },
                },
                "conn-fields": {
                    "timeout": {
                        "label": "Timeout (seconds)",
                        "description": "Per-request timeout; every request has one.",
                        "schema": {"type": ["number", "null"], "minimum": 1, "default": 30},
                    },
                    "retry_limit": {
                        "label": "Retry limit",
                        "description": "Retries for GET/DELETE on connection errors, timeouts, 429 and 5xx.",
                        "schema": {"type": ["integer", "null"], "minimum": 0, "default": 3},
                    },
                    "retry_delay": {
                        "label": "Retry delay (seconds)",
                        "description": "Base of the exponential backoff between retries.",
                        "schema": {"type": ["number", "null"], "minimum": 0, "default": 1},
                    },
                    "rotation_variable": {
                        "label": "Rotation Variable",
                        "description": "Name of an Airflow Variable that, when set, overrides the Platform "
                        "Token (used with VariableTokenStore rotation). Replaces the deprecated token_variable.",
                        "schema": {"type": ["string", "null"]},
                    },
                },
            }
        ],
    }
