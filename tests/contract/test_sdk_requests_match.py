"""For the same inputs, CallApiOperator sends the official SDK's requests: its paths and bodies, pinned.

``sdk_gateway_requests.json`` records what the SDK (acedatacloud 2026.10.20.0) sends for fixed inputs,
against the offline gateway (``test_official_gateway.py`` checks it is current). Here ``CallApiOperator``
gets the same route and the same body (without the ``async`` the SDK adds on its own) and waits in the
worker, so its task reads go out one by one as the SDK's do. Every request must match, but for the pinned
differences below, each a decision of ours.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_support import api_connection

from airflow_provider_acedata.exceptions import AceDataSubmitUnknownError, AceDataTaskFailedError
from airflow_provider_acedata.operators import CallApiOperator
from airflow_provider_acedata.testing import FakeAceDataPlatform

FIXTURE = Path(__file__).with_name("sdk_gateway_requests.json")
SCENARIOS = {
    "midjourney: transport submit, tasks.get, tasks.wait": "same",
    "suno: suno.generate, handle.wait": "same",
    "flux: flux.generate, handle.wait": "same",
    "openai: chat.completions.create": "same",
    "suno: a task that fails": "same",
    # The SDK's veo.generate sends no "async"; we send it to every task route (Veo answers a bare task id
    # either way, Docs concepts/async-tasks.mdx), then read the task as the SDK's tasks.wait does.
    "veo: veo.generate, tasks.wait": "async added",
    # audio.generate / images.generate without async_ make the gateway hold the answer until the song or
    # image is done (a worker held, and a lost answer on a long wait); we submit async and read the task.
    "suno: audio.generate without async": "async added, then task reads",
    "flux: images.generate without async": "async added, then task reads",
    # The SDK retries the POST whose answer was lost (two paid tasks); we send it once and fail saying so.
    "flux: a lost submit answer, max_retries=1": "sent once",
}
"""The SDK's scenarios that submit a task or a chat, and how our requests compare with its."""


def pinned() -> dict[str, list[dict[str, Any]]]:
    return dict(json.loads(FIXTURE.read_text())["scenarios"])


def sent(platform: FakeAceDataPlatform) -> list[dict[str, Any]]:
    """The gateway requests, as the SDK's recorder lists them (task ids masked, a repeated read once)."""
    found: list[dict[str, Any]] = []
    for record in platform.calls(plane="gateway"):
        body = record.body
        if isinstance(body, dict) and body.get("action") == "retrieve":
            body = {**body, "id": "<task_id>"}
        entry = {"method": record.method, "path": record.path, "body": body}
        if not (found and found[-1] == entry and entry["path"].endswith("/tasks")):
            found.append(entry)
    return found


@pytest.fixture(scope="module")
def ours() -> Iterator[dict[str, list[dict[str, Any]]]]:
    """Run CallApiOperator for each scenario (a fresh gateway each) and keep the requests it sent."""
    results: dict[str, list[dict[str, Any]]] = {}
    with pytest.MonkeyPatch.context() as patch:
        for scenario, requests in pinned().items():
            if scenario not in SCENARIOS:
                continue
            submit = requests[0]
            body = {key: value for key, value in submit["body"].items() if key != "async"}
            with FakeAceDataPlatform() as fake:
                for path in ("/midjourney/imagine", "/suno/audios", "/flux/images", "/veo/videos"):
                    fake.configure_route(path, duration=0.6)
                key = fake.issue_api_key(None, credits=100)["token"]
                patch.setenv("AIRFLOW_CONN_ACEDATA_API_DEFAULT", api_connection(fake.gateway_url, key))
                if scenario == "suno: a task that fails":
                    fake.fail_tasks("/suno/audios$", code="forbidden", message="Refused by moderation.")
                if scenario.startswith("flux: a lost"):
                    fake.fail(plane="gateway", path="^/flux/images$", drop=True, after_apply=True)
                operator = CallApiOperator(
                    task_id="call", path=submit["path"], body=body, deferrable=False, poke_interval=1
                )
                context = {"ti": _TI(), "task_state_store": _Store()}
                with contextlib.suppress(AceDataTaskFailedError, AceDataSubmitUnknownError):
                    operator.execute(context)
                results[scenario] = sent(fake)
    yield results


class _TI:
    dag_id, run_id, task_id, map_index, try_number, max_tries = "d", "r", "call", -1, 1, 0

    def xcom_push(self, key: str, value: Any) -> None:
        pass


class _Store:
    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def set(self, key: str, value: Any, **_: Any) -> None:
        self.values[key] = json.loads(json.dumps(value))

    def delete(self, key: str) -> None:
        self.values.pop(key, None)


def test_every_pinned_scenario_is_compared() -> None:
    assert set(SCENARIOS) <= set(pinned())


@pytest.mark.parametrize("scenario", [name for name, how in SCENARIOS.items() if how == "same"])
def test_same_paths_and_bodies_as_the_sdk(ours: dict[str, list[dict[str, Any]]], scenario: str) -> None:
    assert ours[scenario] == pinned()[scenario]


def test_veo_gets_async_like_every_task_route(ours: dict[str, list[dict[str, Any]]]) -> None:
    scenario = "veo: veo.generate, tasks.wait"
    submit, read = pinned()[scenario]

    assert ours[scenario] == [{**submit, "body": {**submit["body"], "async": True}}, read]


@pytest.mark.parametrize("scenario", ["suno: audio.generate without async", "flux: images.generate without async"])
def test_a_blocking_call_of_the_sdk_is_a_task_and_its_reads_here(
    ours: dict[str, list[dict[str, Any]]], scenario: str
) -> None:
    [submit] = pinned()[scenario]
    service = submit["path"].split("/")[1]

    assert ours[scenario] == [
        {**submit, "body": {**submit["body"], "async": True}},
        {"method": "POST", "path": f"/{service}/tasks", "body": {"action": "retrieve", "id": "<task_id>"}},
    ]


def test_a_lost_answer_is_sent_once_where_the_sdk_sends_it_twice(ours: dict[str, list[dict[str, Any]]]) -> None:
    scenario = "flux: a lost submit answer, max_retries=1"
    first, second = pinned()[scenario]

    assert first == second
    assert ours[scenario] == [first]
