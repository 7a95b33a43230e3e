"""FakeAceDataPlatform: real HTTP servers on loopback that behave like the Ace Data Cloud platform API and gateway."""

from __future__ import annotations

import contextlib
import copy
import json
import re
import secrets
import socket
import threading
from collections.abc import Callable
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

from airflow_provider_acedata.testing._admin import ADMIN_PREFIX, AdminApi
from airflow_provider_acedata.testing._api import API_PREFIX, PlatformApi, bearer_token
from airflow_provider_acedata.testing._clock import ScriptedClock
from airflow_provider_acedata.testing._gateway import Duration, GatewayApi, GatewayStats, TaskFailure
from airflow_provider_acedata.testing._http import Response, Stream
from airflow_provider_acedata.testing._services import artifact_bytes
from airflow_provider_acedata.testing._store import PlatformStore
from airflow_provider_acedata.testing.faults import (
    PLANES,
    UNSET,
    FaultRule,
    RequestRecord,
    StatusArg,
    _Unset,
    gateway_error_body,
    resolve_status,
)

ADMIN_TOKEN_PREFIX: Final = "admin-"


class FakeAceDataPlatform:
    """An offline Ace Data Cloud for tests and demos: the platform API, the gateway and an artifact host.

    Three listeners on ``host``, one state: ``url`` serves the platform API (``/api/v1``, platform tokens),
    ``gateway_url`` the gateway (``api.acedata.cloud``: API keys, Credits, call records, tasks) and
    ``artifacts_url`` the files finished tasks point at (no key needed, like the real CDN). Everything
    time-dependent follows ``clock`` (see ``advance``, ``freeze_time``).

    Seeds a default user ``demo`` (no applications yet) and a user ``other`` with a token, an application
    and a credential. Methods taking ``user_id=None`` mean the default user.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        token: str | None = None,
        gateway_port: int = 0,
        artifacts_port: int = 0,
        admin_token: str | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.ports = {"platform": port, "gateway": gateway_port, "artifacts": artifacts_port}
        self.clock = ScriptedClock()
        """The clock every timestamp, scheduled balance and gateway task follows."""
        self._store = PlatformStore(default_token=token, clock=self.clock)
        self._api = PlatformApi(self._store)
        self._admin = AdminApi(self._store)
        self._artifacts_base = f"http://{host}:{artifacts_port}"
        self._gateway = GatewayApi(self._store, self._api.monitoring, lambda: self._artifacts_base)
        self._admin_token = admin_token or ADMIN_TOKEN_PREFIX + secrets.token_hex(16)
        self._lock = self._store.lock
        self._log: list[RequestRecord] = []
        self._rules: list[FaultRule] = []
        self._stopping = threading.Event()
        self._servers: dict[str, _Server] = {}
        self._threads: list[threading.Thread] = []
        self.errors: list[BaseException] = []
        """Unexpected exceptions raised while handling requests (each also answered with a 500)."""

    def start(self) -> FakeAceDataPlatform:
        """Bind the three listeners and serve each in a background thread."""
        if self._servers:
            raise RuntimeError("FakeAceDataPlatform is already running")
        self._stopping.clear()
        try:
            for plane in PLANES:
                self._servers[plane] = _Server((self.host, self.ports[plane]), self, plane)
        except OSError:
            for server in self._servers.values():
                server.server_close()
            self._servers.clear()
            raise
        self._artifacts_base = self.artifacts_url
        for plane, server in self._servers.items():
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"fake-acedata-{plane}",
                daemon=True,
            )
            self._threads.append(thread)
            thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, cut open connections and wake any request held by a ``delay`` fault or a blocking call."""
        if not self._servers:
            return
        self._stopping.set()
        for server in self._servers.values():
            server.shutdown()
            server.server_close()
            server.close_connections()
        for thread in self._threads:
            thread.join(timeout=5)
        self._servers.clear()
        self._threads.clear()

    def __enter__(self) -> FakeAceDataPlatform:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _base(self, plane: str) -> str:
        server = self._servers.get(plane)
        if server is None:
            raise RuntimeError("FakeAceDataPlatform is not running; call start() first")
        return f"http://{self.host}:{server.server_address[1]}"

    @property
    def url(self) -> str:
        """Base URL of the platform API, e.g. ``http://127.0.0.1:PORT`` (the ``acedata`` connection's host)."""
        return self._base("platform")

    @property
    def gateway_url(self) -> str:
        """Base URL of the gateway, its own listener (the ``acedata_api`` connection's host)."""
        return self._base("gateway")

    @property
    def artifacts_url(self) -> str:
        """Base URL of the artifact host, its own listener: finished tasks' file URLs start with it."""
        return self._base("artifacts")

    @property
    def admin_token(self) -> str:
        """A token for the admin routes (``/_admin/...``) on the default user's account; it never rotates."""
        return self._admin_token

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

    def api_connection_json(self, key: str) -> str:
        """A JSON ``acedata_api`` connection (for ``AIRFLOW_CONN_ACEDATA_API_DEFAULT``): the gateway and an API key."""
        return json.dumps({"conn_type": "acedata_api", "host": self.gateway_url, "password": key})

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

    def set_disabled(self, application_id: str, disabled: bool = True) -> None:
        """Disable (or re-enable) an application, as the platform's admins do: its keys get ``403 disabled``."""
        with self._lock:
            app = self._store.applications[application_id]
            app["disabled"] = disabled
            app["updated_at"] = self._store.now()

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

    def call_records(self, user_id: str | None = None) -> list[dict[str, Any]]:
        """The user's call records (``GET /usage/apis/``: seeded and written by the gateway), oldest first."""
        with self._lock:
            self._store.apply_due()
            return copy.deepcopy(self._api.monitoring.table("usage", self._user_id(user_id)).rows)

    # -- the gateway ---------------------------------------------------------------------------------

    def issue_api_key(
        self,
        service: str | None = None,
        *,
        credits: float | None = None,
        user_id: str | None = None,
        name: str | None = None,
        limited_amount: float | None = None,
        allowed_api_ids: list[str] | None = None,
    ) -> dict[str, Any]:
        """A new API key (credential, incl. ``token``) of the user's application for a service, server-side.

        ``service`` is an alias (``"midjourney"``) or None for the Global application (its key works on
        every service). The application is reused when the user has one for that service, else created;
        ``credits`` sets its balance.
        """
        with self._lock:
            owner = self._user_id(user_id)
            service_id = self.service_id(service) if service is not None else None
            scope = "Individual" if service_id is not None else "Global"
            app = next(
                (
                    a
                    for a in self._store.applications.values()
                    if a["user_id"] == owner
                    and a["service_id"] == service_id
                    and a["scope"] == scope
                    and a["type"] == "Usage"
                ),
                None,
            ) or self._store.add_application(owner, service_id, scope=scope)
            if credits is not None:
                self._store.set_balance(app["id"], credits)
            credential = self._store.add_credential(
                owner, app["id"], name=name, limited_amount=limited_amount, allowed_api_ids=allowed_api_ids
            )
            return copy.deepcopy(credential)

    def configure_route(
        self,
        path: str,
        *,
        duration: Duration | _Unset = UNSET,
        queued: float | _Unset = UNSET,
        cost: float | _Unset = UNSET,
        artifact_size: int | _Unset = UNSET,
    ) -> None:
        """Change how a gateway route behaves from the next call on; KeyError for a route it does not serve.

        ``duration``: seconds from submit to finish, or a function of the submit's 0-based index on the
        route (``lambda n: 60 * n / 1000`` spreads 1000 tasks over a minute); ``queued``: seconds before
        ``started_at``; ``cost``: Credits per call; ``artifact_size``: bytes per artifact. Defaults:
        ``/midjourney/imagine`` 2 s, 1 Credit; ``/suno/audios`` 3 s, 1; ``/flux/images`` 1 s, 0.5;
        ``/veo/videos`` 4 s, 2; chat completions 0.01 Credit; ``queued`` 0.
        """
        with self._lock:
            settings = self._gateway.settings[path]
            if not isinstance(duration, _Unset):
                settings.duration = duration
            if not isinstance(queued, _Unset):
                settings.queued = queued
            if not isinstance(cost, _Unset):
                settings.cost = cost
            if not isinstance(artifact_size, _Unset):
                settings.artifact_size = artifact_size

    def configure_gateway(
        self,
        *,
        read_rate: float | _Unset | None = UNSET,
        read_burst: float | _Unset = UNSET,
        sync_timeout: float | _Unset = UNSET,
    ) -> None:
        """Gateway-wide switches. ``read_rate``: task reads a second per API key before ``429
        too_many_requests`` with ``Retry-After`` (None, the default: no limit), in bursts of ``read_burst``
        (default 1); ``sync_timeout``: real seconds a submit without ``"async": true`` waits for its task
        before ``504 timeout`` (default 10; the task keeps running).
        """
        with self._lock:
            if not isinstance(read_rate, _Unset):
                if read_rate is not None and read_rate <= 0:
                    raise ValueError("read_rate must be > 0 or None")
                self._gateway.read_rate = read_rate
            if not isinstance(read_burst, _Unset):
                if read_burst < 1:
                    raise ValueError("read_burst must be >= 1")
                self._gateway.read_burst = read_burst
            if not isinstance(sync_timeout, _Unset):
                self._gateway.sync_timeout = sync_timeout

    def fail_tasks(
        self,
        path: str | None = None,
        *,
        code: str = "forbidden",
        message: str | None = None,
        times: int | None = 1,
        skip: int = 0,
    ) -> TaskFailure:
        """Make the next ``times`` tasks submitted to routes matching the regex ``path`` fail with ``code``.

        The submit is accepted (and charged) as usual; when the task finishes its ``response`` is
        ``{"success": false, "task_id", "trace_id", "error": {"code", "message"}}`` and the charge is
        refunded. ``forbidden`` is content moderation; any other string is a service's own code.
        """
        rule = TaskFailure(path=path, code=code, message=message, times=times, skip=skip)
        with self._lock:
            self._gateway.failures.append(rule)
        return rule

    def fail_task(self, task_id: str, code: str = "forbidden", message: str | None = None) -> None:
        """End a running task now as failed with ``code`` and refund it; KeyError / ValueError when it cannot."""
        with self._lock:
            self._gateway.fail_task(task_id, code, message)

    def task(self, task_id: str) -> dict[str, Any]:
        """One gateway task as a task read renders it now; KeyError when unknown."""
        with self._lock:
            return self._gateway.render(self._gateway.tasks[task_id])

    def tasks(self, path: str | None = None) -> list[dict[str, Any]]:
        """Every gateway task (submitted to ``path``, when given) as task reads render them now, oldest first."""
        with self._lock:
            return [
                self._gateway.render(task)
                for task in self._gateway.tasks.values()
                if path is None or task.route.path == path
            ]

    def gateway_stats(self) -> GatewayStats:
        """The gateway's counters: submits per route, task reads by action, ids read, 429s, calls per key."""
        with self._lock:
            return self._gateway.stats()

    def reset_gateway_stats(self) -> None:
        """Zero the gateway's counters."""
        with self._lock:
            self._gateway.counters = type(self._gateway.counters)()

    def artifact_bytes(self, url: str) -> bytes:
        """The exact bytes the artifact host serves at ``url`` (what a copy of it must hold); KeyError if none."""
        path = urlsplit(url).path
        with self._lock:
            size, content_type = self._gateway.artifact_size(path)
        return artifact_bytes(path, size, content_type)

    def advance(self, seconds: float) -> None:
        """Move the fake's clock forward: tasks finish, scheduled balances come due, stamps move on."""
        self.clock.advance(seconds)

    def freeze_time(self) -> None:
        """Stop the fake's clock: from now on it moves only by ``advance()`` (tasks finish exactly then)."""
        self.clock.freeze()

    def resume_time(self) -> None:
        """Let the fake's clock run with real time again, from where it stands."""
        self.clock.resume()

    # -- the request log and faults ------------------------------------------------------------------

    @property
    def requests(self) -> list[RequestRecord]:
        """Every request handled so far (all three listeners), in arrival order; see ``RequestRecord.plane``."""
        with self._lock:
            return list(self._log)

    def clear_requests(self) -> None:
        """Forget the request log."""
        with self._lock:
            self._log.clear()

    def calls(
        self, method: str | None = None, path: str | None = None, *, plane: str | None = None
    ) -> list[RequestRecord]:
        """Logged requests with this method, a path matching the regex ``path`` (``re.search``), on ``plane``."""
        pattern = re.compile(path) if path is not None else None
        return [
            record
            for record in self.requests
            if (method is None or record.method == method.upper())
            and (pattern is None or pattern.search(record.path))
            and (plane is None or record.plane == plane)
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
        plane: str | None = None,
    ) -> FaultRule:
        """Add a fault rule (see FaultRule); ``status`` defaults to 503 unless the rule delays or drops.

        ``plane`` (``platform``, ``gateway``, ``artifacts``) limits it to one listener. On the gateway,
        ``drop=True, after_apply=True`` is a lost submit answer (the task exists and was charged), and
        ``status=None, delay=1`` answers reads a second late.
        """
        rule = FaultRule(
            method=method,
            path=path,
            token=token,
            plane=plane,
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
        plane: str,
        method: str,
        path: str,
        query: dict[str, list[str]],
        body: Any,
        body_valid: bool,
        authorization: str | None,
        media_type: str | None = None,
    ) -> Response:
        """The answer of the listener ``plane``: gateway, artifact host, platform API or admin routes."""
        if plane == "gateway":
            return self._gateway.handle(method, path, body, body_valid, authorization, media_type, self._stopping)
        if plane == "artifacts":
            return self._gateway.artifact(method, path)
        if not path.startswith(ADMIN_PREFIX + "/"):
            return self._api.handle(method, path, query, body, body_valid, authorization, media_type)
        token = bearer_token(authorization)
        if token is not None and secrets.compare_digest(token, self._admin_token):
            return self._admin.handle(method, path, body, self._store.default_user)
        found = self._store.authenticate(token) if token else None
        if found is None:
            return Response(401, {"detail": "Invalid token."})
        return self._admin.handle(method, path, body, found[0])

    def _admit(self, record: RequestRecord) -> FaultRule | None:
        """Log a request and pick the fault for it: the first matching unspent rule, if it fires."""
        with self._lock:
            self._log.append(record)
            if record.plane == "gateway" and record.token is not None:
                calls = self._gateway.counters.calls_per_key
                calls[record.token] = calls.get(record.token, 0) + 1
            for rule in self._rules:
                if not rule.spent and rule.matches_request(record):
                    return rule if rule.claim() else None
            return None

    def _pause(self, seconds: float) -> None:
        self._stopping.wait(seconds)

    def _finish(self, record: RequestRecord, status: int) -> None:
        with self._lock:
            record.status = status
            if record.plane == "gateway" and status == 429:
                self._gateway.counters.rate_limited += 1


