"""ApplicationBalanceTrigger: wait in the triggerer until an application's balance reaches a threshold."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from airflow_provider_acedata.version_compat import BaseTrigger, TriggerEvent

if TYPE_CHECKING:
    from airflow_provider_acedata.hooks.acedata import AceDataHook

HEARTBEAT_SECONDS = 300.0
MIN_POKE_INTERVAL = 0.01
#: The last read starts this long before ``end_time``: a thousand waits ending together start their last
#: reads early enough that the burst is over by the deadline.
LAST_READ_LEAD = 1.0
#: How long after ``end_time`` a read in flight may still answer; then the timeout event fires without it.
FINAL_READ_GRACE = 0.5


class ApplicationBalanceTrigger(BaseTrigger):
    """Poll an application every ``poke_interval`` seconds until its balance reaches ``min_remaining_amount``.

    Yields one event: ``{"status": "success", "remaining_amount": ...}``, ``{"status": "timeout", ...}``
    once ``end_time`` (Unix seconds) has passed, or ``{"status": "error", "message": ...}`` for any
    failure. Reads are natively async (one ``httpx`` client per trigger, closed when it ends or is
    cancelled), so a thousand waits share the triggerer's event loop without a thread each. Reads keep
    to their schedule (one every ``poke_interval`` from the first), however slow the platform answers.
    The timeout event fires on time, whatever a read is doing: the last read starts ``LAST_READ_LEAD``
    seconds before ``end_time``, and a read still in flight ``FINAL_READ_GRACE`` seconds after it (a slow
    platform, retries, a ``Retry-After``) is cancelled; the event goes out first, the read is cleaned up
    after it.

    Only the connection id, the application id and numbers are serialized: never a token.
    """

    def __init__(
        self,
        application_id: str,
        min_remaining_amount: float,
        acedata_conn_id: str = "acedata_default",
        poke_interval: float = 60.0,
        end_time: float | None = None,
        poll_interval: float | None = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # BaseTrigger.__init__ is unannotated
        self.application_id = application_id
        self.min_remaining_amount = min_remaining_amount
        self.acedata_conn_id = acedata_conn_id
        # ``poll_interval``: the name in the kwargs of triggers deferred by version 0.1.0.
        self.poke_interval = poke_interval if poll_interval is None else poll_interval
        self.end_time = end_time
        self._cut: asyncio.Future[float] | None = None  # a read cancelled at the deadline, to clean up

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "application_id": self.application_id,
                "min_remaining_amount": self.min_remaining_amount,
                "acedata_conn_id": self.acedata_conn_id,
                "poke_interval": self.poke_interval,
                "end_time": self.end_time,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from airflow_provider_acedata.hooks.acedata import AceDataHook

        hook = AceDataHook(self.acedata_conn_id)
        try:
            try:
                payload = await self._wait(hook)
            except Exception as error:
                payload = {
                    "status": "error",
                    "application_id": self.application_id,
                    "message": f"{type(error).__name__}: {error}",
                }
            # The event goes out first; a read cut at the deadline and the client are cleaned up after it.
            yield TriggerEvent(payload)
        finally:
            if self._cut is not None:
                await asyncio.gather(self._cut, return_exceptions=True)
            await hook.aclose()

    async def _wait(self, hook: AceDataHook) -> dict[str, Any]:
        """Read the balance on schedule until it is enough or the wait ends; the payload of the event."""
        step = max(float(self.poke_interval), MIN_POKE_INTERVAL)
        next_read = time.monotonic()
        seen: float | None = None
        logged_at = 0.0
        while True:
            amount = await self._read(hook)
            if amount is None:
                return self._timeout(seen, answered=False)
            if amount >= self.min_remaining_amount:
                return {"status": "success", "application_id": self.application_id, "remaining_amount": amount}
            wall = time.time()
            if self.end_time is not None and wall >= self.end_time - LAST_READ_LEAD:
                # That was the last read: it started at most LAST_READ_LEAD before the end. Time out at the end.
                await asyncio.sleep(max(self.end_time - wall, 0.0))
                return self._timeout(amount, answered=True)
            now = time.monotonic()
            if amount != seen or now - logged_at >= HEARTBEAT_SECONDS:
                self.log.info(
                    "Application %s has %g Credits; waiting for %g",
                    self.application_id,
                    amount,
                    self.min_remaining_amount,
                )
                logged_at = now
            seen = amount
            while next_read <= now:
                next_read += step
            delay = next_read - now
            if self.end_time is not None:
                delay = min(delay, self.end_time - LAST_READ_LEAD - wall)
            await asyncio.sleep(max(delay, 0.0))

    async def _read(self, hook: AceDataHook) -> float | None:
        """One balance read; None when it is still running ``FINAL_READ_GRACE`` seconds after ``end_time``.

        Such a read is cancelled but not awaited here: the timeout event must not wait for it to unwind
        (a thousand waits ending together would wait for a thousand connections to close).
        """
        if self.end_time is None:
            return await hook.aget_remaining_amount(self.application_id)
        read = asyncio.ensure_future(hook.aget_remaining_amount(self.application_id))
        try:
            done, _ = await asyncio.wait({read}, timeout=max(self.end_time + FINAL_READ_GRACE - time.time(), 0.0))
        except BaseException:
            read.cancel()
            raise
        if read in done:
            return read.result()
        read.cancel()
        self._cut = read
        return None

    def _timeout(self, amount: float | None, *, answered: bool) -> dict[str, Any]:
        """The timeout event: the last balance seen, and whether the last read answered before the end."""
        if amount is None:
            message = f"No read of application {self.application_id} answered before the end of the wait"
        else:
            message = (
                f"Application {self.application_id} still has {amount:g} Credits, below "
                f"{self.min_remaining_amount:g}, at the end of the wait"
            )
        if not answered:
            message += f" (the last read did not answer within {FINAL_READ_GRACE:g} s of the end; it was cancelled)"
        return {
            "status": "timeout",
            "application_id": self.application_id,
            "remaining_amount": amount,
            "message": message,
        }
