"""Event triggers for asset watchers: start DAGs when a balance runs low or when call records arrive.

Airflow 3 runs a ``BaseEventTrigger`` of an ``AssetWatcher`` in the triggerer, for as long as a DAG
scheduled on that asset is unpaused; each event it yields becomes an asset event that starts those DAGs::

    from airflow.sdk import Asset, AssetWatcher

    low = Asset("acedata_low_balance", watchers=[
        AssetWatcher(name="acedata_low_balance", trigger=ApplicationLowBalanceTrigger(
            application_id="...", min_remaining_amount=100)),
    ])

A condition that stays true must not start a run per poll, so both triggers announce *changes*: a
balance crossing below its threshold, a window of call records that has closed. What they have announced
is kept in the asset state store that the triggerer offers watchers (Airflow 3.3 and later), so a
triggerer restart neither repeats nor loses an event. Before 3.3 the state lives in the trigger: after a
restart the low-balance trigger starts armed again (one repeated alert if the balance is still low) and
the call-records trigger looks back one ``poke_interval`` (one repeated window when the restart came
within one ``poke_interval`` of an announcement; its export rewrites the same file).

Reads are natively async (``httpx``, one client per trigger, closed when the trigger ends), on a fixed
schedule of one every ``poke_interval`` seconds. A failed read is logged and tried again at the next
poll: a watcher keeps watching. The kwargs hold a connection id, ids and numbers, never a secret, and are
kept as given, so that the watcher's identity (a hash of class and kwargs) is stable.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from airflow_provider_acedata.exceptions import AceDataInputError
from airflow_provider_acedata.validation import require_number, require_uuid
from airflow_provider_acedata.version_compat import BaseEventTrigger, TriggerEvent

if TYPE_CHECKING:
    from airflow_provider_acedata.hooks.acedata import AceDataHook

#: Seconds between two log lines about the same failing read.
QUIET_SECONDS = 300.0
#: The most windows a call-records trigger announces after a pause (a week of hourly windows).
MAX_CATCH_UP = 168


def utc_iso(moment: float) -> str:
    """Unix seconds as an ISO-8601 UTC string with ``Z`` (microseconds only when there are any)."""
    return datetime.fromtimestamp(moment, UTC).isoformat().replace("+00:00", "Z")


class _PollingEventTrigger(BaseEventTrigger):
    """A watcher's loop: one ``poll`` every ``poke_interval`` seconds, failures logged, state kept if possible."""

    poke_interval: float
    acedata_conn_id: str

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # BaseTrigger.__init__ is unannotated
        self._failed_at = -math.inf

    @property
    def state_key(self) -> str:
        """This trigger's key in the asset state store (several watchers may share an asset)."""
        raise NotImplementedError

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from airflow_provider_acedata.hooks.acedata import AceDataHook

        hook = AceDataHook(self.acedata_conn_id)
        try:
            await self.start()
            next_poll = time.monotonic()
            while True:
                try:
                    async for payload in self.poll(hook):
                        yield TriggerEvent(payload)
                except Exception as error:
                    self.failed(error)
                now = time.monotonic()
                while next_poll <= now:
                    next_poll += self.poke_interval
                await asyncio.sleep(next_poll - now)
        finally:
            await hook.aclose()

    async def start(self) -> None:
        """Read the state kept by an earlier run of this trigger (3.3+), before the first poll."""

    def poll(self, hook: AceDataHook) -> AsyncIterator[dict[str, Any]]:
        """One poll: the payloads of the events it finds."""
        raise NotImplementedError

    def failed(self, error: Exception) -> None:
        """Log a failed poll (at most once per ``QUIET_SECONDS``); the next poll tries again."""
        now = time.monotonic()
        if now - self._failed_at >= QUIET_SECONDS:
            self.log.warning("%s: polling failed, trying again every %gs: %s", self, self.poke_interval, error)
            self._failed_at = now

    async def load_state(self) -> Any:
        """This trigger's kept state, or None (nothing kept, or no asset state store before Airflow 3.3)."""
        store = getattr(self, "asset_state_store", None)
        if store is None:
            return None
        try:
            return await store.aget(self.state_key, None)
        except Exception as error:  # e.g. one trigger watching several assets: the store wants one
            self.log.warning("%s: cannot read the asset state store (%s); keeping state in memory", self, error)
            self.asset_state_store = None
            return None

    async def save_state(self, value: Any) -> None:
        """Keep ``value`` in the asset state store, when the triggerer offers one."""
        store = getattr(self, "asset_state_store", None)
        if store is None:
            return
        try:
            await store.aset(self.state_key, value)
        except Exception as error:
            self.log.warning("%s: cannot write the asset state store (%s); keeping state in memory", self, error)
            self.asset_state_store = None


