"""Token stores: where RotatePlatformTokenOperator writes a rotated platform token.

A store's ``save`` returns only once the token is durably written and raises otherwise. A store that can
read its value back implements ``load``; the rotation then tells "written" from "not written" when a
``save`` fails, instead of having to assume either.
"""

from __future__ import annotations

import hmac
from abc import ABC, abstractmethod
from functools import cached_property
from typing import TYPE_CHECKING

from airflow_provider_acedata.exceptions import AceDataError
from airflow_provider_acedata.masking import mask
from airflow_provider_acedata.version_compat import BaseHook, Variable

if TYPE_CHECKING:
    from airflow_provider_acedata.hooks.airflow_api import AirflowApiHook


class TokenStoreError(AceDataError):
    """The store did not durably write the token."""


class TokenStore(ABC):
    """Where a rotated token goes. Subclass it for your own secrets backend."""

    @abstractmethod
    def save(self, token: str) -> None:
        """Write ``token``; raise unless it was durably written."""

    def load(self) -> str | None:
        """Return the token the store holds now, or None if it holds none.

        Stores that cannot read back raise ``NotImplementedError`` (the default).
        """
        raise NotImplementedError

    def holds(self, token: str) -> bool | None:
        """Whether the store holds ``token`` now: True, False, or None when that cannot be known."""
        try:
            current = self.load()
        except Exception:
            return None
        if current is None:
            return False
        mask(current)
        return hmac.compare_digest(current.encode(), token.encode())

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class VariableTokenStore(TokenStore):
    """Keep the token in an Airflow Variable, read back after writing.

    Point the connection extra ``rotation_variable`` at the same key to close the rotation loop: the hook then
    reads the token from the Variable.
    """

    def __init__(
        self, key: str, *, description: str = "Ace Data Cloud secret written by airflow-provider-acedata"
    ) -> None:
        if not key:
            raise ValueError("VariableTokenStore needs a Variable key")
        self.key = key
        self.description = description

    def save(self, token: str) -> None:
        Variable.set(self.key, token, description=self.description)
        if self.holds(token) is not True:
            raise TokenStoreError(f"Variable {self.key!r} does not hold the new token after Variable.set")

    def load(self) -> str | None:
        value = Variable.get(self.key, default=None)
        return None if value is None else str(value)

    def __repr__(self) -> str:
        return f"VariableTokenStore(key={self.key!r})"


class AirflowConnectionTokenStore(TokenStore):
    """Set the password of an Airflow connection through Airflow's REST API.

    Airflow 3 tasks cannot write connections through the ORM, so this PATCHes
    ``/api/v2/connections/{conn_id}?update_mask=password`` with the credentials of ``airflow_api_conn_id``,
    then reads the connection back through the Task SDK to confirm.

    :param conn_id: the connection whose password is the token (the ``acedata`` connection).
    :param airflow_api_conn_id: a connection to the Airflow api-server: host (URL, or host plus port),
        and either login/password (exchanged at ``/auth/token``) or a password alone (a bearer token).
    """

    def __init__(self, conn_id: str = "acedata_default", airflow_api_conn_id: str = "airflow_api") -> None:
        self.conn_id = conn_id
        self.airflow_api_conn_id = airflow_api_conn_id

    @cached_property
    def api(self) -> AirflowApiHook:
        from airflow_provider_acedata.hooks.airflow_api import AirflowApiHook

        return AirflowApiHook(self.airflow_api_conn_id)

    def save(self, token: str) -> None:
        self.api.set_connection_password(self.conn_id, token)
        if self.holds(token) is not True:
            raise TokenStoreError(
                f"Connection {self.conn_id!r} does not hold the new token after the REST update; an "
                "AIRFLOW_CONN_ variable or a secrets backend may be shadowing the metadata database"
            )

    def load(self) -> str | None:
        return BaseHook.get_connection(self.conn_id).password or None

    def __repr__(self) -> str:
        return (
            f"AirflowConnectionTokenStore(conn_id={self.conn_id!r}, airflow_api_conn_id={self.airflow_api_conn_id!r})"
        )
