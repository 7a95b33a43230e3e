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


class ApplicationBalanceTrigger(BaseTrigger):
    """Poll an application every ``poke_interval`` seconds until its balance reaches ``min_remaining_amount``.

    Yields one event: ``{"status": "success", "remaining_amount": ...}``, ``{"status": "timeout", ...}``
    once ``end_time`` (Unix seconds) has passed, or ``{"status": "error", "message": ...}`` for any
    failure. Reads are natively async (one ``httpx`` client per trigger, closed when it ends or is
    cancelled), so a thousand waits share the triggerer's event loop without a thread each. Reads keep
    to their schedule (one every ``poke_interval`` from the first), however slow the platform answers.

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
            payload = await self._wait(hook)
        except Exception as error:
            payload = {
                "status": "error",
                "application_id": self.application_id,
                "message": f"{type(error).__name__}: {error}",
            }
        finally:
            await hook.aclose()
        yield TriggerEvent(payload)

    async def _wait(self, hook: AceDataHook) -> dict[str, Any]:
        """Read the balance on schedule until it is enough or the wait ends; the payload of the event."""
        step = max(float(self.poke_interval), MIN_POKE_INTERVAL)
        next_read = time.monotonic()
        seen: float | None = None
        logged_at = 0.0
        while True:
            amount = await hook.aget_remaining_amount(self.application_id)
            if amount >= self.min_remaining_amount:
                return {"status": "success", "application_id": self.application_id, "remaining_amount": amount}
            wall = time.time()
            if self.end_time is not None and wall >= self.end_time:
                return {
                    "status": "timeout",
                    "application_id": self.application_id,
                    "remaining_amount": amount,
                    "message": f"Application {self.application_id} still has {amount:g} Credits, below "
                    f"{self.min_remaining_amount:g}, at the end of the wait",
                }
            now = time.monotonic()
            if amount != seen or now - logged_at >= HEARTBEAT_SECONDS:
                self.log.info(
                    "Application %s has %g Credits; waiting for %g",
                    self.application_id,
                    amount,
                    self.min_remaining_amount,
                )
                seen, logged_at = amount, now
            while next_read <= now:
                next_read += step
            delay = next_read - now
            if self.end_time is not None:
                delay = min(delay, self.end_time - wall)
            await asyncio.sleep(max(delay, 0.0))
