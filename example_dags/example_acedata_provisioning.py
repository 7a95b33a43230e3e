"""Provision an Ace Data Cloud service end to end: application, enough balance, an API key in a Variable.

1. ``create_application`` subscribes to the service named by the ``service_alias`` param (``midjourney``
   by default), or reuses the existing application, and returns its id.
2. ``wait_for_balance`` waits until the application has at least ``min_remaining_amount`` Credits (top
   it up in the console meanwhile). It is deferrable: the wait runs in the triggerer, not on a worker.
3. ``create_api_key`` finds or creates the API key named ``airflow-example-provisioning`` and writes the
   key to the Variable ``acedata_api_key_example_provisioning``; only its id goes to XCom.
4. ``use_api_key`` receives the credential id and reads the key from the Variable, as your own tasks
   would before calling ``api.acedata.cloud``; it logs only the key's last four characters.

Each of the first three tasks links to the console's applications page ("Ace Data Cloud console"), where
the application is and where it is topped up. Nothing here calls the platform while the file is parsed.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from airflow.sdk import Param, Variable, dag, task

from airflow_provider_acedata.masking import fingerprint
from airflow_provider_acedata.operators import CreateApplicationOperator, CreateCredentialOperator
from airflow_provider_acedata.sensors import ApplicationBalanceSensor
from airflow_provider_acedata.token_stores import VariableTokenStore

API_KEY_VARIABLE = "acedata_api_key_example_provisioning"
API_KEY_NAME = "airflow-example-provisioning"
#: Aliases of the platform's API services (the console's service pages show each one's alias).
SERVICE_ALIASES = ["midjourney", "suno", "flux", "veo", "luma", "kling", "openai", "claude", "gemini", "serp"]

# Named after the DAG: in a DAG file, __name__ is a generated "unusual_prefix_..." module name.
log = logging.getLogger("example_acedata_provisioning")


@dag(
    schedule=None,
    catchup=False,
    tags=["acedata", "example"],
    params={
        "service_alias": Param(
            "midjourney",
            type="string",
            title="Service alias",
            description="The service to subscribe to, by its alias: " + ", ".join(SERVICE_ALIASES) + ", ...",
            examples=SERVICE_ALIASES,
        ),
        "min_remaining_amount": Param(
            1, type="number", minimum=0, title="Minimum balance", description="Credits to wait for."
        ),
        "poke_interval": Param(
            60, type="number", minimum=0.1, title="Poke interval", description="Seconds between balance checks."
        ),
    },
    doc_md=__doc__,
)
def example_acedata_provisioning() -> None:
    # [START howto_operator_create_application_by_alias]
    create_app = CreateApplicationOperator(
        task_id="create_application",
        service_alias="{{ params.service_alias }}",
    )
    # [END howto_operator_create_application_by_alias]

    # [START howto_sensor_application_balance]
    wait_for_balance = ApplicationBalanceSensor(
        task_id="wait_for_balance",
        application_id=create_app.output,
        min_remaining_amount="{{ params.min_remaining_amount }}",
        poke_interval="{{ params.poke_interval }}",
        deferrable=True,
        timeout=timedelta(days=1),
    )
    # [END howto_sensor_application_balance]

    # [START howto_operator_create_credential]
    create_key = CreateCredentialOperator(
        task_id="create_api_key",
        application_id=create_app.output,
        name=API_KEY_NAME,
        token_store=VariableTokenStore(API_KEY_VARIABLE),
    )
    # [END howto_operator_create_credential]

    @task
    def use_api_key(credential_id: str) -> str:
        """Read the key from the Variable, never from XCom; log only a fingerprint of it."""
        api_key = Variable.get(API_KEY_VARIABLE)
        log.info("API key %s is ready (%s)", credential_id, fingerprint(api_key))
        return credential_id

    wait_for_balance >> create_key
    use_api_key(create_key.output)


example_acedata_provisioning()
