"""Subscribe to an Ace Data Cloud service as a pipeline step, then use the application id downstream.

``create_application`` creates the application of the service named by the ``service_alias`` param
(``midjourney`` by default) for the account of the ``acedata_default`` connection, or reuses it if it
already exists, so the DAG can run any number of times. It returns only the application id, which
``report_balance`` receives through XCom (``create_app.output``) to look up the balance. API keys (the
application's ``credentials``) never go to XCom or the logs.

Trigger it with another service: type its alias (``suno``, ``flux``, ...) into *Service alias*, or clear
that field and give the service's UUID as *Service id*. Nothing here calls the platform while the file is
parsed; the connection is read only when a task runs.
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk import Param, dag, task

from airflow_provider_acedata.hooks import AceDataHook

# [START howto_operator_create_application]
from airflow_provider_acedata.operators import CreateApplicationOperator

# [END howto_operator_create_application]

#: Aliases of the platform's API services (the console's service pages show each one's alias).
SERVICE_ALIASES = ["midjourney", "suno", "flux", "veo", "luma", "kling", "openai", "claude", "gemini", "serp"]

# Named after the DAG: in a DAG file, __name__ is a generated "unusual_prefix_..." module name.
log = logging.getLogger("example_acedata_application")


@dag(
    schedule=None,
    catchup=False,
    tags=["acedata", "example"],
    params={
        "service_alias": Param(
            "midjourney",
            type=["null", "string"],
            title="Service alias",
            description="The service to subscribe to, by its alias: " + ", ".join(SERVICE_ALIASES) + ", ...",
            examples=SERVICE_ALIASES,
        ),
        "service_id": Param(
            None,
            type=["null", "string"],
            title="Service id",
            description="Or the service's UUID; then clear Service alias (give one of the two).",
        ),
    },
    doc_md=__doc__,
)
def example_acedata_application() -> None:
    # [START howto_operator_create_application]
    create_app = CreateApplicationOperator(
        task_id="create_application",
        service_alias="{{ params.service_alias or '' }}",  # e.g. "midjourney", resolved at run time
        service_id="{{ params.service_id or '' }}",  # or the service's UUID: give one of the two
        application_type="Usage",  # or "Period"
        scope="Individual",  # or "Global" (then neither alias nor id)
        if_exists="reuse",  # "reuse" | "fail" | "create"
    )
    # [END howto_operator_create_application]

    @task
    def report_balance(application_id: str) -> dict[str, Any]:
        """Read the application's current balance; returns the id and balance only, never its credentials."""
        application = AceDataHook().get_application(application_id)
        remaining = float(application.get("remaining_amount") or 0)
        log.info("Application %s has %g Credits", application["id"], remaining)
        return {"application_id": application["id"], "remaining_amount": remaining}

    # [START howto_operator_create_application]
    report_balance(create_app.output)  # receives the application id
    # [END howto_operator_create_application]


example_acedata_application()
