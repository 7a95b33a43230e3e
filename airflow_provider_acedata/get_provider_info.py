"""What Airflow's ProvidersManager reads about this provider (entry point ``apache_airflow_provider``).

Kept apart from the package's root and cheap to import: Airflow calls it while it discovers providers.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_acedata import DEFAULT_API_HOST, DEFAULT_HOST, __version__
from airflow_provider_acedata.hooks._settings import connection_type


def get_provider_info() -> dict[str, Any]:
    """The provider's name, version, modules, console link and its two connection types with their forms."""
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
                    "airflow_provider_acedata.triggers.events",
                ],
            }
        ],
        "extra-links": ["airflow_provider_acedata.links.AceDataApplicationLink"],
        "connection-types": [
            connection_type(
                "acedata",
                "airflow_provider_acedata.hooks.acedata.AceDataHook",
                "Ace Data Cloud",
                host=("Platform URL", DEFAULT_HOST),
                password=("Platform Token", "platform-v1-..."),
                rotation_variable=rotation_variable("Platform Token", "Replaces the deprecated token_variable."),
            ),
            connection_type(
                "acedata_api",
                "airflow_provider_acedata.hooks.api.AceDataApiHook",
                "Ace Data Cloud API",
                host=("API URL", DEFAULT_API_HOST),
                password=("API Key", "an API key (a credential's token)"),
                rotation_variable=rotation_variable("API Key"),
            ),
        ],
    }


def rotation_variable(secret: str, note: str = "") -> dict[str, Any]:
    """The form field of the extra ``rotation_variable``: where a ``VariableTokenStore`` keeps the secret."""
    return {
        "label": "Rotation Variable",
        "description": f"Name of an Airflow Variable that, when set, overrides the {secret} (a VariableTokenStore "
        f"writes it: CreateCredentialOperator, the rotations). {note}".strip(),
        "schema": {"type": ["string", "null"]},
    }
