"""The API example DAG in real Airflow (``dag.test()``) against the offline platform and gateway over sockets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from airflow.dag_processing.dagbag import DagBag

    from airflow_provider_acedata.testing import FakeAceDataPlatform, RequestRecord

pytestmark = pytest.mark.usefixtures("airflow_db")

API_DAG = "example_acedata_api"
API_KEY_VARIABLE = "acedata_api_key"


def xcoms(run: Any) -> dict[tuple[str, int, str], Any]:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.scalars(
            select(XComModel).where(XComModel.dag_id == run.dag_id, XComModel.run_id == run.run_id)
        ).all()
        return {(row.task_id, row.map_index, row.key): row.value for row in rows}


def test_the_api_dag_provisions_fans_out_copies_accounts_and_rotates(
    example_dag_bag: tuple[DagBag, list[RequestRecord]],
    platform_conn: FakeAceDataPlatform,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    from airflow.models.variable import Variable

    platform = platform_conn
    monkeypatch.setenv(
        "AIRFLOW_CONN_ACEDATA_API_DEFAULT",
        json.dumps(
            {
                "conn_type": "acedata_api",
                "host": platform.gateway_url,
                "extra": {"rotation_variable": API_KEY_VARIABLE, "retry_delay": 0},
            }
        ),
    )
    Variable.delete(API_KEY_VARIABLE)
    prompts = ["a lighthouse", "a fox", "a boat"]
    dag = example_dag_bag[0].dags[API_DAG]

    run = dag.test(run_conf={"output": f"file://{tmp_path}", "prompts": prompts, "poke_interval": 1})

    assert run.state == "success"
    found = xcoms(run)
    manifests = [found[("generate", index, "return_value")] for index in range(len(prompts))]
    assert [m["response"]["data"][0]["prompt"] for m in manifests] == prompts
    assert platform.gateway_stats().submits == {"/flux/images": len(prompts)}
    for manifest in manifests:
        [copy] = manifest["artifacts"]
        url = manifest["response"]["data"][0]["image_url"]
        assert copy == f"file://{tmp_path}/images/{manifest['task_id']}/0.png"
        assert Path(copy.removeprefix("file://")).read_bytes() == platform.artifact_bytes(url)
    exported = (tmp_path / "calls.jsonl").read_text().splitlines()
    assert found[("report_spend", -1, "return_value")] == {"calls": 3, "credits": 1.5, "images": 3}
    assert sorted(json.loads(line)["trace_id"] for line in exported) == sorted(m["trace_id"] for m in manifests)
    old, new = found[("create_api_key", -1, "return_value")], found[("rotate_api_key", -1, "return_value")]
    live = {credential["id"]: credential["token"] for credential in platform.credentials()}
    assert old not in live and live[new] == Variable.get(API_KEY_VARIABLE)
    keys = [c["token"] for c in platform.credentials()] + [r.token for r in platform.calls(plane="gateway") if r.token]
    text = json.dumps([str(value) for value in found.values()])
    assert keys and not [key for key in keys if key in text]
    Variable.delete(API_KEY_VARIABLE)
