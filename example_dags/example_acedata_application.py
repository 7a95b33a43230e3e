"""Subscribe to an Ace Data Cloud service as a pipeline step, then use the application id downstream.

``create_application`` creates the application of the service given by the ``service_id`` param (Midjourney
by default) for the account of the ``acedata_default`` connection, or reuses it if it already exists, so the
DAG can run any number of times. It returns only the application id, which ``report_balance`` receives
through XCom (``create_app.output``) to look up the balance. API keys (the application's ``credentials``)
never go to XCom or the logs.

Trigger it with another service: ``{"service_id": "<service uuid>"}``. Nothing here calls the platform
while the file is parsed; the connection is read only when a task runs.
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk import Param, dag, task

from airflow_provider_acedata.hooks import AceDataHook
from airflow_provider_acedata.operators import CreateApplicationOperator

MIDJOURNEY_SERVICE_ID = "d87e5e99-b797-4ade-9e73-b896896b0461"

# Named after the DAG: in a DAG file, __name__ is a generated "unusual_prefix_..." module name.
log = logging.getLogger("example_acedata_application")


@dag(
    schedule=None,
    catchup=False,
    tags=["acedata", "example"],
    params={
        "service_id": Param(
            MIDJOURNEY_SERVICE_ID,
            type="string",
            title="Service id",
            description="UUID of the Ace Data Cloud service to subscribe to.",
        )
    },
    doc_md=__doc__,
)
def example_acedata_application() -> None:
    # [START howto_operator_create_application]
    create_app = CreateApplicationOperator(
        task_id="create_application",
        service_id="{{ params.service_id }}",
        application_type="Usage",
        scope="Individual",
        if_exists="reuse",
    )
    # [END howto_operator_create_application]

    @task
    def report_balance(application_id: str) -> dict[str, Any]:
        """Read the application's current balance; returns the id and balance only, never its credentials."""
        application = AceDataHook().get_application(application_id)
        report = {"application_id": application["id"], "remaining_amount": application.get("remaining_amount")}
        log.info("Application %(application_id)s has %(remaining_amount)s credits left", report)
        return report

    report_balance(create_app.output)


example_acedata_application()
