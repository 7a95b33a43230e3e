"""Operators for API keys (credentials): create one idempotently, rotate one without a gap."""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_provider_acedata.exceptions import (
    AceDataApiError,
    AceDataConflictError,
    AceDataError,
    AceDataNotFoundError,
)
from airflow_provider_acedata.links import APPLICATION_ID_KEY, AceDataApplicationLink
from airflow_provider_acedata.masking import fingerprint, mask
from airflow_provider_acedata.validation import (
    optional_datetime,
    require_choice,
    require_number,
    require_text,
    require_uuid,
)
from airflow_provider_acedata.version_compat import BaseOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_acedata.hooks.acedata import AceDataHook
    from airflow_provider_acedata.token_stores import TokenStore

IF_EXISTS = ("reuse", "fail", "create")
STRATEGIES = ("replace", "rotate")
SUMMARY_KEYS = ("id", "name", "application_id", "limited_amount", "expired_at")
COPIED_FIELDS = ("host", "allowed_api_ids", "tags")
ROTATED_FROM = "rotated_from"
"""Metadata key naming the credential a replacement was created for (finds it again after a crash)."""


class CredentialRotationError(AceDataError):
    """The rotation stopped; the message says which keys are alive and what the store holds."""


def _token(credential: dict[str, Any]) -> str:
    token = credential.get("token")
    if not isinstance(token, str) or not token:
        raise AceDataError(f"Credential {credential.get('id')} has no token (an Identity credential?)")
    mask(token)
    return token