class _Dropped(Exception):
    """The connection was closed on purpose; send nothing."""


class _Server(ThreadingHTTPServer):
    """A threading HTTP server that knows its platform and plane and can cut its open connections on stop."""

    daemon_threads = True
    # The listen backlog: Python's default of 5 drops connections when a thousand waits poll at once.
    request_queue_size = 1024

    def __init__(self, address: tuple[str, int], platform: FakeAceDataPlatform, plane: str) -> None:
        self.platform = platform
        self.plane = plane
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
        plane = self.server.plane
        record = RequestRecord(
            self.command,
            split.path,
            query,
            body,
            0,
            bearer_token(authorization),
            self.headers.get("User-Agent"),
            plane=plane,
        )
        try:
            rule = platform._admit(record)
            response = self._inject(rule) if rule is not None and not rule.after_apply else None
            if response is None:
                media_type = self._foreign_media_type(raw)
                response = platform._answer(
                    plane, self.command, split.path, query, body, body_valid, authorization, media_type
                )
                if rule is not None and rule.after_apply:
                    response = self._inject(rule) or response
        except _Dropped:
            return
        except Exception as error:
            platform.errors.append(error)
            message = f"Fake platform internal error: {type(error).__name__}"
            body = gateway_error_body("api_error", message) if plane == "gateway" else {"detail": message}
            response = Response(500, body)
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
        return rule.response(self.server.plane) if rule.status is not None else None

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
        if isinstance(response.body, Stream):
            self._stream(response, response.body)
            return
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

    def _stream(self, response: Response, stream: Stream) -> None:
        """Send a body chunk by chunk with its length announced, as a file server does."""
        self.send_response(response.status)
        self.send_header("Content-Type", stream.content_type)
        self.send_header("Content-Length", str(stream.length))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command == "HEAD":
            return
        for chunk in stream.chunks:
            self.wfile.write(chunk)
            self.wfile.flush()


def _parse_json(raw: bytes) -> tuple[Any, bool]:
    """The parsed body (None when empty or invalid) and whether it was valid JSON."""
    if not raw.strip():
        return None, True
    try:
        return json.loads(raw), True
    except ValueError:
        return None, False
