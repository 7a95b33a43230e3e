"""Shared task reads: every ``ApiTaskTrigger`` of one triggerer waiting on one connection and service, read together.

The gateway answers 429 to more than about one task read a second, so a fan-out of a thousand prompts cannot
read each task on its own. A :class:`TaskReads` per (event loop, connection, service) gathers the waits into
slots of at most 100 task ids, and reads each slot with one ``retrieve_batch`` every interval: N waits cost
about ceil(N/100) reads per interval. Slots keep their own phase, so their reads spread over the interval
instead of arriving together.

A 429 pauses every slot of the reader (``Retry-After`` honoured, capped by the connection's
``max_retry_wait``; exponential backoff from ``retry_delay`` without one), and after the pause the slots
resume one at a time. Other transient failures (no answer, 5xx) back the failed slot off; after more than
``retry_limit`` in a row its waits end with the error. A wait never waits on a read: its trigger keeps its
own deadline. The reader's HTTP client is closed as soon as its last wait leaves, cancelled or not.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from airflow_provider_acedata.exceptions import (
    AceDataError,
    AceDataRateLimitError,
    AceDataServerError,
    AceDataTransportError,
)
from airflow_provider_acedata.gateway import task_status
from airflow_provider_acedata.validation import MAX_BATCH_IDS

if TYPE_CHECKING:
    from airflow_provider_acedata.hooks.api import AceDataApiHook

log = logging.getLogger(__name__)

MISSING_READS: Final = 3
"""Reads in a row that may leave a task out before its wait ends: the gateway does not know the task."""
RESUME_GAP: Final = 1.0
"""Seconds between the slots' first reads after a 429 pause (the gateway allows about one read a second)."""
MAX_BACKOFF: Final = 60.0


class TaskUnknownError(AceDataError):
    """The service's task reads do not list the task (wrong service, another account's task, or no such task)."""


@dataclass(eq=False)
class TaskWait:
    """One trigger waiting for one gateway task; ``result`` resolves to its finished task record."""

    task_id: str
    interval: float
    result: asyncio.Future[dict[str, Any]]
    slot: Slot | None = None


@dataclass(eq=False)
class Slot:
    """Up to 100 task ids read together every ``interval`` seconds, at their own phase."""

    interval: float
    next_read: float
    waits: dict[str, list[TaskWait]] = field(default_factory=dict)
    missing: dict[str, int] = field(default_factory=dict)
    reading: bool = False

    @property
    def full(self) -> bool:
        return len(self.waits) >= MAX_BATCH_IDS


