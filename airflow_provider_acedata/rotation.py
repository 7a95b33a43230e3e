"""The platform-token rotation protocol: lease, identify, create, test, store, finish.

Modelled on AWS Secrets Manager's rotation. The old token is revoked only after the new one was tested
and stored; a failure at any step leaves a working token in the store; whatever a failed or killed run
leaves alive is tagged, and the next run's finish revokes it.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_acedata.exceptions import AceDataError
from airflow_provider_acedata.hooks.acedata import AceDataHook
from airflow_provider_acedata.lease import RotationLease, created_at, revoke_marked
from airflow_provider_acedata.masking import fingerprint, mask
from airflow_provider_acedata.token_stores import TokenStore

STEPS = ("leased", "identified", "created", "tested", "stored", "finished")


class RotationError(AceDataError):
    """The rotation stopped; the message says which tokens are alive and which one the store holds."""


@dataclass
class RotationResult:
    """What a rotation did, by token id (never a token)."""

    new_token_id: str
    previous_token_id: str
    revoked_token_ids: list[str] = field(default_factory=list)
    kept_token_ids: list[str] = field(default_factory=list)


def rotation_tag(conn_id: str) -> str:
    """The tag of the tokens a rotation of ``conn_id`` creates."""
    return f"airflow-rotation:{conn_id}"


class TokenRotation:
    """Rotate the platform token of one ``acedata`` connection into a :class:`TokenStore`.

    :param checkpoint: called with each step's name as it completes (see ``STEPS``); tests use it to
        crash or interleave runs between steps.
    """

    def __init__(
        self,
        *,
        conn_id: str,
        token_store: TokenStore,
        keep_previous: int = 0,
        tag: str | None = None,
        lease_ttl: float = 600.0,
        lease_wait: float = 300.0,
        lease_poll: float = 2.0,
        metadata: dict[str, Any] | None = None,
        log: Any = None,
        checkpoint: Callable[[str], None] | None = None,
    ) -> None:
        self.conn_id = conn_id
        self.store = token_store
        self.keep_previous = keep_previous
        self.tag = tag or rotation_tag(conn_id)
        self.metadata = metadata or {}
        self.log = log
        self._checkpoint = checkpoint or (lambda step: None)
        self.lease = RotationLease(
            self._hook,
            tag=f"{self.tag}:lock",
            ttl=lease_ttl,
            wait=lease_wait,
            poll=lease_poll,
            metadata={**self.metadata, "conn_id": conn_id},
        )

    def _hook(self, token: str | None = None) -> AceDataHook:
        """A hook on the connection as stored now (or bound to ``token``)."""
        return AceDataHook(self.conn_id, token=token)

    def _info(self, message: str, *args: Any) -> None:
        if self.log is not None:
            self.log.info(message, *args)

    def run(self) -> RotationResult:
        self.lease.acquire()
        self._info("Rotation lease taken (lock token %s)", self.lease.token_id)
        self._checkpoint("leased")
        release_with: AceDataHook | None = None
        try:
            current = self._hook()
            user_id = current.user_id
            old = self._identify(current)
            self._info("Current token %s (%s) of user %s", old["id"], fingerprint(current.token), user_id)
            self._checkpoint("identified")

            new = self._create(current, old)
            self._info("Created token %s (%s)", new["id"], fingerprint(new["token"]))
            self._checkpoint("created")

            fresh = self._hook(token=new["token"])
            fresh.user_id = user_id
            try:
                self.lease.check()
                self._test(fresh, new, user_id)
                self._info("Tested token %s: it authenticates as user %s", new["id"], user_id)
                self._checkpoint("tested")
                self.lease.check()
            except Exception as error:
                outcome = "revoked" if self._revoke_quietly(current, str(new["id"])) else "left for the next rotation"
                raise RotationError(
                    f"Stopped before storing the new token {new['id']} ({error}); it was {outcome}; the stored "
                    "token is unchanged and still works"
                ) from error
            self._store(new, cleanup=current)
            release_with = fresh
            self._info("Stored token %s in %r", new["id"], self.store)
            self._checkpoint("stored")

            self.lease.check()
            if not self._connection_reads(new["token"]):
                spared = self._finish(fresh, old, new, spare=str(old["id"]))
                raise RotationError(
                    f"{self.store!r} now holds the new token {new['id']}, but connection {self.conn_id!r} still "
                    "reads the old one, so the store is not where its token comes from (VariableTokenStore needs "
                    "the connection extra rotation_variable set to its key; AirflowConnectionTokenStore needs the "
                    "connection in the metadata database, not in an AIRFLOW_CONN_ variable or a secrets backend). "
                    f"Both tokens stay alive; older ones were revoked: {spared.revoked_token_ids}"
                )
            result = self._finish(fresh, old, new)
            self._info(
                "Revoked %d previous token(s) %s; kept %s",
                len(result.revoked_token_ids),
                result.revoked_token_ids,
                result.kept_token_ids,
            )
            self._checkpoint("finished")
            return result
        finally:
            self.lease.release(release_with)

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
        """Create the new token; if the answer is lost, find it by this run's nonce and revoke it."""
        self.lease.check()
        nonce = secrets.token_hex(8)
        metadata = {**self.metadata, "rotated_from": old["id"], "conn_id": self.conn_id, "rotation_id": nonce}
        try:
            new = hook.create_platform_token(tags=[self.tag], metadata=metadata)
        except AceDataError as error:
            orphans = revoke_marked(hook, tag=self.tag, key="rotation_id", value=nonce)
            raise RotationError(
                f"Creating the new token failed ({error}); the stored token is unchanged"
                + (f"; the token the platform created anyway ({', '.join(orphans)}) was revoked" if orphans else "")
            ) from error
        mask(new["token"])
        return new

    @staticmethod
    def _test(fresh: AceDataHook, new: dict[str, Any], user_id: str) -> None:
        """The new token must authenticate as the same user before anything relies on it."""
        seen = str(fresh.get_current_user().get("id"))
        if seen != user_id:
            raise RotationError(f"the new token {new['id']} authenticates as {seen}, not {user_id}")

    def _store(self, new: dict[str, Any], *, cleanup: AceDataHook) -> None:
        """Save the new token; if saving fails, find out whether it was written before deciding anything."""
        try:
            self.store.save(new["token"])
            return
        except Exception as error:
            held = self.store.holds(new["token"])
            if held is True:
                self._info("The store raised (%s) but holds the new token; carrying on", type(error).__name__)
                return
            if held is False:
                revoked = self._revoke_quietly(cleanup, str(new["id"]))
                outcome = "revoked" if revoked else "left for the next rotation to revoke"
                raise RotationError(
                    f"Storing the new token failed ({type(error).__name__}: {error}); the store still holds the "
                    f"old token, which keeps working; the new token {new['id']} was {outcome}"
                ) from error
            raise RotationError(
                f"Storing the new token failed ({type(error).__name__}: {error}) and the store cannot say what it "
                f"holds; both the old and the new token {new['id']} stay alive so nobody is locked out; the next "
                "rotation revokes whichever is not stored"
            ) from error

    def _connection_reads(self, token: str) -> bool:
        """Whether the connection, read afresh, now yields ``token``: the store must feed the connection."""
        return hmac.compare_digest(self._hook().token.encode(), token.encode())

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
        return RotationResult(
            new_token_id=new_id, previous_token_id=old_id, revoked_token_ids=revoked, kept_token_ids=kept
        )

    @staticmethod
    def _revoke_quietly(hook: AceDataHook, token_id: str) -> bool:
        try:
            hook.delete_platform_token(token_id)
        except AceDataError:
            return False
        return True