class ApplicationLowBalanceTrigger(_PollingEventTrigger):
    """One event each time an application's balance crosses below ``min_remaining_amount`` Credits.

    Armed at start, so a balance already below at the first read yields one event. Disarmed by each
    event, so a balance that stays below yields no more; re-armed once a read finds it at or above the
    threshold again (a top-up), so the next drop yields one more. Payload: ``application_id``,
    ``remaining_amount``, ``min_remaining_amount`` and ``observed_at`` (ISO-8601 UTC).

    :param application_id: the application to watch (a UUID).
    :param min_remaining_amount: the threshold in Credits.
    :param acedata_conn_id: the ``acedata`` connection to read with.
    :param poke_interval: seconds between reads (default 300).
    """

    def __init__(
        self,
        *,
        application_id: str,
        min_remaining_amount: float,
        acedata_conn_id: str = "acedata_default",
        poke_interval: float = 300,
    ) -> None:
        super().__init__()
        require_uuid("application_id", application_id)
        require_number("min_remaining_amount", min_remaining_amount)
        _check_interval(poke_interval)
        self.application_id = application_id
        self.min_remaining_amount = min_remaining_amount
        self.acedata_conn_id = acedata_conn_id
        self.poke_interval = poke_interval
        self.armed = True

    def __repr__(self) -> str:
        return f"ApplicationLowBalanceTrigger({self.application_id}, below {self.min_remaining_amount:g})"

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "application_id": self.application_id,
                "min_remaining_amount": self.min_remaining_amount,
                "acedata_conn_id": self.acedata_conn_id,
                "poke_interval": self.poke_interval,
            },
        )

    @property
    def state_key(self) -> str:
        return f"acedata_low_balance:{self.acedata_conn_id}:{self.application_id}:{self.min_remaining_amount:g}"

    async def start(self) -> None:
        kept = await self.load_state()
        if isinstance(kept, dict) and isinstance(kept.get("armed"), bool):
            self.armed = kept["armed"]

    async def poll(self, hook: AceDataHook) -> AsyncIterator[dict[str, Any]]:
        amount = await hook.aget_remaining_amount(self.application_id)
        observed_at = time.time()
        below = amount < float(self.min_remaining_amount)
        if below and self.armed:
            self.log.info(
                "Application %s has %g Credits, below %g: announcing it",
                self.application_id,
                amount,
                self.min_remaining_amount,
            )
            await self._arm(False)
            yield {
                "application_id": self.application_id,
                "remaining_amount": amount,
                "min_remaining_amount": float(self.min_remaining_amount),
                "observed_at": utc_iso(observed_at),
            }
        elif not below and not self.armed:
            self.log.info("Application %s has %g Credits again: re-armed", self.application_id, amount)
            await self._arm(True)

    async def _arm(self, armed: bool) -> None:
        self.armed = armed
        await self.save_state({"armed": armed})


