"""Rotate the Ace Data Cloud platform token on a schedule, storing it back in the Airflow connection.

**Shipped with ``schedule=None``: it rotates only when you trigger it.** For a weekly rotation, set
``schedule="@weekly"`` (with ``catchup=False``). Beware: unpausing a scheduled DAG whose ``start_date`` is
in the past makes the scheduler run the latest interval at once, and the trigger dialog's default
"Unpause on trigger" turns one click into two rotations.

The new token is created, tested and written to the ``acedata_default`` connection through Airflow's REST
API before the old one is revoked, so a failure at any step leaves a working token in place. Tasks cannot
write connections directly in Airflow 3, hence ``AirflowConnectionTokenStore`` and the ``airflow_api``
connection: the api-server's URL as host, and login/password (or a token as password) allowed to edit
connections. Only token ids reach XCom.
"""

from __future__ import annotations

import logging
from datetime import datetime

from airflow.sdk import DAG, task

from airflow_provider_acedata.operators import RotatePlatformTokenOperator
from airflow_provider_acedata.token_stores import AirflowConnectionTokenStore

# Named after the DAG: in a DAG file, __name__ is a generated "unusual_prefix_..." module name.
log = logging.getLogger("example_acedata_rotation")

with DAG(
    dag_id="example_acedata_rotation",
    schedule=None,  # rotate weekly with schedule="@weekly"; see the docstring
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["acedata", "example"],
    doc_md=__doc__,
):
    # [START howto_rotate_platform_token]
    rotate = RotatePlatformTokenOperator(
        task_id="rotate_platform_token",
        acedata_conn_id="acedata_default",
        token_store=AirflowConnectionTokenStore(conn_id="acedata_default", airflow_api_conn_id="airflow_api"),
        keep_previous=0,
    )
    # [END howto_rotate_platform_token]

    @task
    def announce(new_token_id: str) -> str:
        """Downstream tasks get the new token's id, never the token."""
        log.info("The acedata_default connection now holds platform token %s", new_token_id)
        return new_token_id

    announce(rotate.output)
