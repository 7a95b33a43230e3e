"""The offline gateway (``api.acedata.cloud``) over the platform's own state.

API keys are the platform's credentials: a key authenticates when its token is live, and spends Credits
of its application (or of the account's Global application, when the application allows it). Every
billable call writes a call record into the same tables ``GET /usage/apis/`` reads. Tasks run on the
platform's scripted clock. Errors use the gateway's dialect ``{"error": {"code", "message"}, "trace_id"}``
with the codes of platform-api.md §9.

Billing (decided here, see the README): a submit or chat call is charged when it is accepted; a task that
fails is refunded when it fails (the call record keeps its ``original_amount``, its ``used_amount`` and
``deducted_amount`` drop to 0 and ``metadata.refunded`` holds the amount); task reads are free and write
no call record.
"""

from __future__ import annotations

import copy
import heapq
import math
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from airflow_provider_acedata.testing._http import ApiError, Response, Stream
from airflow_provider_acedata.testing._monitoring import MonitoringStore
from airflow_provider_acedata.testing._services import (
    ROUTES,
    Artifact,
    GatewayRoute,
    Submission,
    artifact_chunks,
)
from airflow_provider_acedata.testing._store import PlatformStore
from airflow_provider_acedata.testing.faults import gateway_error_body

MAX_BATCH: Final = 100
"""``retrieve_batch`` takes at most this many ids."""
CODE_STATUS: Final = {
    "bad_request": 400,
    "no_token": 400,
    "invalid_token": 401,
    "token_expired": 401,
    "token_mismatched": 401,
    "used_up": 403,
    "disabled": 403,
    "forbidden": 403,
    "no_api": 404,
    "not_found": 404,
    "too_many_requests": 429,
    "api_error": 500,
    "timeout": 504,
}
"""HTTP status of each gateway error code (platform-api.md §9); a service's own code answers 500."""
USED_UP: Final = "Your balance is not sufficient for current request, please buy more in Ace Data Cloud."
DISABLED: Final = (
    "Your application has been disabled by Ace Data Cloud due to abnormal usage behavior, please contact our "
    "support to get more information."
)
DEFAULT_FAILURE: Final = {
    "forbidden": "The prompt was rejected by content moderation.",
}


def gateway_error(
    code: str, message: str, trace_id: str | None = None, headers: dict[str, str] | None = None
) -> ApiError:
    """An error answer in the gateway's dialect, with the status its code stands for."""
    return ApiError(CODE_STATUS.get(code, 500), gateway_error_body(code, message, trace_id), headers)


Duration = float | Callable[[int], float]


@dataclass
class RouteSettings:
    """How a task route behaves now: task duration (seconds, or a function of the submit's 0-based index on
    the route), time queued before ``started_at``, Credits per call, bytes per artifact."""

    duration: Duration
    queued: float
    cost: float
    artifact_size: int
    submitted: int = 0

    def next_duration(self) -> float:
        """The duration of the next task submitted to the route (advances the route's submit index)."""
        index = self.submitted
        self.submitted += 1
        value = self.duration(index) if callable(self.duration) else self.duration
        if value < 0:
            raise ValueError("a task duration must be >= 0")
        return float(value)


@dataclass(eq=False)
class TaskFailure:
    """Scripted task failures: the next ``times`` tasks submitted to a matching route (after ``skip``) fail.

    A failing task runs its duration, then finishes with ``response = {"success": false, "task_id",
    "trace_id", "error": {"code", "message"}}`` and is refunded. ``hits`` counts the tasks it failed.
    """

    path: str | None = None
    code: str = "forbidden"
    message: str | None = None
    times: int | None = 1
    skip: int = 0
    matches: int = field(default=0, init=False)
    hits: int = field(default=0, init=False)
    _pattern: re.Pattern[str] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.times is not None and self.times < 0:
            raise ValueError("times must be >= 0 or None")
        if self.skip < 0:
            raise ValueError("skip must be >= 0")
        self._pattern = re.compile(self.path) if self.path is not None else None

    @property
    def spent(self) -> bool:
        """True once the rule has failed ``times`` tasks."""
        return self.times is not None and self.hits >= self.times

    def claim(self, path: str) -> bool:
        """Count a submit to ``path``; true when this task is to fail."""
        if self.spent or (self._pattern is not None and not self._pattern.search(path)):
            return False
        self.matches += 1
        if self.matches <= self.skip:
            return False
        self.hits += 1
        return True

    def error(self) -> dict[str, str]:
        """The failed task's ``error`` object."""
        message = self.message or DEFAULT_FAILURE.get(self.code, f"The task failed: {self.code}.")
        return {"code": self.code, "message": message}