class NewCallRecordsTrigger(_PollingEventTrigger):
    """One event per closed window of call records, for an export of exactly that window.

    Windows are aligned to Unix time: ``[k*window, (k+1)*window)`` seconds since the epoch, UTC (with
    ``window=3600``, the hours). Once ``settle`` seconds have passed after a window's end (late records
    have arrived), the next poll counts its records (one request) and, if it holds any, yields
    ``{"start", "end", "count"}`` (ISO-8601 UTC; ``count`` as the platform counts them then). Empty
    windows yield nothing. A new trigger starts with the windows due from one ``poke_interval`` before it
    started on: no look-back beyond that. A downstream DAG exports the window with
    ``ExportUsageOperator(start=..., end=...)``; windows are aligned and the export replaces its file, so
    a repeated event rewrites the same file.

    :param window: the window's length in whole seconds (default 3600).
    :param settle: seconds to wait after a window ends before counting it (default 300).
    :param acedata_conn_id: the ``acedata`` connection to read with.
    :param application_id: only call records of this application (default: the whole account).
    :param poke_interval: seconds between polls (default 300); a window is announced at the first poll
        after its settle time.
    """

    def __init__(
        self,
        *,
        window: int = 3600,
        settle: float = 300,
        acedata_conn_id: str = "acedata_default",
        application_id: str | None = None,
        poke_interval: float = 300,
    ) -> None:
        super().__init__()
        if isinstance(window, bool) or not isinstance(window, int) or window < 1:
            raise AceDataInputError(f"window must be a whole number of seconds, at least 1, got {window!r}")
        if require_number("settle", settle) < 0:
            raise AceDataInputError(f"settle must be 0 or more seconds, got {settle!r}")
        _check_interval(poke_interval)
        if application_id is not None:
            require_uuid("application_id", application_id)
        self.window = window
        self.settle = settle
        self.acedata_conn_id = acedata_conn_id
        self.application_id = application_id
        self.poke_interval = poke_interval
        self.next_window: int | None = None

    def __repr__(self) -> str:
        scope = f"application {self.application_id}" if self.application_id else "the account"
        return f"NewCallRecordsTrigger({self.window}s windows of {scope})"

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "window": self.window,
                "settle": self.settle,
                "acedata_conn_id": self.acedata_conn_id,
                "application_id": self.application_id,
                "poke_interval": self.poke_interval,
            },
        )

    @property
    def state_key(self) -> str:
        return f"acedata_call_records:{self.acedata_conn_id}:{self.application_id or 'account'}:{self.window}"

    def due(self, number: int) -> float:
        """When window ``number`` may be counted: its end plus ``settle`` (Unix seconds)."""
        return (number + 1) * self.window + float(self.settle)

    def first_window(self, started: float) -> int:
        """The first window a trigger started at ``started`` announces: due after one poll before it started."""
        return math.floor((started - float(self.poke_interval) - float(self.settle)) / self.window)

    async def start(self) -> None:
        kept = await self.load_state()
        if isinstance(kept, dict) and isinstance(kept.get("next_window"), int):
            self.next_window = kept["next_window"]
        else:
            self.next_window = self.first_window(time.time())

    async def poll(self, hook: AceDataHook) -> AsyncIterator[dict[str, Any]]:
        from airflow_provider_acedata.queries import usage_query

        now = time.time()
        number = self.next_window if self.next_window is not None else self.first_window(now)
        oldest = math.floor((now - float(self.settle)) / self.window) - MAX_CATCH_UP
        if number < oldest:
            self.log.warning("%s: skipping %d windows older than %d windows", self, oldest - number, MAX_CATCH_UP)
            number = oldest
        while self.due(number) <= now:
            start, end = number * self.window, (number + 1) * self.window
            query = usage_query(
                created_at_from=datetime.fromtimestamp(start, UTC),
                created_at_to=datetime.fromtimestamp(end, UTC),
                application_id=self.application_id,
            )
            count = await hook.acount_records(query)
            self.next_window = number + 1
            await self.save_state({"next_window": self.next_window})
            if count:
                self.log.info("%s: %d call records in [%s, %s)", self, count, utc_iso(start), utc_iso(end))
                yield {"start": utc_iso(start), "end": utc_iso(end), "count": count}
            number += 1


def _check_interval(poke_interval: object) -> None:
    if require_number("poke_interval", poke_interval) <= 0:
        raise AceDataInputError(f"poke_interval must be more than 0 seconds, got {poke_interval!r}")


def call_record_windows(events: Any) -> list[dict[str, str]]:
    """The windows ``[start, end)`` that asset events from a ``NewCallRecordsTrigger`` announce, oldest first.

    For a DAG scheduled on the watched asset: the scheduler may start one run for several events that
    arrived close together, so map the export over this (one file per window)::

        @task
        def windows(*, triggering_asset_events=None):
            return call_record_windows(triggering_asset_events[CALL_RECORDS])

        ExportUsageOperator.partial(task_id="export", destination=...).expand_kwargs(windows())

    ``events`` is a list of asset events (or of their ``extra`` dicts); each window appears once.
    """
    seen: dict[tuple[str, str], dict[str, str]] = {}
    for event in events or []:
        extra = event if isinstance(event, dict) else getattr(event, "extra", None)
        payload = extra.get("payload", extra) if isinstance(extra, dict) else None
        if isinstance(payload, dict) and isinstance(payload.get("start"), str) and isinstance(payload.get("end"), str):
            seen[(payload["start"], payload["end"])] = {"start": payload["start"], "end": payload["end"]}
    return [seen[key] for key in sorted(seen)]
