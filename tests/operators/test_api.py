"""CallApiOperator against the offline gateway on real sockets: answers, waits, failures, never paying twice.

``execute`` runs with a context like a worker's: a task instance (try number, ``max_tries``) and Airflow 3.3's
task state store (a dict-backed stand-in here; the real one runs in tests/e2e). A retry is the same call
with the next try number and the same store; a clear raises ``max_tries``, as Airflow does.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_support import BODIES, CHAT, api_connection

from airflow_provider_acedata.exceptions import (
    AceDataInputError,
    AceDataRateLimitError,
    AceDataServerError,
    AceDataSubmitUnknownError,
    AceDataTaskFailedError,
)
from airflow_provider_acedata.operators import CallApiOperator, _submits
from airflow_provider_acedata.operators._artifacts import AceDataArtifactError
from airflow_provider_acedata.testing import FakeAceDataPlatform
from airflow_provider_acedata.triggers import ApiTaskTrigger
from airflow_provider_acedata.version_compat import AirflowFailException

try:
    from airflow.sdk.exceptions import TaskDeferred
except ImportError:  # Airflow 3.1
    from airflow.exceptions import TaskDeferred  # type: ignore[no-redef]

FLUX = "/flux/images"


class FakeTI:
    """What CallApiOperator reads of a running task instance."""

    def __init__(self, *, try_number: int = 1, max_tries: int = 2, map_index: int = -1) -> None:
        self.dag_id, self.run_id, self.task_id = "api_dag", "manual__1", "call"
        self.map_index = map_index
        self.try_number = try_number
        self.max_tries = max_tries
        self.pushed: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = json.loads(json.dumps(value))


class FakeStore:
    """Airflow 3.3's task state store as a task sees it: JSON values that outlive a try."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return copy.deepcopy(self.values.get(key, default))

    def set(self, key: str, value: Any, *, retention: Any = None) -> None:
        self.values[key] = json.loads(json.dumps(value))

    def delete(self, key: str) -> None:
        self.values.pop(key, None)


class Tries:
    """The tries of one task instance: ``next()`` is a retry, ``clear()`` a clear (a new generation)."""

    def __init__(self) -> None:
        self.store = FakeStore()
        self.ti = FakeTI()

    def context(self) -> dict[str, Any]:
        return {"ti": self.ti, "task_state_store": self.store}

    def next(self) -> dict[str, Any]:
        self.ti = FakeTI(try_number=self.ti.try_number + 1, max_tries=self.ti.max_tries)
        return self.context()

    def clear(self) -> dict[str, Any]:
        self.ti = FakeTI(try_number=self.ti.try_number + 1, max_tries=self.ti.try_number + 2)
        return self.context()


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeAceDataPlatform, str]]:
    with FakeAceDataPlatform() as fake:
        key = fake.issue_api_key(None, credits=1000)["token"]
        monkeypatch.setenv("AIRFLOW_CONN_ACEDATA_API_DEFAULT", api_connection(fake.gateway_url, key))
        for path in BODIES:
            fake.configure_route(path, duration=0.2)
        yield fake, key


def operator(path: str = FLUX, body: Any = None, **kwargs: Any) -> CallApiOperator:
    kwargs.setdefault("deferrable", False)
    kwargs.setdefault("poke_interval", 1)
    return CallApiOperator(task_id="call", path=path, body=BODIES.get(path) if body is None else body, **kwargs)


def submits(fake: FakeAceDataPlatform, path: str = FLUX) -> list[Any]:
    return fake.calls("POST", f"^{path}$", plane="gateway")


# -- bad input ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"path": "flux/images"}, "path"),
        ({"path": "/flux"}, "path"),
        ({"path": "/flux/../platform/x"}, "path"),
        ({"path": "/flux/images?async=false"}, "path"),
        ({"path": "https://evil.example/flux/images"}, "path"),
        ({"path": "//evil.example/flux/images"}, "path"),
        ({"body": "prompt=a fox"}, "body"),
        ({"body": ["a fox"]}, "body"),
        ({"body": {"prompt": math.nan}}, "body"),
        ({"body": {"when": object()}}, "body"),
        ({"poke_interval": 0.5}, "poke_interval"),
        ({"poke_interval": "soon"}, "poke_interval"),
        ({"destination": "nope://bucket/images"}, "destination"),
        ({"wait": "yes"}, "wait"),
    ],
)
def test_bad_input_fails_before_any_request(
    gateway: tuple[FakeAceDataPlatform, str], kwargs: dict[str, Any], field: str
) -> None:
    fake, _ = gateway
    arguments = {"path": FLUX, "body": BODIES[FLUX], **kwargs}

    with pytest.raises(AceDataInputError, match=field):
        operator(**arguments).execute(Tries().context())

    assert fake.requests == []