@dataclass
class Charge:
    """Credits a call took: from which application, how much, and the call record that says so."""

    application_id: str
    amount: float
    record: dict[str, Any] | None = None


@dataclass
class Task:
    """A gateway task; its state follows from the clock: queued, started, then finished at ``finishes``."""

    id: str
    route: GatewayRoute
    user_id: str
    application_id: str
    credential_id: str
    trace_id: str
    api_id: str
    request: dict[str, Any]
    created: float
    created_at: float
    queued: float
    duration: float
    artifacts: list[tuple[str, Artifact]]
    error: dict[str, str] | None = None
    charge: Charge | None = None
    settled: bool = False
    ended: float | None = None

    @property
    def finishes(self) -> float:
        """When (clock seconds) the task finishes."""
        return self.ended if self.ended is not None else self.created + self.duration

    def epoch(self, instant: float) -> float:
        """A clock instant as the Unix time the task record shows."""
        return round(self.created_at + (instant - self.created), 3)


@dataclass(frozen=True)
class GatewayStats:
    """What the offline gateway was asked, counted since it started (or since the last reset).

    ``submits``: accepted calls per route (tasks created, chat completions answered); ``retrieves`` and
    ``batch_retrieves``: task-read requests by action; ``ids_read``: task ids those reads asked for;
    ``rate_limited``: 429 answers (the read rate limit's and injected ones); ``calls_per_key``: gateway
    requests per API key as sent (any route, any outcome).
    """

    submits: dict[str, int]
    retrieves: int
    batch_retrieves: int
    ids_read: int
    rate_limited: int
    calls_per_key: dict[str, int]

    @property
    def task_reads(self) -> int:
        """All task-read requests (``retrieve`` and ``retrieve_batch``)."""
        return self.retrieves + self.batch_retrieves


@dataclass
class _Counters:
    submits: dict[str, int] = field(default_factory=dict)
    retrieves: int = 0
    batch_retrieves: int = 0
    ids_read: int = 0
    rate_limited: int = 0
    calls_per_key: dict[str, int] = field(default_factory=dict)


@dataclass
class _Caller:
    credential: dict[str, Any]
    application: dict[str, Any]
    api: dict[str, Any]

    @property
    def user_id(self) -> str:
        return str(self.application["user_id"])


