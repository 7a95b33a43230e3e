"""The offline platform's one clock: wall time by default, frozen or moved forward by tests."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime


class ScriptedClock:
    """A clock that runs with real time, jumps forward on ``advance()`` and stands still while frozen.

    Everything time-dependent in the fake reads it: ``created_at`` stamps, scheduled balances, when a
    gateway task starts and finishes, the task-read rate limit. Running (the default), it moves with
    ``time.monotonic()`` from its start, offset by every ``advance()``; frozen, it moves only by
    ``advance()``, so a test decides exactly when each task finishes.
    """

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._epoch = time.time()
        self._origin = time.monotonic()
        self._offset = 0.0
        self._frozen_at: float | None = None

    @property
    def frozen(self) -> bool:
        """Whether the clock moves only by ``advance()``."""
        with self._changed:
            return self._frozen_at is not None

    def monotonic(self) -> float:
        """Seconds on this clock (monotonic, same origin as ``time.monotonic()`` until advanced)."""
        with self._changed:
            base = self._frozen_at if self._frozen_at is not None else time.monotonic()
            return base + self._offset

    def time(self) -> float:
        """This clock as Unix time (seconds since the epoch, float), as gateway task records stamp it."""
        return self._epoch + (self.monotonic() - self._origin)

    def now(self) -> datetime:
        """This clock as an aware UTC datetime."""
        return datetime.fromtimestamp(self.time(), UTC)

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds`` (frozen or not) and wake everything waiting on it."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._changed:
            self._offset += seconds
            self._changed.notify_all()

    def freeze(self) -> None:
        """Stop the clock where it is; from now on only ``advance()`` moves it."""
        with self._changed:
            if self._frozen_at is None:
                self._frozen_at = time.monotonic()

    def resume(self) -> None:
        """Let the clock run with real time again, from where it stands."""
        with self._changed:
            if self._frozen_at is not None:
                self._offset += self._frozen_at - time.monotonic()
                self._frozen_at = None
            self._changed.notify_all()

    def wait_until(self, deadline: float, timeout: float, stop: threading.Event | None = None) -> bool:
        """Block until the clock reaches ``deadline`` (``monotonic()`` seconds); False after ``timeout`` real seconds.

        Wakes on ``advance()``; gives up early (False) when ``stop`` is set.
        """
        give_up = time.monotonic() + timeout
        with self._changed:
            while True:
                remaining = deadline - self.monotonic()
                if remaining <= 0:
                    return True
                left = give_up - time.monotonic()
                if left <= 0 or (stop is not None and stop.is_set()):
                    return False
                step = min(left, 0.1) if self._frozen_at is not None else min(left, remaining, 0.1)
                self._changed.wait(step)