# -- what the answer decides ----------------------------------------------------------------------------


def test_a_chat_completion_is_the_result_and_no_task_read_follows(gateway: tuple[FakeAceDataPlatform, str]) -> None:
    fake, key = gateway
    tries = Tries()

    manifest = operator("/openai/chat/completions", CHAT).execute(tries.context())

    assert manifest["task_id"] is None
    assert manifest["state"] == "succeeded"
    assert manifest["response"]["object"] == "chat.completion"
    assert manifest["artifacts"] == []
    [sent] = submits(fake, "/openai/chat/completions")
    assert sent.body == CHAT  # no "async" for a route that answers at once
    assert fake.calls(path="/tasks$") == []
    assert "task_id" not in tries.ti.pushed
    assert key not in json.dumps(manifest)


def test_a_task_route_gets_async_and_is_waited_for_in_the_worker(gateway: tuple[FakeAceDataPlatform, str]) -> None:
    fake, key = gateway
    tries = Tries()

    manifest = operator(FLUX).execute(tries.context())

    [sent] = submits(fake)
    assert sent.body == {**BODIES[FLUX], "async": True}
    task_id = manifest["task_id"]
    assert tries.ti.pushed["task_id"] == task_id
    assert manifest["state"] == "succeeded"
    assert manifest["path"] == FLUX
    assert manifest["trace_id"] == fake.task(task_id)["trace_id"]
    assert manifest["response"] == fake.task(task_id)["response"]
    assert manifest["artifacts"] == [item["image_url"] for item in manifest["response"]["data"]]
    assert set(manifest) == {"task_id", "trace_id", "path", "state", "response", "artifacts"}
    assert key not in json.dumps(manifest)
    reads = fake.calls(path="^/flux/tasks$")
    assert reads and all(read.body == {"action": "retrieve", "id": task_id} for read in reads)


def test_the_body_keeps_its_own_async(gateway: tuple[FakeAceDataPlatform, str]) -> None:
    fake, _ = gateway
    fake.configure_route("/suno/audios", duration=0.1)

    manifest = operator("/suno/audios", {**BODIES["/suno/audios"], "async": False}).execute(Tries().context())

    [sent] = submits(fake, "/suno/audios")
    assert sent.body["async"] is False
    assert manifest["state"] == "succeeded" and len(manifest["artifacts"]) == 4
    assert fake.calls(path="/tasks$") == []  # the blocking answer was the result


def test_wait_false_returns_after_the_submit(gateway: tuple[FakeAceDataPlatform, str]) -> None:
    fake, _ = gateway
    tries = Tries()

    manifest = operator("/veo/videos", wait=False).execute(tries.context())

    assert manifest["state"] == "submitted"
    assert manifest["task_id"] == tries.ti.pushed["task_id"]
    assert manifest["response"] == {"success": True, "task_id": manifest["task_id"], "trace_id": manifest["trace_id"]}
    assert manifest["artifacts"] == []
    assert fake.calls(path="/tasks$") == []


def test_deferrable_hands_the_wait_to_the_trigger_without_the_key(gateway: tuple[FakeAceDataPlatform, str]) -> None:
    fake, key = gateway
    tries = Tries()
    op = operator("/midjourney/imagine", deferrable=True, poke_interval=3)

    with pytest.raises(TaskDeferred) as deferred:
        op.execute(tries.context())

    trigger = deferred.value.trigger
    assert isinstance(trigger, ApiTaskTrigger)
    _, kwargs = trigger.serialize()
    task_id = tries.ti.pushed["task_id"]
    assert kwargs == {
        "gateway_task_id": task_id,
        "path": "/midjourney/imagine",
        "acedata_api_conn_id": "acedata_api_default",
        "poke_interval": 3.0,
        "end_time": None,
    }
    assert key not in json.dumps(kwargs)
    assert deferred.value.method_name == "execute_complete"
    assert fake.calls(path="/tasks$") == []  # a fresh task is first read by the trigger, one interval on

    fake.advance(5)
    event = {"status": "succeeded", "task_id": task_id, "record": fake.task(task_id)}
    manifest = op.execute_complete(tries.context(), event)
    assert manifest["task_id"] == task_id
    assert manifest["artifacts"] == [
        fake.task(task_id)["response"]["image_url"],
        fake.task(task_id)["response"]["raw_image_url"],
    ]


def test_execute_complete_fails_on_a_timeout_or_error_event(gateway: tuple[FakeAceDataPlatform, str]) -> None:
    op = operator(deferrable=True)

    with pytest.raises(Exception, match="reattaches") as timed_out:
        op.execute_complete(Tries().context(), {"status": "timeout", "task_id": "t", "message": "still running"})
    assert not isinstance(timed_out.value, AirflowFailException)  # a retry may wait again
    with pytest.raises(Exception, match="403"):
        op.execute_complete(Tries().context(), {"status": "error", "task_id": "t", "message": "403 disabled"})


