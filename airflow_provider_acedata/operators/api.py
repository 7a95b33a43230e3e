"""CallApiOperator: call an Ace Data Cloud API (Midjourney, Suno, Flux, Veo, chat, ...) as a DAG step."""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple, NoReturn, cast

from airflow_provider_acedata.exceptions import (
    AceDataApiError,
    AceDataError,
    AceDataInputError,
    AceDataSubmitUnknownError,
    AceDataTaskFailedError,
    AceDataTransportError,
)
from airflow_provider_acedata.gateway import (
    answer_is_final,
    answer_task_id,
    artifact_urls,
    failure,
    submit_body,
    task_status,
)
from airflow_provider_acedata.validation import api_service, require_api_path, require_number, require_text
from airflow_provider_acedata.version_compat import AirflowFailException, BaseOperator, conf

if TYPE_CHECKING:
    import logging

    from airflow.sdk import Context, ObjectStoragePath

    from airflow_provider_acedata.hooks.api import AceDataApiHook
    from airflow_provider_acedata.operators._submits import Submit, SubmitLedger

TASK_ID_KEY = "task_id"
FINAL_CODES = frozenset({"used_up", "disabled", "forbidden", "bad_request", "no_api", "no_token"})
"""Gateway error codes that another try cannot change: the Airflow task fails without retrying."""
DEFER_MARGIN = timedelta(seconds=60)


class ApiTaskFailedError(AceDataTaskFailedError, AirflowFailException):
    """A gateway task failed: the Airflow task fails at once (a retry would only reattach to the same task)."""


class ApiSubmitUnknownError(AceDataSubmitUnknownError, AirflowFailException):
    """A submit's answer was lost: the Airflow task fails at once, without submitting again."""


class Call(NamedTuple):
    """The validated, rendered inputs of one call (a NamedTuple: a frozen dataclass costs ~0.6 ms at DAG parse)."""

    path: str
    body: dict[str, Any]
    poke_interval: float
    destination: ObjectStoragePath | None

    @property
    def service(self) -> str:
        return api_service(self.path)


