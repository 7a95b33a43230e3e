"""The API-key rotation: pre-flight, lease, identify, create, test, store, finish.

The old key is deleted only after the new one was read back and stored. A replacement carries metadata
``rotated_from``, so a rerun after a crash finds the one an earlier attempt stored and finishes, and
deletes one known not to be stored.
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING, Any

from airflow_provider_acedata.exceptions import AceDataApiError, AceDataError, AceDataNotFoundError
from airflow_provider_acedata.hooks.acedata import ROTATE_UNSUPPORTED_STATUSES
from airflow_provider_acedata.masking import fingerprint, mask
from airflow_provider_acedata.platform_lock import lock_tag
from airflow_provider_acedata.rotation.protocol import Rotation, RotationOptions
from airflow_provider_acedata.rotation.report import RotationError, RotationResult
from airflow_provider_acedata.token_stores import Holding

if TYPE_CHECKING:
    from typing_extensions import Unpack

STRATEGIES = ("replace", "rotate")
COPIED_FIELDS = ("host", "allowed_api_ids", "tags")
ROTATED_FROM = "rotated_from"
"""Metadata key naming the credential a replacement was created for (finds it again after a crash)."""


def credential_token(credential: dict[str, Any]) -> str:
    """The key of a credential, masked; an error for a credential without one."""
    token = credential.get("token")
    if not isinstance(token, str) or not token:
        raise AceDataError(f"Credential {credential.get('id')} has no token (an Identity credential?)")
    mask(token)
    return token


class CredentialRotation(Rotation):
    """Replace (or rotate in place) one API key, store the new key, and only then delete the old one.

    :param strategy: ``"replace"`` creates a new key like the old one, so the old one works until the new
        one is stored; ``"rotate"`` uses the platform's in-place rotate (same id, old key dead at once),
        falling back to ``replace`` where the platform lacks the route.
    :param options: the connection, the store and the frame's options (:class:`Rotation`).
    """

    what = "API key"

    def __init__(self, *, credential_id: str, strategy: str = "replace", **options: Unpack[RotationOptions]) -> None:
        self.credential_id = credential_id
        self.strategy = strategy
        self.application_id: str | None = None
        lease_tag = lock_tag("credential-rotation", credential_id)
        super().__init__(lease_tag=lease_tag, identity={"credential_id": credential_id}, **options)

    def rotate(self) -> RotationResult:
        try:
            old = self._identify()
        except AceDataNotFoundError as gone:
            return self._finished_earlier(gone)
        self._step("identified")

        if self.strategy == "rotate" and (rotated := self._rotate_in_place()) is not None:
            return RotationResult(new_id=str(rotated["id"]), previous_id=self.credential_id)

        new = self._stored_successor()
        if new is not None:
            self.log.info("An earlier attempt already created and stored %s; finishing", new["id"])
        else:
            new = self._create(old)
            self._step("created")
            self._test(new)
            self._step("tested")
            self.store_new(credential_token(new), new_id=str(new["id"]), revoke_new=lambda: self._delete_new(new))
            self.log.info("Stored the new API key in %r", self.store)
            self._step("stored")
        self._finish(new)
        self._step("finished")
        return RotationResult(new_id=str(new["id"]), previous_id=self.credential_id, revoked_ids=[self.credential_id])

    def _identify(self) -> dict[str, Any]:
        """The key to rotate (``AceDataNotFoundError`` when it is gone)."""
        old = self.hook.get_credential(self.credential_id)
        self.application_id = str(old["application_id"])
        return old

    def _finished_earlier(self, gone: AceDataNotFoundError) -> RotationResult:
        """The key is gone: an earlier attempt that stored its replacement deleted it, or it never existed."""
        successor = self._stored_successor()
        if successor is None:
            raise gone
        self.application_id = str(successor["application_id"])
        self.log.info("API key %s was already replaced by %s and deleted", self.credential_id, successor["id"])
        return RotationResult(
            new_id=str(successor["id"]), previous_id=self.credential_id, revoked_ids=[self.credential_id]
        )

    def _rotate_in_place(self) -> dict[str, Any] | None:
        """Rotate with the platform's route and store the key; None when the route is missing."""
        try:
            rotated = self.hook.rotate_credential(self.credential_id)
        except AceDataApiError as error:
            if error.status_code not in ROTATE_UNSUPPORTED_STATUSES:
                raise
            self.log.warning(
                "The platform has no in-place rotate (HTTP %s); replacing the key instead", error.status_code
            )
            return None
        token = credential_token(rotated)
        self.log.info("Rotated API key %s in place (%s); the old key is dead", self.credential_id, fingerprint(token))
        self._step("created")
        self.store_new(token, new_id=self.credential_id, revoke_new=None)
        self.log.info("Stored the new API key in %r", self.store)
        self._step("stored")
        return rotated

    def _stored_successor(self) -> dict[str, Any] | None:
        """The replacement an earlier attempt created and stored; deletes replacements known not stored."""
        found = None
        for candidate in self.hook.iter_credentials(application_id=self.application_id):
            if (candidate.get("metadata") or {}).get(ROTATED_FROM) != self.credential_id:
                continue
            token = self.hook.get_credential(str(candidate["id"])).get("token")
            held = self.store.holds(token) if isinstance(token, str) and token else Holding.OTHER
            if held is Holding.THIS:
                found = candidate
            elif held is Holding.OTHER:
                self.log.info("Deleting %s, an unstored replacement left by an earlier attempt", candidate["id"])
                self.hook.delete_credential(str(candidate["id"]))
            else:
                self.log.warning(
                    "%s is a replacement left by an earlier attempt and %r cannot tell whether it holds it; "
                    "it stays alive: delete it once you know it is unused",
                    candidate["id"],
                    self.store,
                )
        return found

    def _create(self, old: dict[str, Any]) -> dict[str, Any]:
        """A new key with the old one's name, cap, expiry, host and allowed APIs, marked as its replacement."""
        self.lease.check()
        fields = {key: old[key] for key in COPIED_FIELDS if old.get(key) not in (None, [], "")}
        metadata = {**(old.get("metadata") or {}), ROTATED_FROM: str(old["id"])}
        new = self.hook.create_credential(
            str(old["application_id"]),
            name=old.get("name") or None,
            limited_amount=old.get("limited_amount"),
            expired_at=old.get("expired_at"),
            metadata=metadata,
            **fields,
        )
        self.log.info("Created API key %s (%s) to replace %s", new["id"], fingerprint(credential_token(new)), old["id"])
        return new

    def _test(self, new: dict[str, Any]) -> None:
        """Read the new key back (no platform route tests a key); on a mismatch delete it and stop."""
        self.lease.check()
        stored = self.hook.get_credential(str(new["id"]))
        if not hmac.compare_digest(credential_token(stored).encode(), credential_token(new).encode()):
            self.hook.delete_credential(str(new["id"]))
            raise RotationError(
                f"The platform returned a different key for the new credential {new['id']}; deleted it. "
                "The old key is unchanged."
            )

    def _finish(self, new: dict[str, Any]) -> None:
        """Delete the old key: the new one is stored, so nobody is left holding a dead key."""
        self.lease.check()
        try:
            self.hook.delete_credential(self.credential_id)
        except AceDataError as error:
            raise RotationError(
                f"The new API key {new['id']} is stored, but deleting the old key {self.credential_id} failed "
                f"({type(error).__name__}); both keys work. Rerun to delete the old key."
            ) from error
        self.log.info("Deleted the old API key %s", self.credential_id)

    def _delete_new(self, new: dict[str, Any]) -> str:
        """Delete a new key that was not stored; say what happened to it."""
        try:
            self.hook.delete_credential(str(new["id"]))
        except AceDataError:
            return "not stored; deleting it failed, a rerun deletes it"
        return "deleted"
