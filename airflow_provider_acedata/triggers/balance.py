"""ApplicationBalanceTrigger: wait in the triggerer until an application's balance reaches a threshold."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_acedata.exceptions import AceDataError, AceDataInputError
from airflow_provider_acedata.validation import require_number


def read_remaining_amount(application: Mapping[str, Any]) -> float:
    """An application's ``remaining_amount`` in Credits (DRF may render it as a decimal string)."""
    value = application.get("remaining_amount")
    try:
        return require_number("remaining_amount", value)
    except AceDataInputError:
        raise AceDataError(
            f"Application {application.get('id')} has no usable remaining_amount (got {value!r})"
        ) from None


def fetch_remaining_amount(acedata_conn_id: str, application_id: str) -> float:
    """Read an application's balance once, with the hook's retries for transient failures.

    A fresh hook per read re-reads the connection, so a wait that outlasts a platform-token rotation picks
    up the new token.
    """
    from airflow_provider_acedata.hooks.acedata import AceDataHook

    hook = AceDataHook(acedata_conn_id)
    try:
        return read_remaining_amount(hook.get_application(application_id))
    finally:
        session = vars(hook).get("session")
        if session is not None:
            session.close()


class ApplicationBalanceTrigger(BaseTrigger):
    """Poll an application until its ``remaining_amount`` is at least ``min_remaining_amount``.

    Yields one event: ``{"status": "success", "remaining_amount": ...}``, ``{"status": "timeout", ...}``
    once ``end_time`` (Unix seconds) has passed, or ``{"status": "error", "message": ...}`` for any
    failure. Each read runs the synchronous hook in a worker thread: its connection lookup and
    ``mask_secret`` must not run on the triggerer's event loop, and its retries sleep.

    Only the connection id, the application id and numbers are serialized: never a token.
    """

    def __init__(
        self,
        application_id: str,
        min_remaining_amount: float,
        acedata_conn_id: str = "acedata_default",
        poll_interval: float = 60.0,
        end_time: float | None = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # BaseTrigger.__init__ is unannotated
        self.application_id = application_id
        self.min_remaining_amount = min_remaining_amount
        self.acedata_conn_id = acedata_conn_id
        self.poll_interval = poll_interval
        self.end_time = end_time

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "application_id": self.application_id,
                "min_remaining_amount": self.min_remaining_amount,
                "acedata_conn_id": self.acedata_conn_id,
                "poll_interval": self.poll_interval,
                "end_time": self.end_time,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            while True:
                amount = await asyncio.to_thread(fetch_remaining_amount, self.acedata_conn_id, self.application_id)
                if amount >= self.min_remaining_amount:
                    yield TriggerEvent(
                        {"status": "success", "application_id": self.application_id, "remaining_amount": amount}
                    )
                    return
                now = time.time()
                if self.end_time is not None and now >= self.end_time:
                    yield TriggerEvent(
                        {
                            "status": "timeout",
                            "application_id": self.application_id,
                            "remaining_amount": amount,
                            "message": f"Application {self.application_id} still has {amount:g} Credits, below "
                            f"{self.min_remaining_amount:g}, at the end of the wait",
                        }
                    )
                    return
                self.log.info(
                    "Application %s has %g Credits; waiting for %g",
                    self.application_id,
                    amount,
                    self.min_remaining_amount,
                )
                delay = self.poll_interval if self.end_time is None else min(self.poll_interval, self.end_time - now)
                await asyncio.sleep(max(delay, 0.0))
        except Exception as error:
            message = f"{type(error).__name__}: {error}"
            yield TriggerEvent({"status": "error", "application_id": self.application_id, "message": message})
