"""A lock recorded on the platform itself, for what the platform does not make unique or exclusive.

Tasks of a distributed executor share no memory or disk, and ``airflow tasks test`` or ``dag.test()`` bypass
the scheduler's pools, but every run talks to the same platform. A run takes the lock by creating a
platform token tagged with the lock's tag; among the live, unexpired lock tokens the one created first
(server time, then id) holds the lock. A run that is not the holder deletes its own lock token and waits,
listing the locks, until the holder is gone, then tries again; it gives up after ``wait`` seconds. The
holder deletes its lock token when done; a holder that was killed leaves it behind until it expires
(``ttl`` after creation, judged in the platform's clock), when the next run deletes it. The holder checks,
before each step that changes state, that its lock has not run out.

Rotations use it as their lease; ``CreateCredentialOperator`` uses it so that concurrent runs create one key.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any

from airflow_provider_acedata.exceptions import AceDataAuthenticationError, AceDataError
from airflow_provider_acedata.records import created_at

if TYPE_CHECKING:
    from airflow_provider_acedata.hooks.acedata import AceDataHook


class LockError(AceDataError):
    """The platform lock could not be taken in time, or ran out while held."""


LOCK_TAG_PREFIX = "airflow-lock:"


def lock_tag(kind: str, *parts: str) -> str:
    """A lock tag for ``kind`` and the identity ``parts`` (hashed: names may hold any character)."""
    digest = hashlib.sha256("\0".join(parts).encode()).hexdigest()[:24]
    return f"{LOCK_TAG_PREFIX}{kind}:{digest}"


def abandoned_locks(tokens: Iterable[dict[str, Any]], now: datetime) -> list[str]:
    """Ids of :func:`lock_tag` lock tokens past their ttl: left by killed runs, and live secrets until revoked."""
    abandoned = []
    for token in tokens:
        if not any(str(tag).startswith(LOCK_TAG_PREFIX) for tag in token.get("tags") or []):
            continue
        ttl = _lock_ttl(token, -1.0)
        if ttl >= 0 and created_at(token) + timedelta(seconds=ttl) < now:
            abandoned.append(str(token["id"]))
    return abandoned


class UnconfirmedCreate(AceDataError):
    """Creating a platform token failed; any token the platform made anyway (its answer lost) was revoked."""

    def __init__(self, error: AceDataError, revoked: list[str]) -> None:
        super().__init__(str(error))
        self.error = error
        self.revoked = revoked

    def revoked_note(self, what: str) -> str:
        """A clause for a message: which tokens created anyway were revoked (empty when none)."""
        return (
            f"; the {what} the platform created anyway ({', '.join(self.revoked)}) was revoked" if self.revoked else ""
        )


def create_marked(hook: AceDataHook, *, tag: str, metadata: dict[str, Any], key: str) -> dict[str, Any]:
    """Create a platform token tagged ``tag`` that carries a fresh nonce in ``metadata[key]``.

    A create that fails may have lost its answer after the platform made the token, which would then be a
    live secret nobody holds: the tokens carrying this call's nonce are revoked, and ``UnconfirmedCreate``
    names them. A create is never repeated here.
    """
    nonce = secrets.token_hex(8)
    try:
        return hook.create_platform_token(tags=[tag], metadata={**metadata, key: nonce})
    except AceDataError as error:
        raise UnconfirmedCreate(error, revoke_marked(hook, tag=tag, key=key, value=nonce)) from error


def revoke_marked(hook: AceDataHook, *, tag: str, key: str, value: str) -> list[str]:
    """Revoke the tokens tagged ``tag`` whose metadata ``key`` is ``value``: a create whose answer was lost."""
    try:
        marked = [
            str(token["id"])
            for token in hook.iter_platform_tokens(tag=tag)
            if (token.get("metadata") or {}).get(key) == value
        ]
        for token_id in marked:
            hook.delete_platform_token(token_id)
    except AceDataError:
        return []
    return marked


def _lock_ttl(lock: dict[str, Any], default: float) -> float:
    """The ttl its holder declared in the lock's metadata (holders may use different ttls)."""
    try:
        return float((lock.get("metadata") or {}).get("ttl_seconds", default))
    except (TypeError, ValueError):
        return default


