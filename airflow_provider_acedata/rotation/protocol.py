"""The frame every rotation shares: pre-flight, then its steps under a lease, one rule for a failing store."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypedDict

from airflow_provider_acedata.hooks.acedata import AceDataHook
from airflow_provider_acedata.platform_lock import PlatformLock
from airflow_provider_acedata.rotation.report import RotationError, RotationResult
from airflow_provider_acedata.token_stores import Holding

if TYPE_CHECKING:
    from typing import Required

    from airflow_provider_acedata.token_stores import TokenStore

STEPS = ("leased", "identified", "created", "tested", "stored", "finished")
"""The steps every rotation passes, in order; each is reported to the ``checkpoint`` as it completes."""


class RotationOptions(TypedDict, total=False):
    """What every rotation takes, whatever it rotates (see :class:`Rotation`)."""

    conn_id: Required[str]
    token_store: Required[TokenStore]
    lease_ttl: float
    lease_wait: float
    lease_poll: float
    metadata: dict[str, Any] | None
    log: Any
    checkpoint: Callable[[str], None] | None


class Rotation(ABC):
    """Run a rotation's steps under its lease, and close the hooks it opened.

    :param conn_id: the ``acedata`` connection; its hook family (one HTTP session) is closed at the end.
    :param token_store: where the new secret is written.
    :param lease_tag: the tag of the lease's lock tokens: one per rotated secret.
    :param identity: names the rotated secret in the lease's and the new secret's metadata.
    :param lease_ttl: seconds after which the lease of a killed run counts as abandoned.
    :param lease_wait: seconds to wait for another run's lease before giving up.
    :param lease_poll: seconds between checks while waiting.
    :param metadata: the run's ids (dag, run, task), recorded with the lease and the new secret.
    :param log: where the steps are logged (a logger; default this module's).
    :param checkpoint: called with each step's name as it completes; tests use it to crash or
        interleave runs between steps.
    """

    what = "secret"

    def __init__(
        self,
        *,
        conn_id: str,
        token_store: TokenStore,
        lease_tag: str,
        identity: dict[str, str],
        lease_ttl: float = 600.0,
        lease_wait: float = 300.0,
        lease_poll: float = 2.0,
        metadata: dict[str, Any] | None = None,
        log: Any = None,
        checkpoint: Callable[[str], None] | None = None,
    ) -> None:
        self.conn_id = conn_id
        self.hook = AceDataHook(conn_id)
        self.store = token_store
        self.metadata = {**(metadata or {}), **identity}
        self.log = log if log is not None else logging.getLogger(__name__)
        self._checkpoint = checkpoint or (lambda step: None)
        self.lease = PlatformLock(
            self.hook,
            tag=lease_tag,
            ttl=lease_ttl,
            wait=lease_wait,
            poll=lease_poll,
            metadata=self.metadata,
            what="rotation lease",
        )

    def run(self) -> RotationResult:
        """Check the setup, take the lease, rotate, and report; the lease is released whatever happens."""
        try:
            self.preflight()
            self.lease.acquire()
            self.log.info("Rotation lease taken (lock token %s)", self.lease.token_id)
            self._step("leased")
            try:
                result = self.rotate()
            finally:
                self.lease.release(self.release_with())
            self.log.info("%s", result.summary(self.what))
            return result
        finally:
            self.hook.close()

    def preflight(self) -> None:
        """Fail on a setup mistake before anything is changed (the default checks the store's own setup)."""
        self.store.preflight()

    @abstractmethod
    def rotate(self) -> RotationResult:
        """The steps, run while the lease is held."""

    def release_with(self) -> AceDataHook | None:
        """A hook that can release the lease if its own lock token cannot."""
        return None

    def store_new(self, secret: str, *, new_id: str, revoke_new: Callable[[], str] | None) -> None:
        """Save the new secret; if saving raises, find out what the store holds before deciding anything.

        Holds the new one: carry on. Holds another: ``revoke_new`` (which says what it did) and stop; None
        when the old secret is already dead (an in-place rotate), so there is nothing to fall back to.
        Cannot tell: keep both alive and stop, so nobody is locked out.
        """
        try:
            self.store.save(secret)
            return
        except Exception as error:
            failure = f"Storing the new {self.what} failed ({type(error).__name__}: {error})"
            held = self.store.holds(secret)
            if held is Holding.THIS:
                self.log.info(
                    "The store raised (%s) but holds the new %s; carrying on", type(error).__name__, self.what
                )
                return
            if revoke_new is None:
                raise RotationError(
                    f"{failure}; the old {self.what} no longer works (it was rotated in place). Rerun: the next "
                    f"attempt rotates {new_id} again and stores that one"
                ) from error
            if held is Holding.OTHER:
                raise RotationError(
                    f"{failure}; the store still holds the old {self.what}, which keeps working; the new "
                    f"{self.what} {new_id} was {revoke_new()}"
                ) from error
            raise RotationError(
                f"{failure} and the store cannot say what it holds; both the old and the new {self.what} {new_id} "
                "stay alive so nobody is locked out; the next rotation revokes whichever is not stored"
            ) from error

    def _step(self, name: str) -> None:
        self._checkpoint(name)
