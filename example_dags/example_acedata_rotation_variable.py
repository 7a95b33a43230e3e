"""Rotate the Ace Data Cloud platform token on a schedule, keeping the current one in an Airflow Variable.

**Shipped with ``schedule=None``: it rotates only when you trigger it.** For a weekly rotation, set
``schedule="@weekly"`` (with ``catchup=False``). Beware: unpausing a scheduled DAG whose ``start_date`` is
in the past makes the scheduler run the latest interval at once, and the trigger dialog's default
"Unpause on trigger" turns one click into two rotations.

``rotate_token`` creates a new platform token, checks that it authenticates as the same account, writes it
to the Variable ``acedata_platform_token`` (and reads it back), and only then revokes the old token. It
returns the new token's id, never the token, which ``report_rotation`` receives through XCom.

To close the loop in plain Airflow, give the ``acedata_default`` connection the extra
``{"rotation_variable": "acedata_platform_token"}``: every AceDataHook then reads the token from that
Variable once it is set, and falls back to the connection password before the first rotation. Without
that extra, the hook would keep using the password, which the first rotation revokes. For the same reason,
rotate one connection with one store only: this DAG or ``example_acedata_rotation`` (which writes the
connection itself), not both.

``max_active_runs=1`` and ``catchup=False`` keep to one rotation at a time; the operator also takes a lease
on the platform, so manual triggers or a second DAG cannot interleave with it either.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from airflow.sdk import dag, task

from airflow_provider_acedata.operators import RotatePlatformTokenOperator
from airflow_provider_acedata.token_stores import VariableTokenStore

TOKEN_VARIABLE = "acedata_platform_token"

# Named after the DAG: in a DAG file, __name__ is a generated "unusual_prefix_..." module name.
log = logging.getLogger("example_acedata_rotation_variable")


@dag(
    schedule=None,  # rotate weekly with schedule="@weekly"; see the docstring
    start_date=datetime(2025, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    tags=["acedata", "example"],
    doc_md=__doc__,
)
def example_acedata_rotation_variable() -> None:
    # [START howto_operator_rotate_platform_token_variable]
    rotate = RotatePlatformTokenOperator(
        task_id="rotate_token",
        token_store=VariableTokenStore(TOKEN_VARIABLE),
        keep_previous=0,
    )
    # [END howto_operator_rotate_platform_token_variable]

    @task
    def report_rotation(new_token_id: str) -> str:
        """Log which token is now in use, by id."""
        log.info("Platform token rotated; the connection now uses token %s", new_token_id)
        return new_token_id

    report_rotation(rotate.output)


example_acedata_rotation_variable()
