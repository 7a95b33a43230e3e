"""ApiTaskTrigger: wait in the triggerer for a gateway task (Midjourney, Suno, Veo, ...) to finish."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow_provider_acedata.version_compat import BaseTrigger, TriggerEvent

HEARTBEAT_SECONDS = 300.0


class ApiTaskTrigger(BaseTrigger):
    """Wait until a gateway task has finished, reading it every ``poke_interval`` seconds, shared with others.

    Every trigger of one triggerer waiting on the same connection and service joins one shared reader
    (:mod:`airflow_provider_acedata.triggers._task_reads`): their tasks are read together, up to 100 per
    ``retrieve_batch``, so a fan-out of N waits costs about ceil(N/100) task reads per interval, and a 429
    backs all of them off together. The reads are natively async (``httpx``); the reader closes its client
    when its last wait ends, cancelled or not.

    Yields one event: ``{"status": "succeeded" | "failed", "task_id", "record"}`` with the finished task
    record, ``{"status": "timeout", ...}`` once ``end_time`` (Unix seconds) has passed, even while a read is
    in flight, or ``{"status": "error", "message"}`` when the task cannot be read.

    Its kwargs hold the connection id, the route, the task id and numbers: never a key. The task id is kept as
    ``gateway_task_id``: the triggerer sets ``task_id`` on every trigger to the Airflow task's id.

    :param gateway_task_id: the gateway's task id (a submit's ``task_id``).
    :param path: the route the task was submitted to (``/midjourney/imagine``); its service's tasks are read.
    :param acedata_api_conn_id: the ``acedata_api`` connection.
    :param poke_interval: seconds between reads of this task (at least; a shared read may come sooner).
    :param end_time: Unix time at which the wait ends with a ``timeout`` event; None waits without end.
    """

    def __init__(
        self,
        gateway_task_id: str,
        path: str,
        acedata_api_conn_id: str = "acedata_api_default",
        poke_interval: float = 10.0,
        end_time: float | None = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # BaseTrigger.__init__ is unannotated
        self.gateway_task_id = gateway_task_id
        self.path = path
        self.acedata_api_conn_id = acedata_api_conn_id
        self.poke_interval = poke_interval
        self.end_time = end_time

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "gateway_task_id": self.gateway_task_id,
                "path": self.path,
                "acedata_api_conn_id": self.acedata_api_conn_id,
                "poke_interval": self.poke_interval,
                "end_time": self.end_time,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from airflow_provider_acedata.gateway import task_status
        from airflow_provider_acedata.triggers._task_reads import shared_wait
        from airflow_provider_acedata.validation import api_service

        base = {"task_id": self.gateway_task_id, "path": self.path}
        try:
            service = api_service(self.path)
            async with shared_wait(
                self.acedata_api_conn_id, service, self.gateway_task_id, float(self.poke_interval)
            ) as wait:
                record = await self._until_done(wait.result)
            payload = (
                {**base, "status": task_status(record), "record": record}
                if record is not None
                else {**base, "status": "timeout", "message": self._timeout_message()}
            )
        except Exception as error:
            payload = {**base, "status": "error", "message": f"{type(error).__name__}: {error}"}
        yield TriggerEvent(payload)

    async def _until_done(self, result: asyncio.Future[dict[str, Any]]) -> dict[str, Any] | None:
        """The finished record, or None once ``end_time`` passes (reads in flight do not delay that)."""
        started = time.monotonic()
        self.log.info(
            "Waiting for task %s of %s, reading it every %gs (reads shared with every wait on %s)",
            self.gateway_task_id,
            self.path,
            float(self.poke_interval),
            self.acedata_api_conn_id,
        )
        while True:
            left = None if self.end_time is None else self.end_time - time.time()
            if left is not None and left <= 0:
                return None
            timeout = HEARTBEAT_SECONDS if left is None else min(left, HEARTBEAT_SECONDS)
            done, _ = await asyncio.wait({result}, timeout=timeout)
            if done:
                return result.result()
            if left is None or left > HEARTBEAT_SECONDS:
                self.log.info("Task %s is still running after %.0fs", self.gateway_task_id, time.monotonic() - started)

    def _timeout_message(self) -> str:
        return (
            f"Task {self.gateway_task_id} of {self.path} was still running when the wait ended; it may still "
            "finish (and it is paid for): a retry of this Airflow task waits for it again instead of submitting"
        )