class TaskReads:
    """The shared reader of one connection and service in one event loop; get it with :func:`shared_reads`."""

    def __init__(self, conn_id: str, service: str, key: tuple[int, str, str]) -> None:
        self.conn_id = conn_id
        self.service = service
        self._key = key
        self._hook: AceDataApiHook | None = None
        self._slots: list[Slot] = []
        self._changed = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._reads: set[asyncio.Task[None]] = set()
        self._paused_until = 0.0
        self._failures = 0
        self._throttled = 0
        self._registered = 0
        self._stopping = False
        self.closed = asyncio.Event()
        """Set once the reader has stopped and closed its HTTP client."""
        self.reads = 0
        """``retrieve_batch`` requests sent (answered or not)."""

    def __repr__(self) -> str:
        return f"TaskReads(conn_id={self.conn_id!r}, service={self.service!r}, waits={self.size})"

    @property
    def size(self) -> int:
        """Waits registered now."""
        return sum(len(waits) for slot in self._slots for waits in slot.waits.values())

    @property
    def slots(self) -> int:
        """Slots now, i.e. reads per interval when every wait has the same interval."""
        return len(self._slots)

    # -- waits ----------------------------------------------------------------------------------------

    def add(self, task_id: str, interval: float) -> TaskWait:
        """Register a wait for ``task_id``, read at least every ``interval`` seconds, first one interval on."""
        if self._stopping:
            raise RuntimeError(f"{self!r} has stopped; get the current reader with reader()")
        loop = asyncio.get_running_loop()
        wait = TaskWait(task_id, interval, loop.create_future())
        slot = self._slot_for(task_id, interval, loop.time())
        slot.waits.setdefault(task_id, []).append(wait)
        wait.slot = slot
        self._registered += 1
        if self._runner is None:
            self._runner = loop.create_task(self._run(), name=f"acedata-task-reads-{self.service}")
        self._changed.set()
        return wait

    def remove(self, wait: TaskWait) -> None:
        """Forget a wait (done, timed out or cancelled); the last one to leave stops the reader and closes it."""
        slot, wait.slot = wait.slot, None
        if slot is not None and wait in slot.waits.get(wait.task_id, []):
            slot.waits[wait.task_id].remove(wait)
            if not slot.waits[wait.task_id]:
                del slot.waits[wait.task_id]
                slot.missing.pop(wait.task_id, None)
            if not slot.waits and slot in self._slots:
                self._slots.remove(slot)
        if not wait.result.done():
            wait.result.cancel()
        self._registered -= 1
        if self._registered <= 0:
            self._stopping = True
            if _READERS.get(self._key) is self:
                del _READERS[self._key]
        self._changed.set()

    def _slot_for(self, task_id: str, interval: float, now: float) -> Slot:
        """The slot a new wait joins: one already reading its task, else a non-full one read at least as
        often (the slowest of those, then the soonest read), else a new slot read first one interval on."""
        for slot in self._slots:
            if task_id in slot.waits and slot.interval <= interval:
                return slot
        fitting = [slot for slot in self._slots if not slot.full and slot.interval <= interval]
        if fitting:
            return min(fitting, key=lambda slot: (-slot.interval, slot.next_read))
        slot = Slot(interval=interval, next_read=now + interval)
        self._slots.append(slot)
        return slot

    # -- the read loop --------------------------------------------------------------------------------

    async def _run(self) -> None:
        """Start each slot's read when it is due (never two at once for a slot) until no wait is left."""
        from airflow_provider_acedata.hooks.api import AceDataApiHook

        loop = asyncio.get_running_loop()
        self._hook = AceDataApiHook(self.conn_id)
        try:
            while not self._stopping:
                self._changed.clear()
                now = loop.time()
                due = [slot for slot in self._slots if not slot.reading and slot.next_read <= now]
                if due and now >= self._paused_until:
                    for slot in due:
                        slot.reading = True
                        read = loop.create_task(self._read(slot))
                        self._reads.add(read)
                        read.add_done_callback(self._reads.discard)
                    continue
                idle = [slot.next_read for slot in self._slots if not slot.reading]
                wake = max(min(idle), self._paused_until) if idle else None
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), None if wake is None else max(wake - now, 0.0))
        except Exception as error:
            log.exception("The shared task reader of %s stopped", self.service)
            for slot in list(self._slots):
                self._fail(slot, list(slot.waits), AceDataError(f"the shared task reader stopped: {error}"))
        finally:
            self._stopping = True
            if _READERS.get(self._key) is self:
                del _READERS[self._key]
            for read in list(self._reads):
                read.cancel()
            if self._reads:
                await asyncio.gather(*self._reads, return_exceptions=True)
            try:
                await self._hook.aclose()
            finally:
                self.closed.set()

    async def _read(self, slot: Slot) -> None:
        """One ``retrieve_batch`` of a slot: hand each finished task to its waits, schedule the next read."""
        assert self._hook is not None
        loop = asyncio.get_running_loop()
        started = loop.time()
        ids = list(slot.waits)[:MAX_BATCH_IDS]
        try:
            if not ids:
                return
            self.reads += 1
            try:
                records = await self._hook.aretrieve_batch(self.service, ids, retry=False)
            except AceDataRateLimitError as error:
                self._pause(error)
                return
            except (AceDataTransportError, AceDataServerError) as error:
                self._failures += 1
                limit = self._hook.settings.retry_limit
                if self._failures > limit:
                    log.warning("Task reads of %s failed %d times in a row: %s", self.service, self._failures, error)
                    self._fail(slot, ids, error)
                else:
                    delay = self._backoff(self._failures)
                    log.warning("Task read of %s failed (%s); retry %d of %d in %.1fs", self.service, error,
                                self._failures, limit, delay)  # fmt: skip
                    slot.next_read = loop.time() + delay
                return
            except AceDataError as error:
                self._fail(slot, ids, error)
                return
            self._failures = 0
            self._throttled = 0
            self._deliver(slot, ids, records)
            slot.next_read = max(started + slot.interval, loop.time())
            self._merge(slot)
        except Exception as error:
            # Anything unexpected (a bug, a connection that cannot be read) ends the slot's waits with it.
            self._fail(slot, ids, error)
        finally:
            slot.reading = False
            self._changed.set()

    def _deliver(self, slot: Slot, ids: list[str], records: list[dict[str, Any]]) -> None:
        by_id: dict[str, dict[str, Any]] = {}
        for answered in records:
            record_id = answered.get("id") or answered.get("task_id")
            if record_id is not None:
                by_id[str(record_id)] = answered
        for task_id in ids:
            waits = slot.waits.get(task_id)
            if not waits:
                continue
            record = by_id.get(task_id)
            if record is None:
                slot.missing[task_id] = slot.missing.get(task_id, 0) + 1
                if slot.missing[task_id] >= MISSING_READS:
                    error = TaskUnknownError(
                        f"/{self.service}/tasks did not list task {task_id} in {MISSING_READS} reads in a row: the "
                        f"gateway does not know it for this API key (another service or account, or no such task)"
                    )
                    self._fail(slot, [task_id], error)
                continue
            slot.missing.pop(task_id, None)
            if task_status(record):
                for wait in slot.waits.pop(task_id):
                    wait.slot = None
                    if not wait.result.done():
                        wait.result.set_result(record)
        if not slot.waits and slot in self._slots:
            self._slots.remove(slot)

    def _fail(self, slot: Slot, ids: list[str], error: BaseException) -> None:
        for task_id in ids:
            for wait in slot.waits.pop(task_id, []):
                wait.slot = None
                if not wait.result.done():
                    wait.result.set_exception(error)
            slot.missing.pop(task_id, None)
        if not slot.waits and slot in self._slots:
            self._slots.remove(slot)

    def _merge(self, slot: Slot) -> None:
        """Fold a slot that shrank into another of the same interval with room for it (fewer reads).

        Only into one read no later than this slot would be: a merged wait is never read less often.
        """
        if slot not in self._slots or len(slot.waits) > MAX_BATCH_IDS // 2:
            return
        for other in self._slots:
            fits = len(other.waits) + len(slot.waits) <= MAX_BATCH_IDS and other.next_read <= slot.next_read
            if other is not slot and other.interval == slot.interval and not other.reading and fits:
                for task_id, waits in slot.waits.items():
                    other.waits.setdefault(task_id, []).extend(waits)
                    for wait in waits:
                        wait.slot = other
                other.missing.update(slot.missing)
                self._slots.remove(slot)
                return

    def _pause(self, error: AceDataRateLimitError) -> None:
        """Back every slot off after a 429: until ``Retry-After`` (capped), then resume them one by one."""
        assert self._hook is not None
        self._throttled += 1
        cap = self._hook.settings.max_retry_wait
        wait = error.retry_after if error.retry_after is not None else self._backoff(self._throttled)
        wait = min(max(wait, 0.0), cap)
        now = asyncio.get_running_loop().time()
        self._paused_until = max(self._paused_until, now + wait)
        log.warning(
            "The gateway rate-limited task reads of %s (429, Retry-After %s); all %d waits pause %.1fs",
            self.service,
            error.retry_after,
            self.size,
            wait,
        )
        for index, slot in enumerate(sorted(self._slots, key=lambda slot: slot.next_read)):
            slot.next_read = max(slot.next_read, self._paused_until + index * RESUME_GAP)

    def _backoff(self, attempt: int) -> float:
        assert self._hook is not None
        delay = min(self._hook.settings.retry_delay * 2.0 ** (attempt - 1), MAX_BACKOFF)
        return max(delay + random.uniform(0, delay / 10), 0.0)


_READERS: dict[tuple[int, str, str], TaskReads] = {}


def reader(conn_id: str, service: str) -> TaskReads:
    """The shared reader of ``conn_id`` and ``service`` in the running event loop (made on first use)."""
    key = (id(asyncio.get_running_loop()), conn_id, service)
    found = _READERS.get(key)
    if found is None:
        found = _READERS[key] = TaskReads(conn_id, service, key)
    return found


@contextlib.asynccontextmanager
async def shared_wait(conn_id: str, service: str, task_id: str, interval: float) -> AsyncIterator[TaskWait]:
    """Register a wait for ``task_id`` with the shared reader for as long as the block runs."""
    reads = reader(conn_id, service)
    wait = reads.add(task_id, interval)
    try:
        yield wait
    finally:
        reads.remove(wait)
