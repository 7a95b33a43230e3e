"""Apache Airflow provider for the Ace Data Cloud platform API."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

DEFAULT_HOST = "https://platform.acedata.cloud"
DEFAULT_API_HOST = "https://api.acedata.cloud"


def get_provider_info() -> dict[str, Any]:
    """Describe the provider to Airflow's ProvidersManager (entry point ``apache_airflow_provider``)."""
    from airflow_provider_acedata.hooks._settings import form_fields

    return {
        "package-name": "airflow-provider-acedata",
        "name": "Ace Data Cloud",
        "description": "Ace Data Cloud: applications, API keys, token rotation, monitoring and API calls as DAG steps.",
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
                "python-modules": ["airflow_provider_acedata.hooks.acedata", "airflow_provider_acedata.hooks.api"],
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
                    "airflow_provider_acedata.operators.api",
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
                    "airflow_provider_acedata.triggers.api",
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
                        "extra": '{"timeout": 30, "retry_limit": 3, "retry_delay": 1, "max_retry_wait": 60}',
                    },
                },
                "conn-fields": form_fields(
                    rotation_variable={
                        "label": "Rotation Variable",
                        "description": "Name of an Airflow Variable that, when set, overrides the Platform "
                        "Token (used with VariableTokenStore rotation). Replaces the deprecated token_variable.",
                        "schema": {"type": ["string", "null"]},
                    }
                ),
            },
            {
                "connection-type": "acedata_api",
                "hook-class-name": "airflow_provider_acedata.hooks.api.AceDataApiHook",
                "hook-name": "Ace Data Cloud API",
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "login", "port"],
                    "relabeling": {"host": "API URL", "password": "API Key"},
                    "placeholders": {
                        "host": DEFAULT_API_HOST,
                        "password": "an API key (a credential's token)",
                        "extra": '{"timeout": 30, "retry_limit": 3, "retry_delay": 1, "max_retry_wait": 60}',
                    },
                },
                "conn-fields": form_fields(),
            },
        ],
    }
