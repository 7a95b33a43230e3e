"""AceDataApiHook against requests-mock: the API key, submits never retried, task reads retried, gateway errors."""

from __future__ import annotations

import asyncio
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
import requests
from testdata import TOKEN, redact

from airflow_provider_acedata.exceptions import (
    AceDataAuthenticationError,
    AceDataInputError,
    AceDataInsufficientBalanceError,
    AceDataPermissionError,
    AceDataRateLimitError,
    AceDataServerError,
    AceDataTransportError,
)
from airflow_provider_acedata.hooks import AceDataApiHook

GATEWAY = "https://api.example.test"
KEY = "9f2b3c4d5e6f4a1b8c7d6e5f4a3b2c1d"
TASK = "b7e1f9a4-1c2d-4e5f-8a9b-0c1d2e3f4a5b"


@pytest.fixture
def api(monkeypatch) -> AceDataApiHook:
    connection = {"conn_type": "acedata_api", "host": GATEWAY, "password": KEY, "extra": {"retry_delay": 0}}
    monkeypatch.setenv("AIRFLOW_CONN_ACEDATA_API_DEFAULT", json.dumps(connection))
    return AceDataApiHook()


def gateway_error(status: int, code: str, message: str) -> dict:
    return {"status_code": status, "json": {"error": {"code": code, "message": message}, "trace_id": "trace-1"}}


def test_a_call_sends_the_key_to_the_connections_host_and_returns_the_answer(api, requests_mock):
    route = requests_mock.post(f"{GATEWAY}/midjourney/imagine", json={"task_id": TASK, "trace_id": "t"})

    assert api.call("/midjourney/imagine", {"prompt": "a cat", "async": True}) == {"task_id": TASK, "trace_id": "t"}
    sent = route.last_request
    assert sent.headers["Authorization"] == f"Bearer {KEY}"
    assert sent.json() == {"prompt": "a cat", "async": True}
    assert sent.timeout == 30.0


@pytest.mark.parametrize(
    ("failure", "kind"),
    [
        ({"status_code": 503}, AceDataServerError),
        ({"status_code": 429, "headers": {"Retry-After": "0"}}, AceDataRateLimitError),
        ({"exc": requests.ConnectionError("reset")}, AceDataTransportError),
    ],
)
def test_a_submit_is_never_retried(api, requests_mock, failure, kind):
    route = requests_mock.post(f"{GATEWAY}/suno/audios", **failure)

    with pytest.raises(kind):
        api.call("/suno/audios", {"prompt": "a song"})
    assert route.call_count == 1


def test_a_lost_answer_is_a_transport_error_that_says_it_timed_out(api, requests_mock):
    requests_mock.post(f"{GATEWAY}/veo/videos", exc=requests.Timeout("read timed out"))

    with pytest.raises(AceDataTransportError) as caught:
        api.call("/veo/videos", {"prompt": "waves"})
    assert caught.value.timed_out


def test_task_reads_are_reads_and_are_retried(api, requests_mock):
    route = requests_mock.post(
        f"{GATEWAY}/midjourney/tasks",
        [{"status_code": 502}, {"status_code": 429, "headers": {"Retry-After": "0"}}, {"json": {"id": TASK}}],
    )

    assert api.retrieve("midjourney", TASK) == {"id": TASK}
    assert route.call_count == 3
    assert route.last_request.json() == {"action": "retrieve", "id": TASK}


def test_retrieve_batch_sends_the_ids_and_returns_the_items(api, requests_mock):
    route = requests_mock.post(f"{GATEWAY}/suno/tasks", json={"items": [{"id": "a"}, {"id": "b"}], "count": 2})

    assert api.retrieve_batch("suno", ["a", "b"]) == [{"id": "a"}, {"id": "b"}]
    assert route.last_request.json() == {"action": "retrieve_batch", "ids": ["a", "b"]}