# -- failures -----------------------------------------------------------------------------------------


def test_a_failed_task_fails_with_the_gateways_code_and_message(gateway: tuple[FakeAceDataPlatform, str]) -> None:
    fake, _ = gateway
    fake.fail_tasks(f"{FLUX}$", code="forbidden", message="Refused by moderation.")

    with pytest.raises(AceDataTaskFailedError) as failed:
        operator().execute(Tries().context())

    error = failed.value
    assert isinstance(error, AirflowFailException)  # no retry: it would only find the same failed task
    assert (error.code, error.api_message) == ("forbidden", "Refused by moderation.")
    assert error.task_id == fake.tasks(FLUX)[0]["id"]
    assert error.trace_id == fake.tasks(FLUX)[0]["trace_id"]
    assert "[forbidden]: Refused by moderation." in str(error)


def test_a_refusal_that_another_try_cannot_change_fails_at_once(gateway: tuple[FakeAceDataPlatform, str]) -> None:
    fake, _ = gateway
    with pytest.raises(AirflowFailException, match="prompt is required"):
        operator(body={"action": "generate"}).execute(Tries().context())
    assert fake.tasks(FLUX) == []


# -- never paid twice ------------------------------------------------------------------------------------


def test_a_lost_answer_fails_and_no_try_submits_again(gateway: tuple[FakeAceDataPlatform, str]) -> None:
    fake, _ = gateway
    fake.fail(plane="gateway", path=f"^{FLUX}$", drop=True, after_apply=True)
    tries = Tries()

    with pytest.raises(AceDataSubmitUnknownError) as lost:
        operator().execute(tries.context())
    with pytest.raises(AceDataSubmitUnknownError) as again:
        operator().execute(tries.next())

    assert isinstance(lost.value, AirflowFailException)
    assert "may have created a task that is charged" in str(lost.value)
    assert "call records" in str(lost.value) and "clear this task instance" in str(lost.value)
    assert "never saw the answer" in str(again.value)
    assert len(submits(fake)) == 1
    assert len(fake.tasks(FLUX)) == 1  # the task exists (and was charged): paid once