def _summary(credential: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {**{name: credential.get(name) for name in SUMMARY_KEYS}, **extra}


class _CredentialOperator(BaseOperator):
    """Shared plumbing: the hook and the console link of the credential's application."""

    operator_extra_links = (AceDataApplicationLink(),)
    acedata_conn_id: str

    @cached_property
    def hook(self) -> AceDataHook:
        from airflow_provider_acedata.hooks.acedata import AceDataHook

        return AceDataHook(self.acedata_conn_id)


class CreateCredentialOperator(_CredentialOperator):
    """Create (or reuse) a named API key of an application and return its id; never the key itself.

    The key is found by application and name first, so reruns reuse it. With a ``token_store`` the key
    is written there (skipped when the store already holds it); that is the only place it goes. A
    summary without the key is pushed under the XCom key ``credential``, the application id under
    ``application_id``.

    :param application_id: UUID of the application (templated, e.g. ``create_app.output``).
    :param name: the key's name, its identity for reuse (templated).
    :param limited_amount: spending cap in Credits for a new key; None for no cap (templated).
    :param expired_at: ISO-8601 expiry for a new key; None for never (templated).
    :param if_exists: ``"reuse"`` the newest key with this name as it is (cap and expiry unchanged),
        ``"fail"`` if there is one, or ``"create"`` another key with the same name.
    :param token_store: where to write the key, e.g. ``VariableTokenStore("acedata_api_key_x")``.
    :param acedata_conn_id: the ``acedata`` connection to use.
    """

    template_fields: Sequence[str] = (
        "application_id",
        "name",
        "limited_amount",
        "expired_at",
        "if_exists",
        "acedata_conn_id",
    )

    def __init__(
        self,
        *,
        application_id: str,
        name: str,
        limited_amount: float | str | None = None,
        expired_at: str | None = None,
        if_exists: str = "reuse",
        token_store: TokenStore | None = None,
        acedata_conn_id: str = "acedata_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.application_id = application_id
        self.name = name
        self.limited_amount = limited_amount
        self.expired_at = expired_at
        self.if_exists = if_exists
        self.token_store = token_store
        self.acedata_conn_id = acedata_conn_id

    def execute(self, context: Context) -> str:
        application_id = require_uuid("application_id", self.application_id)
        name = require_text("name", self.name)
        limited_amount = (
            None
            if self.limited_amount in (None, "")
            else require_number("limited_amount", self.limited_amount, minimum=0)
        )
        expired_at = optional_datetime("expired_at", self.expired_at)
        if_exists = require_choice("if_exists", self.if_exists, IF_EXISTS)
        context["ti"].xcom_push(key=APPLICATION_ID_KEY, value=application_id)

        credential = None if if_exists == "create" else self.hook.find_credential(application_id, name)
        created = credential is None
        if credential is not None and if_exists == "fail":
            raise AceDataConflictError(
                f"API key {name!r} of application {application_id} already exists ({credential['id']}) "
                "and if_exists='fail'"
            )
        if credential is None:
            credential = self.hook.create_credential(
                application_id, name=name, limited_amount=limited_amount, expired_at=expired_at
            )
        token = _token(credential)
        self.log.info(
            "%s API key %s (%r, %s) of application %s",
            "Created" if created else "Reusing",
            credential["id"],
            name,
            fingerprint(token),
            application_id,
        )
        if self.token_store is not None:
            if self.token_store.holds(token) is True:
                self.log.info("%r already holds this key", self.token_store)
            else:
                self.token_store.save(token)
                self.log.info("Stored the key in %r", self.token_store)
        context["ti"].xcom_push(key="credential", value=_summary(credential, created=created))
        return str(credential["id"])


class RotateCredentialOperator(_CredentialOperator):
    """Replace an API key with a new one, store the new key, and only then invalidate the old one.

    Steps, as for platform tokens: obtain the new key, check it, store it with ``token_store``, then
    invalidate the old key. The platform API has no endpoint that tests an API key (keys authenticate
    against ``api.acedata.cloud``, where every call is a billed service call), so the check is a read-back:
    the platform must return the new key for the new id.

    ``strategy="replace"`` (default) creates a new key on the same application with the same name, cap,
    expiry, host and allowed APIs, stores it, then deletes the old key: the old key keeps working until
    the new one is stored, so callers never hold a dead key, at the price of a new credential id.
    ``strategy="rotate"`` uses the platform's in-place rotate (same id), which kills the old key at once,
    before the new one can be stored; if the platform lacks that route (404/405) it falls back to
    ``replace``.

    Reruns are safe: a replacement is tagged with metadata ``rotated_from``; a rerun after a crash finds
    the one an earlier attempt stored and finishes by deleting the old key, and deletes one that is known
    not to be stored.

    XCom: ``return_value`` is the new credential id, ``revoked_credential_id`` the deleted one (None after
    an in-place rotate), ``application_id`` the application. Keys never go to XCom or the logs.

    :param credential_id: UUID of the key to rotate (templated).
    :param token_store: where the new key is written; it must raise unless the key was durably written.
    :param strategy: ``"replace"`` or ``"rotate"`` (templated).
    :param acedata_conn_id: the ``acedata`` connection to use.
    """

    template_fields: Sequence[str] = ("credential_id", "strategy", "acedata_conn_id")

    def __init__(
        self,
        *,
        credential_id: str,
        token_store: TokenStore,
        strategy: str = "replace",
        acedata_conn_id: str = "acedata_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not callable(getattr(token_store, "save", None)):
            raise TypeError(f"token_store must be a TokenStore, got {token_store!r}")
        self.credential_id = credential_id
        self.token_store = token_store
        self.strategy = strategy
        self.acedata_conn_id = acedata_conn_id

    def execute(self, context: Context) -> str:
        credential_id = require_uuid("credential_id", self.credential_id)
        strategy = require_choice("strategy", self.strategy, STRATEGIES)
        try:
            old = self.hook.get_credential(credential_id)
        except AceDataNotFoundError:
            successor = self._stored_successor(credential_id, application_id=None)
            if successor is None:
                raise
            self.log.info("API key %s was already replaced by %s and deleted", credential_id, successor["id"])
            return self._finish(context, successor, revoked=credential_id)
        application_id = str(old["application_id"])
        context["ti"].xcom_push(key=APPLICATION_ID_KEY, value=application_id)

        if strategy == "rotate":
            rotated = self._rotate_in_place(credential_id)
            if rotated is not None:
                return self._finish(context, rotated, revoked=None)

        new = self._stored_successor(credential_id, application_id=application_id)
        if new is not None:
            self.log.info("An earlier attempt already created and stored %s; finishing", new["id"])
        else:
            new = self._create_replacement(old)
            self._check(new)
            self._store(new, old_id=credential_id)
        try:
            self.hook.delete_credential(credential_id)
        except AceDataError as error:
            raise CredentialRotationError(
                f"The new API key {new['id']} is stored, but deleting the old key {credential_id} failed "
                f"({type(error).__name__}); both keys work. Rerun to delete the old key."
            ) from error
        self.log.info("Deleted the old API key %s", credential_id)
        return self._finish(context, new, revoked=credential_id)

    def _rotate_in_place(self, credential_id: str) -> dict[str, Any] | None:
        """Rotate with the platform's route and store the key; None when the route is missing."""
        from airflow_provider_acedata.hooks.acedata import ROTATE_UNSUPPORTED_STATUSES

        try:
            rotated = self.hook.rotate_credential(credential_id)
        except AceDataApiError as error:
            if error.status_code not in ROTATE_UNSUPPORTED_STATUSES:
                raise
            self.log.warning(
                "The platform has no in-place rotate (HTTP %s); replacing the key instead", error.status_code
            )
            return None
        token = _token(rotated)
        self.log.info("Rotated API key %s in place (%s); the old key is dead", credential_id, fingerprint(token))
        try:
            self.token_store.save(token)
        except Exception as error:
            raise CredentialRotationError(
                f"API key {credential_id} was rotated in place (its old key no longer works), but "
                f"{self.token_store!r} did not confirm the new key ({type(error).__name__}). Rerun: the "
                "next attempt rotates again and stores that key."
            ) from error
        return rotated

    def _stored_successor(self, old_id: str, *, application_id: str | None) -> dict[str, Any] | None:
        """The replacement an earlier attempt created and stored; deletes replacements known not stored."""
        found = None
        for candidate in self.hook.iter_credentials(application_id=application_id):
            if (candidate.get("metadata") or {}).get(ROTATED_FROM) != old_id:
                continue
            token = self.hook.get_credential(str(candidate["id"])).get("token")
            held = self.token_store.holds(token) if isinstance(token, str) and token else False
            if held is True:
                found = candidate
            elif held is False:
                self.log.info("Deleting %s, an unstored replacement left by an earlier attempt", candidate["id"])
                self.hook.delete_credential(str(candidate["id"]))
            else:
                self.log.warning(
                    "%s is a replacement left by an earlier attempt and %r cannot tell whether it holds it; "
                    "it stays alive: delete it once you know it is unused",
                    candidate["id"],
                    self.token_store,
                )
        return found

    def _create_replacement(self, old: dict[str, Any]) -> dict[str, Any]:
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
        self.log.info("Created API key %s (%s) to replace %s", new["id"], fingerprint(_token(new)), old["id"])
        return new

    def _check(self, new: dict[str, Any]) -> None:
        """Read the new key back; on a mismatch delete it (nothing else changed) and stop."""
        stored = self.hook.get_credential(str(new["id"]))
        if not hmac.compare_digest(_token(stored).encode(), _token(new).encode()):
            self.hook.delete_credential(str(new["id"]))
            raise CredentialRotationError(
                f"The platform returned a different key for the new credential {new['id']}; deleted it. "
                "The old key is unchanged."
            )

    def _store(self, new: dict[str, Any], *, old_id: str) -> None:
        """Write the new key; on failure delete it only when the store is known not to hold it."""
        token = _token(new)
        try:
            self.token_store.save(token)
        except Exception as error:
            held = self.token_store.holds(token)
            if held is False:
                outcome = f"the new key {new['id']} was not stored and is deleted"
                try:
                    self.hook.delete_credential(str(new["id"]))
                except AceDataError:
                    outcome = f"the new key {new['id']} was not stored; deleting it failed, a rerun deletes it"
            else:
                outcome = (
                    f"the store may hold the new key {new['id']}, so it stays alive; a rerun finishes the rotation"
                )
            raise CredentialRotationError(
                f"Storing the new API key failed ({type(error).__name__}): {outcome}. The old key {old_id} still works."
            ) from error
        self.log.info("Stored the new API key in %r", self.token_store)

    def _finish(self, context: Context, credential: dict[str, Any], *, revoked: str | None) -> str:
        context["ti"].xcom_push(key=APPLICATION_ID_KEY, value=str(credential["application_id"]))
        context["ti"].xcom_push(key="revoked_credential_id", value=revoked)
        return str(credential["id"])
