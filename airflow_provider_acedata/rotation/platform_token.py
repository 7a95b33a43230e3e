"""The platform-token rotation: pre-flight, lease, identify, create, test, store, finish.

Modelled on AWS Secrets Manager's rotation. The old token is revoked only after the new one was tested
and stored; a failure at any step leaves a working token in the store; whatever a failed or killed run
leaves alive is tagged, and the next run's finish revokes it.
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING, Any

from airflow_provider_acedata.exceptions import AceDataError
from airflow_provider_acedata.hooks.acedata import AceDataHook
from airflow_provider_acedata.masking import fingerprint, mask
from airflow_provider_acedata.platform_lock import UnconfirmedCreate, abandoned_locks, create_marked
from airflow_provider_acedata.records import created_at
from airflow_provider_acedata.rotation.protocol import STEPS, Rotation, RotationOptions
from airflow_provider_acedata.rotation.report import RotationError, RotationResult

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["STEPS", "PlatformTokenRotation", "rotation_tag"]


def rotation_tag(conn_id: str) -> str:
    """The tag of the tokens a rotation of ``conn_id`` creates."""
    return f"airflow-rotation:{conn_id}"


class PlatformTokenRotation(Rotation):
    """Rotate the platform token of one ``acedata`` connection into a :class:`TokenStore` that feeds it.

    The store is bound to the rotated connection (:meth:`TokenStore.for_connection`); a store that
    would not feed the connection fails the pre-flight, before anything changed.

    :param keep_previous: how many previous tokens stay alive as a grace window.
    :param tag: the tag of the tokens this rotation creates (default :func:`rotation_tag`).
    :param options: the connection, the store and the frame's options (:class:`Rotation`).
    """

    what = "platform token"

    def __init__(self, *, keep_previous: int = 0, tag: str | None = None, **options: Unpack[RotationOptions]) -> None:
        conn_id = options["conn_id"]
        self.keep_previous = keep_previous
        self.tag = tag or rotation_tag(conn_id)
        options["token_store"] = options["token_store"].for_connection(conn_id)
        super().__init__(lease_tag=f"{self.tag}:lock", identity={"conn_id": conn_id}, **options)
        self._fresh: AceDataHook | None = None

    def preflight(self) -> None:
        """The store's own setup, and that the connection reads its token from where the store writes it."""
        super().preflight()
        if reason := self.store.mismatch(self.hook):
            raise RotationError(f"Cannot rotate connection {self.conn_id!r}: {reason}. Nothing was changed.")

    def release_with(self) -> AceDataHook | None:
        return self._fresh

    def rotate(self) -> RotationResult:
        current = self.lease.current()  # the run that held the lease before may have rotated the token
        old = self._identify(current)
        self.log.info("Current token %s (%s) of user %s", old["id"], fingerprint(current.token), current.user_id)
        self._step("identified")

        new = self._create(current, old)
        self.log.info("Created token %s (%s)", new["id"], fingerprint(new["token"]))
        self._step("created")

        fresh = self.hook.with_token(new["token"], user_id=current.user_id)
        self._test(fresh, current, new)
        self._step("tested")

        self.store_new(
            new["token"], new_id=str(new["id"]), revoke_new=lambda: self._revoke_new(current, str(new["id"]))
        )
        self._fresh = fresh
        self.log.info("Stored token %s in %r", new["id"], self.store)
        self._step("stored")

        self.lease.check()
        if not self.store.verifies(self.hook) and not self._connection_reads(new["token"]):
            spared = self._finish(fresh, old, new, spare=str(old["id"]))
            raise RotationError(
                f"{self.store!r} now holds the new token {new['id']}, but connection {self.conn_id!r} still "
                "reads the old one, so the store is not where its token comes from (VariableTokenStore needs "
                "the connection extra rotation_variable set to its key; AirflowConnectionTokenStore needs the "
                "connection in the metadata database, not in an AIRFLOW_CONN_ variable or a secrets backend). "
                f"Both tokens stay alive; older ones were revoked: {spared.revoked_ids}"
            )
        result = self._finish(fresh, old, new)
        self._step("finished")
        return result

    def _identify(self, hook: AceDataHook) -> dict[str, Any]:
        """Find the stored token's own record (the hook compares token values in constant time)."""
        record = hook.find_platform_token(hook.token)
        if record is not None:
            return record
        raise RotationError(
            f"The token of connection {self.conn_id!r} is not one of this account's platform tokens (a user "
            "JWT cannot be rotated); nothing was changed"
        )

    def _create(self, hook: AceDataHook, old: dict[str, Any]) -> dict[str, Any]:
        """Create the new token; if the answer is lost, the one the platform made anyway is revoked."""
        self.lease.check()
        metadata = {**self.metadata, "rotated_from": old["id"]}
        try:
            new = create_marked(hook, tag=self.tag, metadata=metadata, key="rotation_id")
        except UnconfirmedCreate as failed:
            raise RotationError(
                f"Creating the new token failed ({failed.error}); the stored token is unchanged"
                + failed.revoked_note("token")
            ) from failed.error
        mask(new["token"])
        return new

    def _test(self, fresh: AceDataHook, current: AceDataHook, new: dict[str, Any]) -> None:
        """The new token must authenticate as the same user before anything relies on it."""
        try:
            self.lease.check()
            seen = str(fresh.get_current_user().get("id"))
            if seen != current.user_id:
                raise RotationError(f"the new token {new['id']} authenticates as {seen}, not {current.user_id}")
            self.log.info("Tested token %s: it authenticates as user %s", new["id"], current.user_id)
            self.lease.check()
        except Exception as error:
            outcome = self._revoke_new(current, str(new["id"]))
            raise RotationError(
                f"Stopped before storing the new token {new['id']} ({error}); it was {outcome}; the stored "
                "token is unchanged and still works"
            ) from error

    def _connection_reads(self, token: str) -> bool:
        """Whether the connection, read afresh, now yields ``token``: the store must feed the connection."""
        return hmac.compare_digest(self.hook.stored_token().encode(), token.encode())

    def _finish(
        self, hook: AceDataHook, old: dict[str, Any], new: dict[str, Any], *, spare: str | None = None
    ) -> RotationResult:
        """Revoke the previous tokens beyond the grace window (and ``spare``), never the new one nor newer ones."""
        new_id, old_id = str(new["id"]), str(old["id"])
        born = created_at(new)
        tokens = {str(t["id"]): t for t in hook.iter_platform_tokens()}
        chain = {old_id}
        for token in tokens.values():
            if self.tag in (token.get("tags") or []):
                chain.add(str(token["id"]))
                rotated_from = (token.get("metadata") or {}).get("rotated_from")
                if rotated_from:
                    chain.add(str(rotated_from))
        previous = [
            tokens[token_id]
            for token_id in chain
            if token_id in tokens and token_id != new_id and created_at(tokens[token_id]) < born
        ]
        previous.sort(key=lambda t: (str(t["id"]) != old_id, -created_at(t).timestamp()))
        previous = [t for t in previous if str(t["id"]) != spare]
        kept = [str(t["id"]) for t in previous[: self.keep_previous]]
        revoked = []
        for token in previous[self.keep_previous :]:
            hook.delete_platform_token(str(token["id"]))
            revoked.append(str(token["id"]))
        if swept := abandoned_locks(tokens.values(), now=born):
            for token_id in swept:
                hook.delete_platform_token(token_id)
            self.log.info("Revoked %d lock token(s) abandoned by killed runs: %s", len(swept), swept)
        return RotationResult(new_id=new_id, previous_id=old_id, revoked_ids=revoked, kept_ids=kept)

    @staticmethod
    def _revoke_new(hook: AceDataHook, token_id: str) -> str:
        """Revoke a new token that will not be used; say what happened to it."""
        try:
            hook.delete_platform_token(token_id)
        except AceDataError:
            return "left for the next rotation to revoke"
        return "revoked"
