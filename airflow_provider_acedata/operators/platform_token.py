"""Operators for platform tokens: scheduled rotation and clean-up."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_provider_acedata.exceptions import AceDataInputError
from airflow_provider_acedata.operators._context import run_metadata
from airflow_provider_acedata.validation import require_uuid
from airflow_provider_acedata.version_compat import BaseOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_acedata.hooks.acedata import AceDataHook
    from airflow_provider_acedata.token_stores import TokenStore


class RotatePlatformTokenOperator(BaseOperator):
    """Replace the connection's platform token with a new one, safely, and return the new token's id.

    Steps (see :class:`~airflow_provider_acedata.rotation.PlatformTokenRotation`): check the setup (the
    store must feed the connection; nothing is changed if not), take the rotation lease, identify the
    stored token, create a new one (tagged, with metadata),
    test it, store it with ``token_store``, then revoke the old one. The old token is revoked only after
    the new one is tested and stored, so no failure locks you out; a token left alive by a failed or
    killed run is revoked by the next rotation.

    Rotations of one connection never overlap, whatever runs them (two DAGs, catch-up runs, Celery or
    Kubernetes workers, ``airflow tasks test``): a run takes a lease recorded on the platform as a
    lock-tagged token and waits (up to ``lease_wait`` seconds) for any other run holding it. A killed
    holder's lease expires after ``lease_ttl`` seconds.

    XCom: ``return_value`` is the new token's id; ``revoked_token_ids`` lists the ids revoked. Tokens
    themselves never go to XCom or the logs. ``retries`` defaults to 0: a rotation that failed has left a
    working token stored, so the next scheduled run (not a blind retry) is the right next step.

    :param token_store: where the new token is written (``VariableTokenStore``,
        ``AirflowConnectionTokenStore`` or your own ``TokenStore``).
    :param acedata_conn_id: the ``acedata`` connection whose token is rotated.
    :param keep_previous: how many previous tokens stay alive as a grace window for tasks still using them.
    :param rotation_tag: tag of the tokens this rotation creates and cleans up; default
        ``airflow-rotation:<acedata_conn_id>``. Give each deployment sharing an account its own.
    :param lease_ttl: seconds after which a lease of a killed run is considered abandoned.
    :param lease_wait: seconds to wait for a concurrent rotation before failing.
    """

    template_fields: Sequence[str] = ("acedata_conn_id", "rotation_tag")

    def __init__(
        self,
        *,
        token_store: TokenStore,
        acedata_conn_id: str = "acedata_default",
        keep_previous: int = 0,
        rotation_tag: str | None = None,
        lease_ttl: float = 600.0,
        lease_wait: float = 300.0,
        lease_poll: float = 2.0,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("retries", 0)
        super().__init__(**kwargs)
        if not isinstance(keep_previous, int) or keep_previous < 0:
            raise AceDataInputError(f"keep_previous must be an integer >= 0, got {keep_previous!r}")
        self.token_store = token_store
        self.acedata_conn_id = acedata_conn_id
        self.keep_previous = keep_previous
        self.rotation_tag = rotation_tag
        self.lease_ttl = lease_ttl
        self.lease_wait = lease_wait
        self.lease_poll = lease_poll

    def execute(self, context: Context) -> str:
        from airflow_provider_acedata.rotation import PlatformTokenRotation

        rotation = PlatformTokenRotation(
            conn_id=self.acedata_conn_id,
            token_store=self.token_store,
            keep_previous=self.keep_previous,
            tag=self.rotation_tag,
            lease_ttl=self.lease_ttl,
            lease_wait=self.lease_wait,
            lease_poll=self.lease_poll,
            metadata=run_metadata(self, context),
            log=self.log,
        )
        result = rotation.run()
        context["ti"].xcom_push(key="revoked_token_ids", value=result.revoked_ids)
        return result.new_id


class DeletePlatformTokenOperator(BaseOperator):
    """Revoke a platform token by id; one that is already gone counts as deleted.

    :param token_id: UUID of the token (templated, e.g. ``"{{ ti.xcom_pull('rotate') }}"``).
    :param acedata_conn_id: the ``acedata`` connection to authenticate with.
    """

    template_fields: Sequence[str] = ("token_id", "acedata_conn_id")

    def __init__(self, *, token_id: str, acedata_conn_id: str = "acedata_default", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.token_id = token_id
        self.acedata_conn_id = acedata_conn_id

    @cached_property
    def hook(self) -> AceDataHook:
        from airflow_provider_acedata.hooks.acedata import AceDataHook

        return AceDataHook(self.acedata_conn_id)

    def execute(self, context: Context) -> str:
        token_id = require_uuid("token_id", self.token_id)
        self.hook.delete_platform_token(token_id)
        self.log.info("Platform token %s is revoked", token_id)
        return token_id