class GatewayApi:
    """The gateway's routes over a PlatformStore: keys, Credits, call records, tasks and their artifacts."""

    def __init__(self, store: PlatformStore, monitoring: MonitoringStore, artifacts_url: Callable[[], str]) -> None:
        self.store = store
        self.clock = store.clock
        self.monitoring = monitoring
        self.artifacts_url = artifacts_url
        self.routes: dict[str, GatewayRoute] = {route.path: route for route in ROUTES}
        self.settings: dict[str, RouteSettings] = {
            route.path: RouteSettings(route.duration, 0.0, route.cost, route.artifact_size) for route in ROUTES
        }
        self.tasks: dict[str, Task] = {}
        self.failures: list[TaskFailure] = []
        self.artifacts: dict[str, tuple[str, Artifact, int]] = {}
        self.read_rate: float | None = None
        self.read_burst = 1.0
        self.sync_timeout = 10.0
        self.counters = _Counters()
        self._buckets: dict[str, tuple[float, float]] = {}
        self._refunds: list[tuple[float, int, str]] = []
        self._sequence = 0
        store.due_hooks.append(self.settle_due)

    # -- requests ------------------------------------------------------------------------------------

    def handle(
        self,
        method: str,
        path: str,
        body: Any,
        body_valid: bool,
        authorization: str | None,
        media_type: str | None,
        stop: threading.Event | None = None,
    ) -> Response:
        """Answer one gateway request; never raises for client errors. A blocking submit waits unlocked."""
        started = time.monotonic()
        try:
            with self.store.lock:
                self.store.apply_due()
                route = self._route(method, path)
                caller = self._authenticate(authorization, route)
                data = self._body(body, body_valid, media_type)
                if route.kind == "read":
                    return self._read(route, caller, data)
                if route.kind == "instant":
                    return self._instant(route, caller, data, started)
                task, answer = self._submit(route, caller, data, started)
            if answer is not None:
                return answer
            return self._blocking_answer(task, started, stop)
        except ApiError as error:
            return error.response()

    def _route(self, method: str, path: str) -> GatewayRoute:
        route = self.routes.get(path.rstrip("/") or "/")
        if route is None or method != "POST":
            raise gateway_error("no_api", "API does not exist, please make sure url is correct.")
        return route

    def _authenticate(self, authorization: str | None, route: GatewayRoute) -> _Caller:
        scheme, _, value = (authorization or "").strip().partition(" ")
        token = value.strip() if scheme.lower() == "bearer" else ""
        if not token:
            raise gateway_error("no_token", "No token specified for the request.")
        credential = self.store.credential_by_token(token)
        if credential is None:
            raise gateway_error("invalid_token", "The specified token is invalid or wrong.")
        expired_at = credential.get("expired_at")
        if expired_at and _parse(expired_at) <= self.clock.now():
            raise gateway_error("token_expired", "token expired.")
        application = self.store.applications[credential["application_id"]]
        service = self.store.services.get(application["service_id"]) if application["service_id"] else None
        api = self.api(route.path)
        if application["scope"] != "Global" and (service is None or service["alias"] != route.service):
            raise gateway_error("token_mismatched", "token and api does not match.")
        if credential.get("allowed_api_ids") and api["id"] not in credential["allowed_api_ids"]:
            raise gateway_error("token_mismatched", "token and api does not match.")
        if application.get("disabled"):
            raise gateway_error("disabled", DISABLED)
        return _Caller(credential, application, api)

    def api(self, path: str) -> dict[str, Any]:
        """The catalogue API a gateway route belongs to."""
        return next(api for api in self.store.apis.values() if path in (api["path"], api["path2"]))

    @staticmethod
    def _body(body: Any, body_valid: bool, media_type: str | None) -> dict[str, Any]:
        if not body_valid or media_type is not None or not isinstance(body, dict | None):
            raise gateway_error("bad_request", "The JSON payload is invalid.")
        return {} if body is None else body

    # -- task reads ----------------------------------------------------------------------------------

    def _read(self, route: GatewayRoute, caller: _Caller, data: dict[str, Any]) -> Response:
        self._rate_limit(caller)
        action = data.get("action")
        if action == "retrieve":
            task_id = data.get("id")
            if not isinstance(task_id, str) or not task_id:
                raise gateway_error("bad_request", "id is required.")
            self.counters.retrieves += 1
            self.counters.ids_read += 1
            task = self._visible(task_id, route.service, caller.user_id)
            if task is None:
                raise gateway_error("not_found", f"Task {task_id} does not exist.")
            return Response(200, self.render(task))
        if action == "retrieve_batch":
            ids = data.get("ids")
            if not isinstance(ids, list) or not all(isinstance(item, str) for item in ids):
                raise gateway_error("bad_request", "ids is required.")
            if len(ids) > MAX_BATCH:
                raise gateway_error("bad_request", f"ids must not have more than {MAX_BATCH} items.")
            self.counters.batch_retrieves += 1
            self.counters.ids_read += len(ids)
            found = (self._visible(task_id, route.service, caller.user_id) for task_id in dict.fromkeys(ids))
            items = [self.render(task) for task in found if task is not None]
            return Response(200, {"items": items, "count": len(items)})
        raise gateway_error("bad_request", "action is invalid.")

    def _visible(self, task_id: str, service: str, user_id: str) -> Task | None:
        task = self.tasks.get(task_id)
        if task is None or task.route.service != service or task.user_id != user_id:
            return None
        return task

    def _rate_limit(self, caller: _Caller) -> None:
        """A token bucket per API key: ``read_rate`` reads a second, bursts of ``read_burst``; else 429."""
        if self.read_rate is None:
            return
        now = self.clock.monotonic()
        key = str(caller.credential["id"])
        tokens, last = self._buckets.get(key, (self.read_burst, now))
        tokens = min(self.read_burst, tokens + (now - last) * self.read_rate)
        if tokens < 1:
            self._buckets[key] = (tokens, now)
            wait = max(1, math.ceil((1 - tokens) / self.read_rate))
            raise gateway_error(
                "too_many_requests", "You have exceeded the rate limit.", headers={"Retry-After": str(wait)}
            )
        self._buckets[key] = (tokens - 1, now)

    # -- submits -------------------------------------------------------------------------------------

    def _instant(self, route: GatewayRoute, caller: _Caller, data: dict[str, Any], started: float) -> Response:
        assert route.answer is not None
        trace_id = str(uuid.uuid4())
        self._validate(route, caller, data, trace_id, started)
        charge = self._charge(route, caller, trace_id, started)
        answer = route.answer(data, uuid.uuid4().hex[:24], self.clock.time())
        self.counters.submits[route.path] = self.counters.submits.get(route.path, 0) + 1
        assert charge.record is not None
        charge.record["elapsed"] = round(time.monotonic() - started, 3)
        return Response(200, answer)

    def _submit(
        self, route: GatewayRoute, caller: _Caller, data: dict[str, Any], started: float
    ) -> tuple[Task, Response | None]:
        trace_id = str(uuid.uuid4())
        self._validate(route, caller, data, trace_id, started)
        settings = self.settings[route.path]
        charge = self._charge(route, caller, trace_id, started)
        duration = settings.next_duration()
        failure = next((rule for rule in self.failures if rule.claim(route.path)), None)
        task_id = str(uuid.uuid4())
        folder = f"/{route.service}/{task_id}/"
        task = Task(
            id=task_id,
            route=route,
            user_id=caller.user_id,
            application_id=str(caller.application["id"]),
            credential_id=str(caller.credential["id"]),
            trace_id=trace_id,
            api_id=str(caller.api["id"]),
            request=copy.deepcopy(data),
            created=self.clock.monotonic(),
            created_at=self.clock.time(),
            queued=min(settings.queued, duration),
            duration=duration,
            artifacts=[] if failure else [(folder + item.name, item) for item in route.artifacts(data)],
            error=failure.error() if failure else None,
            charge=charge if charge.amount else None,
        )
        self.tasks[task_id] = task
        for path, artifact in task.artifacts:
            self.artifacts[path] = (task_id, artifact, settings.artifact_size)
        if task.error is not None and task.charge is not None:
            self._schedule_refund(task)
        self.counters.submits[route.path] = self.counters.submits.get(route.path, 0) + 1
        if data.get("async") is True or not route.blocking:
            assert route.accepted is not None
            return task, Response(200, route.accepted(self._submission(task)))
        return task, None

    def _validate(
        self, route: GatewayRoute, caller: _Caller, data: dict[str, Any], trace_id: str, started: float
    ) -> None:
        problem = route.validate(data)
        if problem is not None:
            self._record(route, caller, 400, None, trace_id, started)
            raise gateway_error("bad_request", problem, trace_id)

    def _blocking_answer(self, task: Task, started: float, stop: threading.Event | None) -> Response:
        """Wait (unlocked) for a task submitted without ``async``, up to ``sync_timeout`` real seconds."""
        give_up = time.monotonic() + self.sync_timeout
        while True:
            with self.store.lock:
                deadline = task.finishes
            left = give_up - time.monotonic()
            if self.clock.monotonic() >= deadline or left <= 0 or (stop is not None and stop.is_set()):
                break
            self.clock.wait_until(deadline, min(left, 0.1), stop)
        with self.store.lock:
            self.store.apply_due()
            record = task.charge.record if task.charge is not None else None
            if self.clock.monotonic() < task.finishes:
                response = gateway_error("timeout", "timeout while waiting for the task", task.trace_id).response()
            elif task.error is not None:
                response = Response(CODE_STATUS.get(task.error["code"], 500), self._failed(task))
            else:
                response = Response(200, self._finished(task))
            if record is not None:
                record["status_code"] = response.status
                record["elapsed"] = round(time.monotonic() - started, 3)
            return response

    # -- Credits and call records --------------------------------------------------------------------

    def _charge(self, route: GatewayRoute, caller: _Caller, trace_id: str, started: float) -> Charge:
        """Take the route's price from the key's application, else from the Global one; 403 ``used_up``."""
        cost = self.settings[route.path].cost
        credential, application = caller.credential, caller.application
        billed: dict[str, Any] | None = application
        limited = credential.get("limited_amount")
        if cost and limited is not None and credential["used_amount"] + cost > limited + 1e-9:
            billed = None
        elif cost and application["remaining_amount"] < cost:
            fallback = self._global_application(caller.user_id)
            usable = application["scope"] != "Global" and application.get("allow_consume_global")
            billed = fallback if usable and fallback is not None and fallback["remaining_amount"] >= cost else None
        if billed is None:
            self._record(route, caller, 403, None, trace_id, started)
            raise gateway_error("used_up", USED_UP, trace_id)
        if cost:
            billed["remaining_amount"] = _amount(billed["remaining_amount"] - cost)
            billed["used_amount"] = _amount(billed["used_amount"] + cost)
            billed["updated_at"] = self.store.now()
            credential["used_amount"] = _amount(credential["used_amount"] + cost)
        charge = Charge(str(billed["id"]), cost)
        charge.record = self._record(route, caller, 200, charge, trace_id, started)
        return charge

    def _global_application(self, user_id: str) -> dict[str, Any] | None:
        return next(
            (
                app
                for app in self.store.applications.values()
                if app["user_id"] == user_id and app["scope"] == "Global" and not app.get("disabled")
            ),
            None,
        )

    def _record(
        self, route: GatewayRoute, caller: _Caller, status: int, charge: Charge | None, trace_id: str, started: float
    ) -> dict[str, Any]:
        """Write the call record ``GET /usage/apis/`` lists (amounts 0 when nothing was charged)."""
        api, credential, application = caller.api, caller.credential, caller.application
        service = self.store.services[api["service_id"]]
        amount = charge.amount if charge is not None else 0.0
        billed = self.store.applications[charge.application_id] if charge is not None else application
        stamp = self.store.now()
        row: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "user_id": caller.user_id,
            "application_id": application["id"],
            "service_id": service["id"],
            "api_id": api["id"],
            "api": {"id": api["id"], "path": route.path, "title": api["title"]},
            "credential_id": credential["id"],
            "credential": {"id": credential["id"], "name": credential.get("name")},
            "status_code": status,
            "elapsed": round(time.monotonic() - started, 3),
            "trace_id": trace_id,
            "remaining_amount": billed["remaining_amount"],
            "used_amount": amount,
            "deducted_amount": amount,
            "original_amount": self.settings[route.path].cost,
            "metadata": {"billed_application_id": billed["id"]} if charge is not None else {},
            "service": {"id": service["id"], "alias": service["alias"], "title": service["title"]},
            "created_at": stamp,
            "updated_at": stamp,
        }
        self.monitoring.table("usage", caller.user_id).add(row)
        return row

    def _schedule_refund(self, task: Task) -> None:
        self._sequence += 1
        heapq.heappush(self._refunds, (task.finishes, self._sequence, task.id))

    def settle_due(self) -> None:
        """Refund every failed task whose failure is now visible (run on each request through ``apply_due``)."""
        now = self.clock.monotonic()
        while self._refunds and self._refunds[0][0] <= now:
            _, _, task_id = heapq.heappop(self._refunds)
            task = self.tasks[task_id]
            if task.finishes > now:
                self._schedule_refund(task)
            else:
                self._refund(task)

    def _refund(self, task: Task) -> None:
        charge = task.charge
        if charge is None or task.settled:
            return
        task.settled = True
        billed = self.store.applications.get(charge.application_id)
        if billed is not None:
            billed["remaining_amount"] = _amount(billed["remaining_amount"] + charge.amount)
            billed["used_amount"] = _amount(billed["used_amount"] - charge.amount)
            billed["updated_at"] = self.store.now()
        credential = self.store.credentials.get(task.credential_id)
        if credential is not None:
            credential["used_amount"] = _amount(credential["used_amount"] - charge.amount)
        if charge.record is not None:
            charge.record.update(used_amount=0.0, deducted_amount=0.0, updated_at=self.store.now())
            charge.record["metadata"] = dict(charge.record["metadata"], refunded=charge.amount)

    def fail_task(self, task_id: str, code: str, message: str | None) -> None:
        """End a running task now as failed with ``code``, and refund it."""
        task = self.tasks[task_id]
        now = self.clock.monotonic()
        if task.finishes <= now:
            raise ValueError(f"task {task_id} has already finished")
        task.error = TaskFailure(code=code, message=message).error()
        task.ended = now
        for path, _ in task.artifacts:
            self.artifacts.pop(path, None)
        task.artifacts = []
        self._refund(task)

    # -- rendering -----------------------------------------------------------------------------------

    def _submission(self, task: Task) -> Submission:
        base = self.artifacts_url()
        return Submission(
            task.id,
            task.trace_id,
            task.request,
            task.created_at,
            task.epoch(task.finishes),
            tuple(base + path for path, _ in task.artifacts),
        )

    def _finished(self, task: Task) -> dict[str, Any]:
        assert task.route.finished is not None
        return task.route.finished(self._submission(task))

    @staticmethod
    def _failed(task: Task) -> dict[str, Any]:
        return {"success": False, "task_id": task.id, "trace_id": task.trace_id, "error": dict(task.error or {})}

    def render(self, task: Task) -> dict[str, Any]:
        """The task record a read answers: running tasks have ``response: null`` and no ``finished_at``."""
        now = self.clock.monotonic()
        starts = task.created + task.queued
        finished = now >= task.finishes
        record: dict[str, Any] = {
            "id": task.id,
            "api_id": task.api_id,
            "application_id": task.application_id,
            "credential_id": task.credential_id,
            "trace_id": task.trace_id,
            "user_id": task.user_id,
            "created_at": round(task.created_at, 3),
            "request": copy.deepcopy(task.request),
            "response": None,
            "started_at": task.epoch(min(starts, task.finishes)) if now >= min(starts, task.finishes) else None,
            "finished_at": None,
        }
        record.update(task.route.record_fields(self._submission(task)))
        if finished:
            record["finished_at"] = task.epoch(task.finishes)
            record["duration"] = round(task.finishes - task.created, 3)
            record["response"] = self._failed(task) if task.error is not None else self._finished(task)
        return record

    # -- artifacts -----------------------------------------------------------------------------------

    def artifact(self, method: str, path: str) -> Response:
        """An artifact of a finished task, streamed; no key needed (the real ones sit on a public CDN)."""
        if method not in ("GET", "HEAD"):
            return Response(405, {"detail": f'Method "{method}" not allowed.'}, {"Allow": "GET, HEAD"})
        with self.store.lock:
            entry = self.artifacts.get(path)
            task = self.tasks.get(entry[0]) if entry is not None else None
            if entry is None or task is None or self.clock.monotonic() < task.finishes:
                return Response(404, {"detail": "Not found."})
            _, artifact, size = entry
        chunks = artifact_chunks(path, size, artifact.content_type)
        return Response(200, Stream(chunks, size, artifact.content_type))

    def artifact_size(self, path: str) -> tuple[int, str]:
        """An artifact's size and media type; KeyError when no task has it."""
        _, artifact, size = self.artifacts[path]
        return size, artifact.content_type

    # -- inspection ----------------------------------------------------------------------------------

    def stats(self) -> GatewayStats:
        """A snapshot of the counters."""
        counters = self.counters
        return GatewayStats(
            dict(counters.submits),
            counters.retrieves,
            counters.batch_retrieves,
            counters.ids_read,
            counters.rate_limited,
            dict(counters.calls_per_key),
        )


def _amount(value: float) -> float:
    return round(value, 6)


def _parse(value: str) -> datetime:
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