class CallApiOperator(BaseOperator):
    """Call an API on the Ace Data Cloud gateway; wait for its task, deferred; copy its artifacts; never pay twice.

    ``path`` and ``body`` pass through as given (templated), so every option of every API is reachable; task
    routes get ``"async": true`` unless the body sets ``async`` (see :func:`airflow_provider_acedata.gateway.
    is_task_route`). The answer decides what follows: a ``task_id`` (top level or in ``data``) without a
    finished result is a task to wait for; any other answer is the result (a chat completion's ``id`` is
    not a task id). With ``wait`` the operator waits for the task to succeed or fail, in the triggerer when
    ``deferrable`` (reads shared with every other wait on the connection and service, see
    :class:`~airflow_provider_acedata.triggers.api.ApiTaskTrigger`), else in the worker, every
    ``poke_interval`` seconds.

    Returns (XCom ``return_value``) a small manifest, never the API key: ``{"task_id", "trace_id", "path",
    "state", "response", "artifacts"}``; ``state`` is ``"succeeded"``, or ``"submitted"`` with
    ``wait=False``; ``response`` is the task's ``response`` (or the route's answer); ``artifacts`` the URLs
    in it (as the official SDK's ``artifact_urls`` finds them) or, with ``destination``, the paths of the
    copies. The gateway's task id also goes to XCom ``task_id`` as soon as it is known.

    A failed task fails the Airflow task with the gateway's code and message, without retrying. No retry
    pays twice: a try records its submit before sending it (Airflow 3.3's task state store, else a Variable,
    see :mod:`airflow_provider_acedata.operators._submits`); a retry of a try that submitted reattaches to
    its task, and a submit whose answer was lost fails saying so and is never sent again. Clearing the task
    instance submits afresh.

    :param path: the route on the gateway, e.g. ``"/midjourney/imagine"``, ``"/suno/audios"``,
        ``"/openai/chat/completions"`` (templated).
    :param body: the JSON body, a dict (templated; ``.expand(body=[...])`` fans out over prompts).
    :param wait: wait for a task to finish (default); False returns after the submit.
    :param deferrable: wait in the triggerer; default ``[operators] default_deferrable``.
    :param poke_interval: seconds between task reads, at least 1 (templated; default 10).
    :param destination: an ``ObjectStoragePath`` folder (or its URL, templated) to copy the artifacts into.
    :param acedata_api_conn_id: the ``acedata_api`` connection (host and API key).
    """

    template_fields: Sequence[str] = ("path", "body", "destination", "poke_interval", "acedata_api_conn_id")
    template_fields_renderers: ClassVar[dict[str, str]] = {"body": "json"}

    def __init__(
        self,
        *,
        path: str,
        body: Mapping[str, Any] | None = None,
        wait: bool = True,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poke_interval: float | str = 10,
        destination: Any = None,
        acedata_api_conn_id: str = "acedata_api_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.path = path
        self.body = body
        self.wait = wait
        self.deferrable = deferrable
        self.poke_interval = poke_interval
        self.destination = destination
        self.acedata_api_conn_id = acedata_api_conn_id

    # -- inputs ---------------------------------------------------------------------------------------

    def _call(self) -> Call:
        """The rendered inputs, checked before any request; ``AceDataInputError`` names the field."""
        path = require_api_path("path", self.path)
        body = self.body if self.body is not None else {}
        if not isinstance(body, Mapping):
            raise AceDataInputError(
                f"body must be a JSON object (a dict), got {type(body).__name__}: {str(body)[:80]!r}. A template "
                "renders to a string unless the DAG sets render_template_as_native_obj=True; pass a dict or an XComArg"
            )
        try:
            encoded = json.dumps(body, allow_nan=False)
        except (TypeError, ValueError) as error:
            raise AceDataInputError(f"body must be a JSON object: {error}") from None
        if not isinstance(self.wait, bool) or not isinstance(self.deferrable, bool):
            raise AceDataInputError(
                f"wait and deferrable must be True or False, got {self.wait!r}, {self.deferrable!r}"
            )
        poke_interval = require_number("poke_interval", self.poke_interval, minimum=1)
        return Call(
            path=path,
            body=submit_body(path, json.loads(encoded)),
            poke_interval=poke_interval,
            destination=self._destination(),
        )

    def _destination(self) -> ObjectStoragePath | None:
        from airflow.sdk import ObjectStoragePath

        if self.destination is None or self.destination == "":
            return None
        if isinstance(self.destination, ObjectStoragePath):
            return self.destination
        text = require_text("destination", str(self.destination), max_length=4096)
        try:
            path = ObjectStoragePath(text)
            path.fs  # noqa: B018  # resolves the protocol's filesystem now (Airflow 3.1 defers it to first use)
            return path
        except Exception as error:
            raise AceDataInputError(
                f"destination {text!r} is not a folder ObjectStoragePath can write to ({type(error).__name__}: "
                f"{error}); use a URL such as 'file:///data/images/' or 's3://bucket/images/'"
            ) from None

    @cached_property
    def hook(self) -> AceDataApiHook:
        """One hook (one HTTP session) per execution; ``execute`` and ``execute_complete`` close it."""
        from airflow_provider_acedata.hooks.api import AceDataApiHook

        return AceDataApiHook(self.acedata_api_conn_id)

    def _close_hook(self) -> None:
        if "hook" in self.__dict__:
            self.__dict__.pop("hook").close()

    # -- execute --------------------------------------------------------------------------------------

    def execute(self, context: Context) -> dict[str, Any]:
        try:
            return self._execute(context)
        finally:
            self._close_hook()

    def _execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_acedata.operators._submits import ANSWERED, SUBMITTED, SUBMITTING, ledger_for

        call = self._call()
        ledger = ledger_for(context)
        # A first try has no earlier try to find (and a lookup of a missing Variable logs an error on 3.1).
        previous = ledger.current() if int(getattr(context["ti"], "try_number", 0) or 0) != 1 else None
        if previous is not None and previous.state == SUBMITTING:
            self._unknown(previous, ledger, "an earlier try of this task instance sent it and never saw the answer")
        if previous is not None:
            self._check_same_request(previous, call)
        if previous is not None and previous.state == ANSWERED:
            self.log.info("Using the answer of POST %s that try %d received (not calling again)", previous.path,
                          previous.try_number)  # fmt: skip
            return self._answered(context, ledger, call, previous.answer, previous.trace_id)
        if previous is not None and previous.state == SUBMITTED and previous.task_id:
            self.log.info(
                "Reattaching to task %s, submitted to %s by try %d at %s: not submitting again",
                previous.task_id,
                previous.path,
                previous.try_number,
                previous.at,
            )
            context["ti"].xcom_push(key=TASK_ID_KEY, value=previous.task_id)
            if not self.wait:
                return self._submitted(ledger, call, previous.task_id, previous.trace_id, previous.answer)
            return self._wait(context, ledger, call, previous.task_id, previous.trace_id, read_first=True)

        answer = self._submit(context, ledger, call)
        task_id = answer_task_id(answer)
        trace_id = _trace_id(answer)
        if task_id is not None:
            context["ti"].xcom_push(key=TASK_ID_KEY, value=task_id)
        final = answer_is_final(answer)
        self._record(ledger, context, call, ANSWERED if final else SUBMITTED, task_id, trace_id, answer)
        if final:
            return self._answered(context, ledger, call, answer, trace_id)
        assert task_id is not None
        self.log.info("Submitted task %s to %s (trace_id %s)", task_id, call.path, trace_id)
        if not self.wait:
            return self._submitted(ledger, call, task_id, trace_id, answer)
        return self._wait(context, ledger, call, task_id, trace_id, read_first=False)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Resume after ``ApiTaskTrigger`` fired: finish a succeeded task, fail on anything else."""
        try:
            return self._complete(context, event)
        finally:
            self._close_hook()

    def _complete(self, context: Context, event: dict[str, Any] | None) -> dict[str, Any]:
        from airflow_provider_acedata.operators._submits import ledger_for

        if not event:
            raise AceDataError("ApiTaskTrigger ended without an event")
        call = self._call()
        task_id = str(event.get("task_id"))
        status = event.get("status")
        if status in ("succeeded", "failed") and isinstance(event.get("record"), dict):
            record: dict[str, Any] = event["record"]
            return self._finish(context, ledger_for(context), call, task_id, record, str(status))
        message = event.get("message") or f"the wait ended with status {status!r}"
        raise AceDataError(
            f"Waiting for task {task_id} of {call.path} failed: {message}. A retry of this Airflow task reattaches "
            "to the same task (nothing is submitted again)"
        )

    # -- submitting -----------------------------------------------------------------------------------

    def _submit(self, context: Context, ledger: SubmitLedger, call: Call) -> Any:
        """Record the submit, send it once, and return the answer; a lost answer fails without resending."""
        from airflow_provider_acedata.operators._submits import SUBMITTING

        record = self._record(ledger, context, call, SUBMITTING, None, None, None, verify=True)
        assert record is not None
        self.log.info("POST %s (body keys: %s)", call.path, ", ".join(sorted(call.body)) or "none")
        try:
            return self.hook.call(call.path, call.body)
        except AceDataTransportError as error:
            self._unknown(record, ledger, f"it got no answer ({error})")
        except AceDataApiError as error:
            if error.status_code == 504:
                self._unknown(record, ledger, f"the gateway answered 504 while the task may be running ({error})")
            _forget(ledger)
            if error.code in FINAL_CODES:
                raise AirflowFailException(
                    f"The gateway refused POST {call.path}, nothing was created: {error}"
                ) from error
            raise

    def _record(
        self,
        ledger: SubmitLedger,
        context: Context,
        call: Call,
        state: str,
        task_id: str | None,
        trace_id: str | None,
        answer: Any,
        *,
        verify: bool = False,
    ) -> Submit | None:
        """Write the submit record; before a submit it must hold (or nothing is sent), after one it may fail."""
        from airflow_provider_acedata.operators._submits import Submit, SubmitLedgerError, now, request_digest

        record = Submit(
            state=state,
            generation=ledger.generation,
            path=call.path,
            digest=request_digest(call.path, call.body),
            try_number=int(getattr(context["ti"], "try_number", 0) or 0),
            at=now(),
            task_id=task_id,
            trace_id=trace_id,
            answer=answer,
        )
        try:
            ledger.write(record, verify=verify)
        except SubmitLedgerError as error:
            if verify:
                raise SubmitLedgerError(f"Nothing was submitted to {call.path}: {error}") from error
            self.log.warning("Could not record the outcome of the submit in %s: %s", ledger.where, error)
            return None
        return record

    def _unknown(self, record: Submit, ledger: SubmitLedger, why: str) -> NoReturn:
        raise ApiSubmitUnknownError(
            f"POST {record.path} (try {record.try_number}, {record.at}) may have created a task that is charged: "
            f"{why}. It is not sent again. Check this API key's call records for that time (the console's usage "
            "page, or ExportUsageOperator / AceDataHook.iter_usage with its credential_id) or the service's tasks; "
            f"clear this task instance to submit again. The record is in {ledger.where}."
        )

    def _check_same_request(self, previous: Submit, call: Call) -> None:
        from airflow_provider_acedata.operators._submits import request_digest

        if previous.digest != request_digest(call.path, call.body):
            self.log.warning(
                "This try would send a different request to %s than try %d did; it keeps to what try %d sent "
                "(clear the task instance to send the new one)",
                call.path,
                previous.try_number,
                previous.try_number,
            )

    # -- waiting --------------------------------------------------------------------------------------

    def _wait(
        self,
        context: Context,
        ledger: SubmitLedger,
        call: Call,
        task_id: str,
        trace_id: str | None,
        *,
        read_first: bool,
    ) -> dict[str, Any]:
        """Wait for the task: deferred to ``ApiTaskTrigger``, or in the worker; then finish it."""
        if self.deferrable:
            if read_first:
                record = self._read(call, task_id)
                if status := task_status(record):
                    return self._finish(context, ledger, call, task_id, record, status)
            self._defer(call, task_id)
        record = self._poll(call, task_id, read_first=read_first)
        return self._finish(context, ledger, call, task_id, record, task_status(record))

    def _read(self, call: Call, task_id: str) -> dict[str, Any]:
        return self.hook.retrieve(call.service, task_id)

    def _poll(self, call: Call, task_id: str, *, read_first: bool) -> dict[str, Any]:
        """Read the task every ``poke_interval`` seconds until it has finished (``execution_timeout`` bounds it)."""
        started = time.monotonic()
        if not read_first:
            time.sleep(call.poke_interval)
        while True:
            record = self.hook.retrieve(call.service, task_id)
            if task_status(record):
                return record
            self.log.info("Task %s is running (%.0fs)", task_id, time.monotonic() - started)
            time.sleep(call.poke_interval)

    def _defer(self, call: Call, task_id: str) -> NoReturn:
        from airflow_provider_acedata.triggers.api import ApiTaskTrigger

        timeout = self.execution_timeout
        end_time = None if timeout is None else time.time() + timeout.total_seconds()
        self.log.info("Deferring until task %s has finished (reading it every %gs)", task_id, call.poke_interval)
        self.defer(
            trigger=ApiTaskTrigger(
                gateway_task_id=task_id,
                path=call.path,
                acedata_api_conn_id=self.acedata_api_conn_id,
                poke_interval=call.poke_interval,
                end_time=end_time,
            ),
            method_name="execute_complete",
            timeout=None if timeout is None else timeout + DEFER_MARGIN,
        )
        raise AssertionError("defer() returned")  # pragma: no cover  # defer raises TaskDeferred

    # -- results --------------------------------------------------------------------------------------

    def _answered(
        self, context: Context, ledger: SubmitLedger, call: Call, answer: Any, trace_id: str | None
    ) -> dict[str, Any]:
        """A route that answered with its result: the result, or the failure it reports."""
        state = {"response": answer}
        status = task_status(state) if isinstance(answer, Mapping) else "succeeded"
        return self._finish(context, ledger, call, answer_task_id(answer), state, status or "succeeded", trace_id)

    def _finish(
        self,
        context: Context,
        ledger: SubmitLedger,
        call: Call,
        task_id: str | None,
        state: dict[str, Any],
        status: str,
        trace_id: str | None = None,
    ) -> dict[str, Any]:
        """The manifest of a finished task (its artifacts copied when a destination is set), or its failure."""
        trace_id = trace_id or _trace_id(state) or _trace_id(state.get("response"))
        if status == "failed":
            code, message = failure(state)
            raise ApiTaskFailedError(
                f"Task {task_id or '(none)'} of {call.path} failed"
                + (f" [{code}]" if code else "")
                + f": {message} (trace_id {trace_id}). Nothing was resubmitted; clear the task instance to submit "
                "again",
                path=call.path,
                code=code,
                api_message=message,
                task_id=task_id,
                trace_id=trace_id,
            )
        urls = artifact_urls(state)
        artifacts = urls
        if call.destination is not None and urls:
            artifacts = self._copy(call, urls, task_id or trace_id or _answer_digest(state))
        manifest = {
            "task_id": task_id,
            "trace_id": trace_id,
            "path": call.path,
            "state": "succeeded",
            "response": state.get("response"),
            "artifacts": artifacts,
        }
        self.log.info(
            "Task %s of %s succeeded with %d artifact(s)%s",
            task_id or "(answered at once)",
            call.path,
            len(artifacts),
            f" copied to {call.destination}" if call.destination is not None and urls else "",
        )
        self._done(ledger)
        return manifest

    def _done(self, ledger: SubmitLedger) -> None:
        try:
            ledger.finished()
        except Exception as error:
            self.log.warning("Could not clean up %s: %s", ledger.where, error)

    def _copy(self, call: Call, urls: list[str], folder_name: str) -> list[str]:
        from airflow_provider_acedata.operators._artifacts import copy_artifacts

        assert call.destination is not None
        folder = call.destination / _safe_folder(folder_name)
        return copy_artifacts(urls, folder, timeout=self.hook.settings.timeout, log=cast("logging.Logger", self.log))

    def _submitted(
        self, ledger: SubmitLedger, call: Call, task_id: str, trace_id: str | None, answer: Any
    ) -> dict[str, Any]:
        """The manifest of ``wait=False``: the task was submitted; its id is the handle."""
        self._done(ledger)
        return {
            "task_id": task_id,
            "trace_id": trace_id,
            "path": call.path,
            "state": "submitted",
            "response": answer,
            "artifacts": [],
        }


def _forget(ledger: SubmitLedger) -> None:
    """A refused submit created nothing: drop its record, so that the next try may submit."""
    # If this fails the record stays "submitting": a retry then refuses to submit, which is safe.
    with contextlib.suppress(Exception):
        ledger.forget()


def _trace_id(value: Any) -> str | None:
    found = value.get("trace_id") if isinstance(value, Mapping) else None
    return str(found) if isinstance(found, str | int) and str(found) else None


def _answer_digest(state: Mapping[str, Any]) -> str:
    encoded = json.dumps(state.get("response"), sort_keys=True, default=str)
    return "answer-" + hashlib.sha256(encoded.encode()).hexdigest()[:16]


def _safe_folder(name: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "-_." else "_" for c in name).strip("._")
    return cleaned[:120] or "answer"


__all__ = ["CallApiOperator"]