class Gateway(BaseHTTPRequestHandler):
    """A loopback gateway for the async (httpx) path: answers each POST with the next scripted answer."""

    answers: ClassVar[list[tuple[int, dict]]] = []
    seen: ClassVar[list[tuple[str, str, dict]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.seen.append((self.path, self.headers["Authorization"], body))
        status, answer = self.answers.pop(0)
        payload = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def loopback(monkeypatch):
    server = ThreadingHTTPServer(("127.0.0.1", 0), Gateway)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    connection = {
        "conn_type": "acedata_api",
        "host": f"http://127.0.0.1:{server.server_address[1]}",
        "password": KEY,
        "extra": {"retry_delay": 0},
    }
    monkeypatch.setenv("AIRFLOW_CONN_ACEDATA_API_DEFAULT", json.dumps(connection))
    Gateway.answers, Gateway.seen = [], []
    try:
        yield Gateway
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_async_task_reads_send_the_same_requests_and_are_retried(loopback):
    loopback.answers = [(502, {}), (200, {"items": [{"id": "a"}], "count": 1}), (200, {"id": TASK})]

    async def read() -> tuple[list, dict]:
        async with AceDataApiHook() as api:
            return await api.aretrieve_batch("suno", ["a"]), await api.aretrieve("suno", TASK)

    assert asyncio.run(read()) == ([{"id": "a"}], {"id": TASK})
    assert loopback.seen == [
        ("/suno/tasks", f"Bearer {KEY}", {"action": "retrieve_batch", "ids": ["a"]}),
        ("/suno/tasks", f"Bearer {KEY}", {"action": "retrieve_batch", "ids": ["a"]}),
        ("/suno/tasks", f"Bearer {KEY}", {"action": "retrieve", "id": TASK}),
    ]


@pytest.mark.parametrize(
    ("answer", "kind", "code"),
    [
        (gateway_error(403, "used_up", "Insufficient balance"), AceDataInsufficientBalanceError, "used_up"),
        (gateway_error(403, "forbidden", "Moderation refused the prompt"), AceDataPermissionError, "forbidden"),
        (
            gateway_error(401, "token_mismatched", "Key of another service"),
            AceDataAuthenticationError,
            "token_mismatched",
        ),
    ],
)
def test_gateway_errors_keep_code_and_trace_id_and_never_the_key(api, requests_mock, answer, kind, code):
    requests_mock.post(f"{GATEWAY}/flux/images", **answer)

    with pytest.raises(kind) as caught:
        api.call("/flux/images", {"prompt": "x"})
    error = caught.value
    assert (error.status_code, error.code, error.trace_id) == (answer["status_code"], code, "trace-1")
    assert answer["json"]["error"]["message"] in str(error)
    assert KEY not in str(error) and KEY not in repr(error)


def test_a_401_names_the_connection_and_the_field(api, requests_mock):
    requests_mock.post(f"{GATEWAY}/flux/images", **gateway_error(401, "invalid_token", "Invalid token"))

    with pytest.raises(AceDataAuthenticationError, match="the API Key of connection 'acedata_api_default' was refused"):
        api.call("/flux/images", {"prompt": "x"})


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda h: h.call("midjourney/imagine", {}), "must start with '/'"),
        (lambda h: h.call("/midjourney", {}), "needs the service"),
        (lambda h: h.call("/midjourney/../admin", {}), r"'\.\.'"),
        (lambda h: h.call("/midjourney/imagine?x=1", {}), "query string"),
        (lambda h: h.call("https://evil.test/midjourney/imagine", {}), "host"),
        (lambda h: h.call("//evil.test/midjourney/imagine", {}), "host"),
        (lambda h: h.call("/midjourney/imagine", ["not", "an", "object"]), "body must be a JSON object"),
        (lambda h: h.retrieve("mid/journey", TASK), "service must be one path segment"),
        (lambda h: h.retrieve_batch("suno", [str(n) for n in range(101)]), "1 to 100"),
    ],
)
def test_bad_input_fails_before_any_request(api, requests_mock, call, field):
    with pytest.raises(AceDataInputError, match=field):
        call(api)
    assert requests_mock.call_count == 0


def test_a_platform_token_in_the_key_field_warns(monkeypatch, requests_mock, capsys):
    connection = {"conn_type": "acedata_api", "host": GATEWAY, "password": TOKEN}
    monkeypatch.setenv("AIRFLOW_CONN_ACEDATA_API_DEFAULT", json.dumps(connection))
    requests_mock.post(f"{GATEWAY}/openai/chat/completions", json={"id": "chatcmpl-1"})

    AceDataApiHook().call("/openai/chat/completions", {"messages": []})

    logged = capsys.readouterr().out
    assert "is a platform token, not an API key" in logged
    assert TOKEN not in logged and TOKEN not in redact(f"{TOKEN}")


def test_the_default_host_is_the_gateway_and_https_is_required(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_ACEDATA_API_DEFAULT", json.dumps({"conn_type": "acedata_api", "password": KEY}))
    assert AceDataApiHook().base_url == "https://api.acedata.cloud"
    assert AceDataApiHook().api_url == "https://api.acedata.cloud"
