"""A lease recorded on the platform itself, so rotations of one connection never overlap.

Tasks of a distributed executor share no memory or disk, and ``airflow tasks test`` or ``dag.test()`` bypass
the scheduler's pools, but every run talks to the same platform. A run takes the lease by creating a
platform token tagged ``<lock tag>``; among the live, unexpired lock tokens the one created first (server
time, then id) holds the lease. Everyone else waits, bounded, and gives up. The holder deletes its lock
token when done; a holder that was killed leaves it behind until it expires (``ttl``), when the next run
deletes it. A holder checks, before each step that changes state, that its own lease has not run out.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow_provider_acedata.exceptions import AceDataAuthenticationError, AceDataError

if TYPE_CHECKING:
    from airflow_provider_acedata.hooks.acedata import AceDataHook


class LeaseError(AceDataError):
    """The rotation lease could not be taken in time, or ran out while held."""


def created_at(token: dict[str, Any]) -> datetime:
    """The server's creation time of a platform token."""
    return datetime.fromisoformat(str(token["created_at"]).replace("Z", "+00:00"))


class RotationLease:
    """Mutual exclusion between rotation runs, kept as a lock-tagged platform token.

    :param hook_factory: builds a hook on the connection as it is stored *now* (a fresh read).
    :param tag: the lock tag; one per rotated connection.
    :param ttl: seconds after which an unreleased lease counts as abandoned.
    :param wait: seconds to wait for another run's lease before giving up.
    :param poll: seconds between checks while waiting.
    """

    SAFETY_MARGIN = 0.2

    def __init__(
        self,
        hook_factory: Callable[..., AceDataHook],
        *,
        tag: str,
        ttl: float,
        wait: float,
        poll: float = 2.0,
        metadata: dict[str, Any] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._hook_factory = hook_factory
        self.tag = tag
        self.ttl = ttl
        self.wait = wait
        self.poll = poll
        self.metadata = metadata or {}
        self._sleep = sleep
        self.token_id: str | None = None
        self._hook: AceDataHook | None = None
        self._created_at: datetime | None = None
        self._acquired_at: float | None = None

    def acquire(self) -> None:
        """Create this run's lock token and wait until it is the oldest live one."""
        record = self._create_lock()
        self.token_id = str(record["id"])
        self._created_at = created_at(record)
        started = time.monotonic()
        self._hook = self._hook_factory(token=record["token"])
        self._hook.user_id = str(record["user_id"])
        while True:
            holder = self._current_holder(time.monotonic() - started)
            if str(holder["id"]) == self.token_id:
                self._acquired_at = started
                return
            waited = time.monotonic() - started
            if waited >= self.wait:
                self.release(self._hook)
                raise LeaseError(
                    f"Another rotation of this connection holds the lease (lock token {holder['id']}, created "
                    f"{holder['created_at']}); gave up after {waited:.0f}s. It expires {self.ttl:g}s after creation."
                )
            self._sleep(min(self.poll, max(self.wait - waited, 0.01)))

    def check(self) -> None:
        """Raise if this run's lease is about to run out, before a step that changes state."""
        if self._acquired_at is None:
            raise LeaseError("The rotation lease is not held")
        left = self.ttl * (1 - self.SAFETY_MARGIN) - (time.monotonic() - self._acquired_at)
        if left <= 0:
            raise LeaseError(f"The rotation lease ran out (ttl {self.ttl:g}s); stopping before changing anything")

    def release(self, hook: AceDataHook | None = None) -> None:
        """Delete this run's lock token; if that fails it expires on its own."""
        if self.token_id is None:
            return
        for candidate in (hook, self._hook):
            if candidate is None:
                continue
            try:
                candidate.delete_platform_token(self.token_id)
            except AceDataError:
                continue
            self.token_id = None
            self._acquired_at = None
            return

    def _create_lock(self) -> dict[str, Any]:
        try:
            return self._hook_factory().create_platform_token(tags=[self.tag], metadata=self._lock_metadata())
        except AceDataAuthenticationError:
            # The token read a moment ago may have just been rotated by another run: read it again.
            return self._hook_factory().create_platform_token(tags=[self.tag], metadata=self._lock_metadata())

    def _lock_metadata(self) -> dict[str, Any]:
        return {**self.metadata, "purpose": "rotation-lease", "ttl_seconds": self.ttl}

    def _current_holder(self, elapsed: float) -> dict[str, Any]:
        """The oldest unexpired lock token; expired ones are deleted on the way."""
        assert self._hook is not None and self._created_at is not None
        now = self._created_at + timedelta(seconds=elapsed)
        live = []
        for lock in self._hook.iter_platform_tokens(tag=self.tag):
            if self.tag not in (lock.get("tags") or []):
                continue
            if str(lock["id"]) != self.token_id and created_at(lock) + timedelta(seconds=self.ttl) < now:
                self._hook.delete_platform_token(str(lock["id"]))
                continue
            live.append(lock)
        if not any(str(lock["id"]) == self.token_id for lock in live):
            raise LeaseError(f"This run's lock token {self.token_id} is gone; another run took it for expired")
        return min(live, key=lambda lock: (created_at(lock), str(lock["id"])))