def test_a_retry_reattaches_to_the_task_it_submitted(
    gateway: tuple[FakeAceDataPlatform, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake, key = gateway
    monkeypatch.setenv("AIRFLOW_CONN_ACEDATA_API_DEFAULT", api_connection(fake.gateway_url, key, retry_limit=0))
    reads_fail = fake.fail(plane="gateway", path="^/flux/tasks$", status=503, times=1)
    tries = Tries()

    with pytest.raises(AceDataServerError):
        operator().execute(tries.context())
    manifest = operator().execute(tries.next())

    assert reads_fail.hits == 1
    assert len(submits(fake)) == 1
    assert manifest["task_id"] == fake.tasks(FLUX)[0]["id"] == tries.ti.pushed["task_id"]
    assert manifest["state"] == "succeeded"


def test_a_retry_of_a_deferred_wait_reattaches_and_reads_first(gateway: tuple[FakeAceDataPlatform, str]) -> None:
    fake, _ = gateway
    tries = Tries()
    with pytest.raises(TaskDeferred):
        operator(deferrable=True).execute(tries.context())
    fake.advance(5)

    manifest = operator(deferrable=True).execute(tries.next())  # done already: no second deferral

    assert len(submits(fake)) == 1
    assert manifest["task_id"] == fake.tasks(FLUX)[0]["id"]


def test_a_refused_submit_lets_the_retry_submit(gateway: tuple[FakeAceDataPlatform, str]) -> None:
    fake, _ = gateway
    fake.fail(plane="gateway", path=f"^{FLUX}$", status=429, retry_after=1)
    tries = Tries()

    with pytest.raises(AceDataRateLimitError):
        operator().execute(tries.context())
    assert tries.store.values == {}  # nothing was created: nothing to reattach to
    manifest = operator().execute(tries.next())

    assert len(fake.tasks(FLUX)) == 1
    assert manifest["state"] == "succeeded"


def test_an_answer_received_is_not_asked_for_again(gateway: tuple[FakeAceDataPlatform, str], tmp_path: Path) -> None:
    fake, _ = gateway
    fake.fail(plane="artifacts", status=503, times=3)
    tries = Tries()
    blocking = {**BODIES["/suno/audios"], "async": False}

    with pytest.raises(AceDataArtifactError):
        operator("/suno/audios", blocking, destination=f"file://{tmp_path}").execute(tries.context())
    manifest = operator("/suno/audios", blocking, destination=f"file://{tmp_path}").execute(tries.next())

    assert len(submits(fake, "/suno/audios")) == 1
    assert len(manifest["artifacts"]) == 4


def test_a_cleared_task_instance_submits_afresh(gateway: tuple[FakeAceDataPlatform, str]) -> None:
    fake, _ = gateway
    tries = Tries()

    first = operator().execute(tries.context())
    second = operator().execute(tries.clear())

    assert len(submits(fake)) == 2
    assert first["task_id"] != second["task_id"]


def test_a_retry_that_would_send_another_body_keeps_to_the_first(
    gateway: tuple[FakeAceDataPlatform, str], capsys: pytest.CaptureFixture[str]
) -> None:
    fake, _ = gateway
    tries = Tries()
    with pytest.raises(TaskDeferred):
        operator(deferrable=True).execute(tries.context())

    with pytest.raises(TaskDeferred):
        operator(body={**BODIES[FLUX], "prompt": "a different fox"}, deferrable=True).execute(tries.next())

    assert len(submits(fake)) == 1
    assert "would send a different request" in capsys.readouterr().out


def test_airflow_3_1_and_3_2_keep_the_record_in_a_variable(
    gateway: tuple[FakeAceDataPlatform, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a task state store the record goes to a Variable named after the task instance."""
    fake, _ = gateway
    variables: dict[str, str] = {}

    class Variables:
        @staticmethod
        def get(key: str, default: Any = None) -> Any:
            return variables.get(key, default)

        @staticmethod
        def set(key: str, value: str, description: str | None = None) -> None:
            variables[key] = value

        @staticmethod
        def delete(key: str) -> None:
            variables.pop(key, None)

    monkeypatch.setattr(_submits, "Variable", Variables)
    fake.fail(plane="gateway", path=f"^{FLUX}$", drop=True, after_apply=True)
    ti = FakeTI(map_index=3)
    key = _submits.variable_key("api_dag", "manual__1", "call", 3)

    with pytest.raises(AceDataSubmitUnknownError, match=key):
        operator().execute({"ti": ti})
    assert json.loads(variables[key])["state"] == "submitting"
    with pytest.raises(AceDataSubmitUnknownError):
        operator().execute({"ti": FakeTI(try_number=2, map_index=3)})
    assert len(submits(fake)) == 1

    manifest = operator().execute({"ti": FakeTI(map_index=4)})  # another mapped index: its own record
    assert manifest["state"] == "succeeded"
    assert _submits.variable_key("api_dag", "manual__1", "call", 4) not in variables  # deleted on success
    assert key.startswith("acedata_api_submit_") and len(key) < 64


def test_a_record_that_cannot_be_written_stops_the_submit(gateway: tuple[FakeAceDataPlatform, str]) -> None:
    fake, _ = gateway

    class ReadOnly(FakeStore):
        def set(self, key: str, value: Any, *, retention: Any = None) -> None:
            return None  # the write is lost without an error, as 3.2's Variable.set could

    with pytest.raises(_submits.SubmitLedgerError, match="Nothing was submitted"):
        operator().execute({"ti": FakeTI(), "task_state_store": ReadOnly()})
    assert submits(fake) == []


# -- artifacts ----------------------------------------------------------------------------------------


def test_artifacts_are_copied_without_the_key(gateway: tuple[FakeAceDataPlatform, str], tmp_path: Path) -> None:
    fake, key = gateway
    fake.configure_route("/suno/audios", duration=0.2)

    manifest = operator("/suno/audios", destination=f"file://{tmp_path}/songs").execute(Tries().context())

    task_id = manifest["task_id"]
    urls = [song[kind] for song in fake.task(task_id)["response"]["data"] for kind in ("audio_url", "image_url")]
    assert manifest["artifacts"] == [f"file://{tmp_path}/songs/{task_id}/{url.rsplit('/', 1)[1]}" for url in urls]
    for url, copied in zip(urls, manifest["artifacts"], strict=True):
        assert Path(copied.removeprefix("file://")).read_bytes() == fake.artifact_bytes(url)
    assert sorted(p.name for p in (tmp_path / "songs" / task_id).iterdir()) == ["0.jpeg", "0.mp3", "1.jpeg", "1.mp3"]
    downloads = fake.calls(plane="artifacts")
    assert len(downloads) == 4 and {record.token for record in downloads} == {None}
    assert key not in json.dumps(manifest)


def test_a_failed_copy_leaves_no_partial_file(gateway: tuple[FakeAceDataPlatform, str], tmp_path: Path) -> None:
    fake, _ = gateway
    fake.fail(plane="artifacts", status=404, times=None)

    with pytest.raises(AceDataArtifactError, match="404"):
        operator(destination=f"file://{tmp_path}").execute(Tries().context())

    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
