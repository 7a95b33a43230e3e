"""Operators for API keys (credentials): create one idempotently, rotate one without a gap."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_provider_acedata.exceptions import AceDataConflictError, AceDataInputError
from airflow_provider_acedata.links import AceDataApplicationLink, forget_application, note_application
from airflow_provider_acedata.masking import fingerprint
from airflow_provider_acedata.operators._context import run_metadata
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
    from airflow_provider_acedata.platform_lock import PlatformLock
    from airflow_provider_acedata.token_stores import TokenStore

IF_EXISTS = ("reuse", "fail", "create")
SUMMARY_KEYS = ("id", "name", "application_id", "limited_amount", "expired_at")


def __getattr__(name: str) -> Any:
    """``CredentialRotationError``, the 0.1.0 name of ``RotationError``, imported only when asked for."""
    if name == "CredentialRotationError":
        from airflow_provider_acedata.rotation.report import RotationError

        return RotationError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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

    The key is found by application and name first, so reruns reuse it. The platform does not make names
    unique, so with ``if_exists="reuse"`` or ``"fail"`` the look-up and the create run under a platform
    lock (:mod:`airflow_provider_acedata.platform_lock`) for that application and name: concurrent runs
    end with one key, and all return its id. With a ``token_store`` the key is written there (skipped
    when the store already holds it); that is the only place it goes. A summary without the key is
    pushed under the XCom key ``credential``, the application id under ``application_id``.

    :param application_id: UUID of the application (templated, e.g. ``create_app.output``).
    :param name: the key's name, its identity for reuse (templated).
    :param limited_amount: spending cap in Credits for a new key; None for no cap (templated).
    :param expired_at: ISO-8601 expiry for a new key; None for never (templated).
    :param if_exists: ``"reuse"`` the newest key with this name as it is (cap and expiry unchanged),
        ``"fail"`` if there is one, or ``"create"`` another key with the same name.
    :param token_store: where to write the key, e.g. ``VariableTokenStore("acedata_api_key_x")``.
    :param lock_ttl: seconds after which the lock of a killed run counts as abandoned.
    :param lock_wait: seconds to wait for a concurrent run creating the same key.
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
        lock_ttl: float = 120.0,
        lock_wait: float = 300.0,
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
        self.lock_ttl = lock_ttl
        self.lock_wait = lock_wait
        self.acedata_conn_id = acedata_conn_id

    def execute(self, context: Context) -> str:
        from airflow_provider_acedata.rotation.credential import credential_token
        from airflow_provider_acedata.token_stores import Holding

        forget_application(self)
        application_id = require_uuid("application_id", self.application_id)
        name = require_text("name", self.name)
        limited_amount = (
            None
            if self.limited_amount in (None, "")
            else require_number("limited_amount", self.limited_amount, minimum=0)
        )
        expired_at = optional_datetime("expired_at", self.expired_at)
        if_exists = require_choice("if_exists", self.if_exists, IF_EXISTS)
        note_application(self, context, application_id)

        fields: dict[str, Any] = {"name": name, "limited_amount": limited_amount, "expired_at": expired_at}
        found = None if if_exists == "create" else self.hook.find_credential(application_id, name)
        if found is not None:
            credential, created = found, False
        elif if_exists == "create":
            credential, created = self.hook.create_credential(application_id, **fields), True
        else:
            credential, created = self._create_once(context, application_id, fields)
        if not created and if_exists == "fail":
            raise AceDataConflictError(
                f"API key {name!r} of application {application_id} already exists ({credential['id']}) "
                "and if_exists='fail'"
            )
        token = credential_token(credential)
        self.log.info(
            "%s API key %s (%r, %s) of application %s",
            "Created" if created else "Reusing",
            credential["id"],
            name,
            fingerprint(token),
            application_id,
        )
        if self.token_store is not None:
            if self.token_store.holds(token) is Holding.THIS:
                self.log.info("%r already holds this key", self.token_store)
            else:
                self.token_store.save(token)
                self.log.info("Stored the key in %r", self.token_store)
        context["ti"].xcom_push(key="credential", value=_summary(credential, created=created))
        return str(credential["id"])

    def _create_once(
        self, context: Context, application_id: str, fields: dict[str, Any]
    ) -> tuple[dict[str, Any], bool]:
        """Look again and create under the lock of this application and name; True if this run created it."""
        with self._lock(context, application_id, fields["name"]) as lock:
            found = self.hook.find_credential(application_id, fields["name"])
            if found is not None:
                self.log.info("A concurrent run created API key %s meanwhile", found["id"])
                return found, False
            lock.check()
            return self.hook.create_credential(application_id, **fields), True

    def _lock(self, context: Context, application_id: str, name: str) -> PlatformLock:
        """The platform lock of one application's key name: concurrent creates of it take turns."""
        from airflow_provider_acedata.platform_lock import PlatformLock, lock_tag

        return PlatformLock(
            self.hook,
            tag=lock_tag("credential", application_id, name),
            ttl=self.lock_ttl,
            wait=self.lock_wait,
            metadata={**run_metadata(self, context), "application_id": application_id},
            what="credential lock",
        )


class RotateCredentialOperator(_CredentialOperator):
    """Replace an API key with a new one, store the new key, and only then invalidate the old one.

    Steps, as for platform tokens (see :class:`~airflow_provider_acedata.rotation.CredentialRotation`):
    take the key's rotation lease, obtain the new key, check it, store it with ``token_store``, then
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
    :param lease_ttl: seconds after which a lease of a killed run is considered abandoned.
    :param lease_wait: seconds to wait for a concurrent rotation of the same key before failing.
    :param acedata_conn_id: the ``acedata`` connection to use.
    """

    template_fields: Sequence[str] = ("credential_id", "strategy", "acedata_conn_id")

    def __init__(
        self,
        *,
        credential_id: str,
        token_store: TokenStore,
        strategy: str = "replace",
        lease_ttl: float = 600.0,
        lease_wait: float = 300.0,
        acedata_conn_id: str = "acedata_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not callable(getattr(token_store, "save", None)):
            raise AceDataInputError(f"token_store must be a TokenStore, got {token_store!r}")
        self.credential_id = credential_id
        self.token_store = token_store
        self.strategy = strategy
        self.lease_ttl = lease_ttl
        self.lease_wait = lease_wait
        self.acedata_conn_id = acedata_conn_id

    def execute(self, context: Context) -> str:
        from airflow_provider_acedata.rotation import CredentialRotation
        from airflow_provider_acedata.rotation.credential import STRATEGIES

        forget_application(self)
        rotation = CredentialRotation(
            conn_id=self.acedata_conn_id,
            credential_id=require_uuid("credential_id", self.credential_id),
            token_store=self.token_store,
            strategy=require_choice("strategy", self.strategy, STRATEGIES),
            lease_ttl=self.lease_ttl,
            lease_wait=self.lease_wait,
            metadata=run_metadata(self, context),
            log=self.log,
        )
        try:
            result = rotation.run()
        finally:
            if rotation.application_id is not None:
                note_application(self, context, rotation.application_id)
        context["ti"].xcom_push(key="revoked_credential_id", value=next(iter(result.revoked_ids), None))
        return result.new_id