class PlatformLock:
    """Mutual exclusion between runs anywhere, kept as a lock-tagged platform token.

    :param hook: a hook on the connection; the lock reads the connection's token afresh when it needs to
        (another run may have rotated it) and shares the hook's HTTP session.
    :param tag: the lock tag: one per thing locked (see :func:`lock_tag`).
    :param ttl: seconds after which an unreleased lock counts as abandoned.
    :param wait: seconds to wait for another run's lock before giving up.
    :param poll: seconds between checks while waiting.
    :param metadata: recorded on the lock token, to tell who holds it.
    :param what: names the lock in messages ("rotation lease", "credential lock").
    """

    SAFETY_MARGIN = 0.2

    def __init__(
        self,
        hook: AceDataHook,
        *,
        tag: str,
        ttl: float,
        wait: float,
        poll: float = 2.0,
        metadata: dict[str, Any] | None = None,
        what: str = "lock",
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._base = hook
        self.tag = tag
        self.ttl = ttl
        self.wait = wait
        self.poll = poll
        self.metadata = metadata or {}
        self.what = what
        self._sleep = sleep
        self.token_id: str | None = None
        self.user_id: str | None = None
        self._own: AceDataHook | None = None
        self._acquired_at: float | None = None
        self._clock: tuple[datetime, float] | None = None

    def __enter__(self) -> PlatformLock:
        self.acquire()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.release()

    def current(self) -> AceDataHook:
        """The base hook, sending the token the connection holds now (another run may have rotated it)."""
        self._base.stored_token()
        return self._base

    def acquire(self) -> None:
        """Take the lock, waiting (bounded) while another run holds it."""
        started = time.monotonic()
        while True:
            record = self._create_lock(fresh=self.user_id is not None)
            self._clock = (created_at(record), time.monotonic())
            self.token_id = str(record["id"])
            self.user_id = self._base.user_id = str(record["user_id"])
            self._own = self._base.with_token(record["token"], user_id=self.user_id)
            holder = self._holder(self._own)
            if holder is not None and str(holder["id"]) == self.token_id:
                self._acquired_at = self._clock[1]
                return
            self.release()
            while True:
                waited = time.monotonic() - started
                if waited >= self.wait:
                    raise LockError(
                        f"Another run holds the {self.what} ({holder and holder['id']}); gave up after "
                        f"{waited:.0f}s. A {self.what} expires {self.ttl:g}s after it was taken."
                    )
                self._sleep(min(self.poll, max(self.wait - waited, 0.01)))
                try:
                    holder = self._holder(self.current())
                except AceDataAuthenticationError:
                    continue  # the holder revoked the token just read: read the stored one again next round
                if holder is None:
                    break

    def check(self) -> None:
        """Raise if this run's lock is about to run out, before a step that changes state."""
        if self._acquired_at is None:
            raise LockError(f"The {self.what} is not held")
        left = self.ttl * (1 - self.SAFETY_MARGIN) - (time.monotonic() - self._acquired_at)
        if left <= 0:
            raise LockError(f"The {self.what} ran out (ttl {self.ttl:g}s); stopping before changing anything")

    def release(self, hook: AceDataHook | None = None) -> None:
        """Delete this run's lock token (with its own token, else ``hook``); if that fails it expires on its own."""
        if self.token_id is None:
            return
        for candidate in (self._own, hook):
            if candidate is None:
                continue
            try:
                candidate.delete_platform_token(self.token_id)
            except AceDataError:
                continue
            break
        self.token_id = None
        self._own = None
        self._acquired_at = None

    def _create_lock(self, *, fresh: bool) -> dict[str, Any]:
        """Create a lock token, with the token read afresh when ``fresh`` or when the one read was just revoked."""
        metadata = {**self.metadata, "purpose": self.what, "ttl_seconds": self.ttl}
        hook = self.current() if fresh else self._base
        try:
            try:
                return create_marked(hook, tag=self.tag, metadata=metadata, key="lease_id")
            except UnconfirmedCreate as failed:
                if not isinstance(failed.error, AceDataAuthenticationError):
                    raise
                # A 401 created nothing: the token read a moment ago was rotated by another run. Read it again.
                return create_marked(self.current(), tag=self.tag, metadata=metadata, key="lease_id")
        except UnconfirmedCreate as failed:
            raise LockError(
                f"Could not take the {self.what} ({failed.error}); nothing was changed"
                + failed.revoked_note("lock token")
            ) from failed.error

    def _holder(self, hook: AceDataHook) -> dict[str, Any] | None:
        """The oldest unexpired lock token, if any; expired ones are deleted on the way."""
        assert self._clock is not None
        anchor, at = self._clock
        now = anchor + timedelta(seconds=time.monotonic() - at)
        live = []
        for lock in hook.iter_platform_tokens(tag=self.tag):
            if self.tag not in (lock.get("tags") or []):
                continue
            if created_at(lock) + timedelta(seconds=_lock_ttl(lock, self.ttl)) < now:
                hook.delete_platform_token(str(lock["id"]))
                continue
            live.append(lock)
        return min(live, key=lambda lock: (created_at(lock), str(lock["id"])), default=None)
