"""Call Ace Data Cloud's APIs as DAG steps: provision a key, fan out over prompts, keep the images, count the Credits.

1. ``create_application`` subscribes to Flux (or reuses the application) with the platform token of the
   ``acedata_default`` connection.
2. ``create_api_key`` finds or creates the API key ``airflow-example-api`` and stores it in the Variable
   ``acedata_api_key``. The ``acedata_api_default`` connection reads its key from there: give it the extra
   ``{"rotation_variable": "acedata_api_key"}`` (its password is used until the Variable is set). Only the
   key's id goes to XCom.
3. ``generate`` fans ``CallApiOperator`` out over the ``prompts`` param: one Flux task per prompt, submitted
   once, waited for in the triggerer (the waits share their task reads), each image copied into
   ``{{ params.output }}/<task id>/``. Each mapped task returns a small manifest (task id, trace id, response,
   the copies' paths).
4. ``export_calls`` writes the call records this key made during the run (``[run start, now)``) to
   ``{{ params.output }}/calls.jsonl``, and ``report_spend`` sums the Credits they took.
5. ``rotate_api_key`` replaces the key with a new one, stores it in the same Variable, then deletes the old
   one: the connection keeps working with the new key. In production, rotate on a schedule of its own.

In a deployment whose ``acedata_api_default`` connection lives in the metadata database, the key can go to
the connection's password instead: ``AirflowConnectionTokenStore(conn_id="acedata_api_default")`` as the
``token_store`` of both steps (it needs an ``airflow_api`` connection to the api-server; ``dag.test()`` has
no api-server, which is why this example, run by ``make demo``, uses the Variable).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from airflow.sdk import ObjectStoragePath, Param, dag, task

from airflow_provider_acedata.operators import (
    CallApiOperator,
    CreateApplicationOperator,
    CreateCredentialOperator,
    ExportUsageOperator,
    RotateCredentialOperator,
)
from airflow_provider_acedata.token_stores import VariableTokenStore

API_KEY_VARIABLE = "acedata_api_key"
API_KEY_NAME = "airflow-example-api"

# Named after the DAG: in a DAG file, __name__ is a generated "unusual_prefix_..." module name.
log = logging.getLogger("example_acedata_api")


@dag(
    schedule=None,
    catchup=False,
    max_active_runs=1,
    tags=["acedata", "example"],
    params={
        "prompts": Param(
            ["a lighthouse at dawn", "a red fox in snow", "a paper boat on a pond", "a city of glass at night"],
            type="array",
            title="Prompts",
            description="One Flux image per prompt.",
        ),
        "output": Param(
            "file:///tmp/acedata-example-api",
            type="string",
            title="Output folder",
            description="An ObjectStoragePath folder for the images and the call records.",
        ),
        "poke_interval": Param(
            10, type="number", minimum=1, title="Poke interval", description="Seconds between reads of a task."
        ),
    },
    doc_md=__doc__,
)
def example_acedata_api() -> None:
    create_app = CreateApplicationOperator(task_id="create_application", service_alias="flux")

    create_key = CreateCredentialOperator(
        task_id="create_api_key",
        application_id=create_app.output,
        name=API_KEY_NAME,
        token_store=VariableTokenStore(API_KEY_VARIABLE),
    )

    # [START howto_operator_call_api_fan_out]
    @task
    def image_requests(**context: Any) -> list[dict[str, Any]]:
        """One Flux request body per prompt (every option of the API can go here)."""
        prompts = context["params"]["prompts"]
        return [{"action": "generate", "prompt": prompt, "size": "1024x1024"} for prompt in prompts]

    generate = CallApiOperator.partial(
        task_id="generate",
        path="/flux/images",
        destination="{{ params.output }}/images",  # one folder per task: <output>/images/<task id>/
        deferrable=True,
        poke_interval="{{ params.poke_interval }}",
    ).expand(body=image_requests())
    # [END howto_operator_call_api_fan_out]

    export_calls = ExportUsageOperator(
        task_id="export_calls",
        destination="{{ params.output }}/calls.jsonl",
        start="{{ dag_run.start_date }}",
        end="{{ macros.datetime.utcnow() }}",
        credential_id=create_key.output,
    )

    @task
    def report_spend(path: str, manifests: list[dict[str, Any]]) -> dict[str, Any]:
        """Count this run's calls and the Credits they took (refunds of failed tasks included)."""
        records = [json.loads(line) for line in ObjectStoragePath(path).read_text().splitlines() if line.strip()]
        credits = round(sum(float(record.get("deducted_amount") or 0) for record in records), 6)
        images = sum(len(manifest["artifacts"]) for manifest in manifests)
        log.info("%d calls took %g Credits and made %d images", len(records), credits, images)
        return {"calls": len(records), "credits": credits, "images": images}

    rotate_key = RotateCredentialOperator(
        task_id="rotate_api_key",
        credential_id=create_key.output,
        token_store=VariableTokenStore(API_KEY_VARIABLE),
    )

    create_key >> generate >> export_calls
    report_spend(export_calls.output, generate.output) >> rotate_key


example_acedata_api()
