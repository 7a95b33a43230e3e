"""FakeAceDataPlatform: a real HTTP server on loopback that behaves like the Ace Data Cloud platform API."""

from __future__ import annotations

import contextlib
import copy
import json
import re
import socket
import threading
from collections.abc import Callable
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from airflow_provider_acedata.testing._admin import ADMIN_PREFIX, AdminApi
from airflow_provider_acedata.testing._api import API_PREFIX, PlatformApi, bearer_token
from airflow_provider_acedata.testing._http import Response
from airflow_provider_acedata.testing._store import PlatformStore
from airflow_provider_acedata.testing.faults import UNSET, FaultRule, RequestRecord, StatusArg, resolve_status


class FakeAceDataPlatform:
    """An offline platform API server for tests and demos: seeded users/services, request log, fault switches.

    Seeds a default user ``demo`` (no applications yet) and a user ``other`` with a token, an application
    and a credential. Methods taking ``user_id=None`` mean the default user.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, token: str | None = None) -> None:
        self.host = host
        self.port = port
        self._store = PlatformStore(default_token=token)
        self._api = PlatformApi(self._store)
        self._admin = AdminApi(self._store)
        self._lock = self._store.lock
        self._log: list[RequestRecord] = []
        self._rules: list[FaultRule] = []
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.errors: list[BaseException] = []
        """Unexpected exceptions raised while handling requests (each also answered with a 500)."""

    def start(self) -> FakeAceDataPlatform:
        """Bind and serve in a background thread."""
        if self._server is not None:
            raise RuntimeError("FakeAceDataPlatform is already running")
        self._stopping.clear()
        server = _Server((self.host, self.port), self)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-acedata-platform",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, cut open connections and wake any request held by a ``delay`` fault."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        server.close_connections()
        if thread is not None:
            thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> FakeAceDataPlatform:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:PORT`` (the Airflow connection host)."""
        if self._server is None:
            raise RuntimeError("FakeAceDataPlatform is not running; call start() first")
        return f"http://{self.host}:{self._server.server_address[1]}"

    @property
    def api_url(self) -> str:
        """``url`` + ``/api/v1``."""
        return self.url + API_PREFIX

    @property
    def token(self) -> str:
        """The default user's initial platform token."""
        return self._store.default_token

    @property
    def user(self) -> dict[str, Any]:
        """The default user, as ``/platform-tokens/me/`` returns it."""
        with self._lock:
            return copy.deepcopy(self._store.default_user)

    @property
    def users(self) -> list[dict[str, Any]]:
        """All users (the default ``demo`` first, then the seeded ``other``, then created ones)."""
        with self._lock:
            return copy.deepcopy(list(self._store.users.values()))

    def connection_json(self, token: str | None = None) -> str:
        """A JSON Airflow connection (for ``AIRFLOW_CONN_ACEDATA_DEFAULT``) pointing at this server."""
        return json.dumps({"conn_type": "acedata", "host": self.url, "password": token or self.token})

    @property
    def services(self) -> list[dict[str, Any]]:
        """The seeded service catalogue."""
        with self._lock:
            return [self._store.render_service(s, None) for s in self._store.services.values()]

    def service_id(self, alias: str) -> str:
        """The id of the service with this alias; KeyError when unknown."""
        with self._lock:
            for service in self._store.services.values():
                if service["alias"] == alias:
                    return str(service["id"])
        raise KeyError(f"no service with alias {alias!r}")

    def create_user(self, username: str) -> tuple[dict[str, Any], str]:
        """A new user and a platform token for it."""
        with self._lock:
            user = self._store.add_user(username)
            token = self._store.add_token(user["id"])
            return copy.deepcopy(user), str(token["token"])

    def issue_token(
        self,
        user_id: str | None = None,
        *,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Create a platform token server-side (no HTTP request); returns the token object incl. ``token``."""
        with self._lock:
            token = self._store.add_token(self._user_id(user_id), tags=tags, metadata=metadata)
            return copy.deepcopy(token)

    def live_tokens(self, user_id: str | None = None) -> list[dict[str, Any]]:
        """The user's tokens that still authenticate, in creation order."""
        with self._lock:
            owner = self._user_id(user_id)
            return [copy.deepcopy(t) for t in self._store.tokens.values() if t["user_id"] == owner]

    def is_live(self, token: str) -> bool:
        """Whether this token value still authenticates."""
        with self._lock:
            return self._store.token_by_value(token) is not None

    def applications(self, user_id: str | None = None) -> list[dict[str, Any]]:
        """The user's applications as the API renders them, in creation order."""
        with self._lock:
            self._store.apply_due()
            owner = self._user_id(user_id)
            return [
                self._store.render_application(a) for a in self._store.applications.values() if a["user_id"] == owner
            ]

    def credentials(self, user_id: str | None = None) -> list[dict[str, Any]]:
        """The user's credentials, in creation order."""
        with self._lock:
            owner = self._user_id(user_id)
            return [copy.deepcopy(c) for c in self._store.credentials.values() if c["user_id"] == owner]

    def set_balance(self, application_id: str, remaining_amount: float) -> None:
        """Set an application's ``remaining_amount`` now; KeyError when unknown."""
        self._store.set_balance(application_id, remaining_amount)

    def schedule_balance(self, application_id: str, remaining_amount: float, after_seconds: float) -> None:
        """Set an application's ``remaining_amount`` once ``after_seconds`` have passed (applied on reads)."""
        self._store.schedule_balance(application_id, remaining_amount, after_seconds)

    def add_usage(
        self, application_id: str, *, count: int, start: datetime, end: datetime, status_code: int = 200, seed: int = 0
    ) -> list[dict[str, Any]]:
        """Seed ``count`` call records of an application, spread evenly over ``[start, end)``, deterministically."""
        return self._api.monitoring.add_usage(
            application_id, count=count, start=start, end=end, status_code=status_code, seed=seed
        )

    def add_orders(
        self, application_id: str, *, count: int, start: datetime, end: datetime, state: str = "Finished", seed: int = 0
    ) -> list[dict[str, Any]]:
        """Seed ``count`` orders of an application, spread evenly over ``[start, end)``, deterministically."""
        return self._api.monitoring.add_orders(
            application_id, count=count, start=start, end=end, state=state, seed=seed
        )

    def insert_while_listing(self, kind: str, per_page: int, at: Callable[[], datetime] | None = None) -> None:
        """After each page of ``usage`` or ``orders`` served, add ``per_page`` new records stamped ``at()`` (now)."""
        self._api.monitoring.insert_while_listing(kind, per_page, at)

    @property
    def requests(self) -> list[RequestRecord]:
        """Every request handled so far, in arrival order."""
        with self._lock:
            return list(self._log)

    def clear_requests(self) -> None:
        """Forget the request log."""
        with self._lock:
            self._log.clear()

    def calls(self, method: str | None = None, path: str | None = None) -> list[RequestRecord]:
        """Logged requests with this method and a path matching the regex ``path`` (``re.search``)."""
        pattern = re.compile(path) if path is not None else None
        return [
            record
            for record in self.requests
            if (method is None or record.method == method.upper()) and (pattern is None or pattern.search(record.path))
        ]

    def fail(
        self,
        *,
        method: str | None = None,
        path: str | None = None,
        status: StatusArg = UNSET,
        times: int | None = 1,
        skip: int = 0,
        retry_after: float | str | None = None,
        body: Any = None,
        delay: float | None = None,
        drop: bool = False,
        after_apply: bool = False,
        token: str | None = None,
        predicate: Callable[[RequestRecord], bool] | None = None,
    ) -> FaultRule:
        """Add a fault rule (see FaultRule); ``status`` defaults to 503 unless the rule delays or drops."""
        rule = FaultRule(
            method=method,
            path=path,
            token=token,
            predicate=predicate,
            status=resolve_status(status, delay=delay, drop=drop),
            times=times,
            skip=skip,
            retry_after=retry_after,
            body=body,
            delay=delay,
            drop=drop,
            after_apply=after_apply,
        )
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear_faults(self) -> None:
        """Remove all fault rules."""
        with self._lock:
            self._rules.clear()

    def _user_id(self, user_id: str | None) -> str:
        owner = user_id or str(self._store.default_user["id"])
        if owner not in self._store.users:
            raise KeyError(f"no such user: {owner}")
        return owner

    def auto_topup(self, remaining_amount: float | None, after_seconds: float = 0.0) -> None:
        """Top every application created from now on up to ``remaining_amount`` Credits ``after_seconds`` later.

        ``None`` turns it off. Without it, an application starts with its service's free Credits (``flux``: 100).
        """
        with self._store.lock:
            self._store.auto_topup = None if remaining_amount is None else (remaining_amount, after_seconds)

    def _answer(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        body: Any,
        body_valid: bool,
        authorization: str | None,
        media_type: str | None = None,
    ) -> Response:
        """The platform API's answer, or the admin routes' (``/_admin/...``, any live token)."""
        if not path.startswith(ADMIN_PREFIX + "/"):
            return self._api.handle(method, path, query, body, body_valid, authorization, media_type)
        token = bearer_token(authorization)
        found = self._store.authenticate(token) if token else None
        if found is None:
            return Response(401, {"detail": "Invalid token."})
        return self._admin.handle(method, path, body, found[0])

    def _admit(self, record: RequestRecord) -> FaultRule | None:
        """Log a request and pick the fault for it: the first matching unspent rule, if it fires."""
        with self._lock:
            self._log.append(record)
            for rule in self._rules:
                if not rule.spent and rule.matches_request(record):
                    return rule if rule.claim() else None
            return None

    def _pause(self, seconds: float) -> None:
        self._stopping.wait(seconds)

    def _finish(self, record: RequestRecord, status: int) -> None:
        with self._lock:
            record.status = status


class _Dropped(Exception):
    """The connection was closed on purpose; send nothing."""


class _Server(ThreadingHTTPServer):
    """A threading HTTP server that knows its platform and can cut its open connections on stop."""

    daemon_threads = True
    # The listen backlog: Python's default of 5 drops connections when a thousand waits poll at once.
    request_queue_size = 1024

    def __init__(self, address: tuple[str, int], platform: FakeAceDataPlatform) -> None:
        self.platform = platform
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def track(self, connection: socket.socket, *, open_: bool) -> None:
        """Remember (or forget) a client connection."""
        with self._connections_lock:
            if open_:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def close_connections(self) -> None:
        """Shut down every client connection still open (idle keep-alives, held requests)."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up mid-response is normal here (timeouts, drops); stay silent."""


class _Handler(BaseHTTPRequestHandler):
    """Parses a request, applies fault rules and lets PlatformApi answer it."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    wbufsize = -1
    server_version = "FakeAceDataPlatform"
    timeout = 60
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, open_=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, open_=False)

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: request lines carry ids and errors could carry secrets."""

    def do_GET(self) -> None:
        self._handle()

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_GET

    def _handle(self) -> None:
        platform = self.server.platform
        split = urlsplit(self.path)
        query = parse_qs(split.query, keep_blank_values=True)
        try:
            raw = self._read_body()
        except ValueError:
            self.close_connection = True
            self._write(Response(400, {"detail": "Malformed request body."}))
            return
        body, body_valid = _parse_json(raw)
        authorization = self.headers.get("Authorization")
        record = RequestRecord(
            self.command, split.path, query, body, 0, bearer_token(authorization), self.headers.get("User-Agent")
        )
        try:
            rule = platform._admit(record)
            response = self._inject(rule) if rule is not None and not rule.after_apply else None
            if response is None:
                response = platform._answer(
                    self.command, split.path, query, body, body_valid, authorization, self._foreign_media_type(raw)
                )
                if rule is not None and rule.after_apply:
                    response = self._inject(rule) or response
        except _Dropped:
            return
        except Exception as error:
            platform.errors.append(error)
            response = Response(500, {"detail": f"Fake platform internal error: {type(error).__name__}"})
        self._respond(record, response)

    def _foreign_media_type(self, raw: bytes) -> str | None:
        """A non-empty body's Content-Type when it is not JSON (DRF answers 415), else None."""
        media_type = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if not raw.strip() or media_type == "application/json" or media_type.endswith("+json"):
            return None
        return media_type

    def _inject(self, rule: FaultRule) -> Response | None:
        """Apply a rule's fault: wait, then drop (raises _Dropped) or return its error; None = answer normally."""
        if rule.delay:
            self.server.platform._pause(rule.delay)
        if rule.drop:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            raise _Dropped
        return rule.response() if rule.status is not None else None

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0:
            raise ValueError("negative Content-Length")
        return self.rfile.read(length) if length else b""

    def _respond(self, record: RequestRecord, response: Response) -> None:
        self.server.platform._finish(record, response.status)
        self._write(response)

    def _write(self, response: Response) -> None:
        payload, content_type = response.encode()
        self.send_response(response.status)
        if content_type is not None:
            self.send_header("Content-Type", content_type)
        if response.status != 204:
            self.send_header("Content-Length", str(len(payload)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD" and response.status != 204:
            self.wfile.write(payload)


def _parse_json(raw: bytes) -> tuple[Any, bool]:
    """The parsed body (None when empty or invalid) and whether it was valid JSON."""
    if not raw.strip():
        return None, True
    try:
        return json.loads(raw), True
    except ValueError:
        return None, False
