"""Token stores: where a rotation (or ``CreateCredentialOperator``) writes a secret.

A store's ``save`` returns only once the token is durably written and raises otherwise. A store that can
read its value back implements ``load``; the rotation then tells "written" from "not written" when a
``save`` fails, instead of having to assume either. ``preflight`` and ``mismatch`` let a rotation catch a
setup mistake before it changes anything.
"""

from __future__ import annotations

import enum
import hmac
import os
from abc import ABC, abstractmethod
from functools import cached_property
from typing import TYPE_CHECKING

from airflow_provider_acedata.exceptions import AceDataError, AceDataInputError
from airflow_provider_acedata.masking import mask
from airflow_provider_acedata.version_compat import BaseHook, Variable

if TYPE_CHECKING:
    from airflow_provider_acedata.hooks.acedata import AceDataHook
    from airflow_provider_acedata.hooks.airflow_api import AirflowApiHook


class TokenStoreError(AceDataError):
    """The store did not durably write the token."""


class Holding(enum.Enum):
    """What a store holds, asked about one token."""

    THIS = "holds this token"
    OTHER = "holds another token or none"
    UNKNOWN = "cannot tell"


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

    def holds(self, token: str) -> Holding:
        """Whether the store holds ``token`` now (``Holding.UNKNOWN`` when it cannot read back)."""
        try:
            current = self.load()
        except Exception:
            return Holding.UNKNOWN
        if current is None:
            return Holding.OTHER
        mask(current)
        return Holding.THIS if hmac.compare_digest(current.encode(), token.encode()) else Holding.OTHER

    def verifies(self, hook: AceDataHook) -> bool:
        """Whether ``save`` reads the token back as ``hook``'s connection reads it, so nobody need read it again."""
        return False

    def preflight(self) -> None:
        """Raise ``TokenStoreError`` if the store cannot work as set up; reads only, changes nothing."""
        return None

    def for_connection(self, conn_id: str) -> TokenStore:
        """This store, bound to the ``acedata`` connection whose platform token is rotated into it."""
        return self

    def mismatch(self, hook: AceDataHook) -> str | None:
        """Why a token saved here would not be the one ``hook``'s connection reads; None if it would or is unknown."""
        return None

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
        if not isinstance(key, str) or not key.strip():
            raise AceDataInputError(f"VariableTokenStore needs a Variable key (a non-empty string), got {key!r}")
        self.key = key
        self.description = description

    def save(self, token: str) -> None:
        Variable.set(self.key, token, description=self.description)
        if self.holds(token) is not Holding.THIS:
            raise TokenStoreError(f"Variable {self.key!r} does not hold the new token after Variable.set")

    def load(self) -> str | None:
        value = Variable.get(self.key, default=None)
        return None if value is None else str(value)

    def verifies(self, hook: AceDataHook) -> bool:
        return hook.rotation_variable == self.key

    def mismatch(self, hook: AceDataHook) -> str | None:
        if hook.rotation_variable == self.key:
            return None
        return (
            f"VariableTokenStore writes Variable {self.key!r}, but the connection reads "
            + (f"Variable {hook.rotation_variable!r}" if hook.rotation_variable else "its password")
            + f"; VariableTokenStore needs the connection extra rotation_variable set to {self.key!r}"
        )

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

    def __init__(self, conn_id: str | None = None, airflow_api_conn_id: str = "airflow_api") -> None:
        self._conn_id = conn_id
        self.airflow_api_conn_id = airflow_api_conn_id

    @property
    def conn_id(self) -> str:
        """The connection written: as given, else the rotated one (``acedata_default`` when used alone)."""
        return self._conn_id or "acedata_default"

    def for_connection(self, conn_id: str) -> AirflowConnectionTokenStore:
        if self._conn_id is None:
            return type(self)(conn_id, self.airflow_api_conn_id)
        if self._conn_id != conn_id:
            raise TokenStoreError(
                f"AirflowConnectionTokenStore(conn_id={self._conn_id!r}) would store the token of connection "
                f"{conn_id!r} in another connection; leave conn_id out (it defaults to the rotated connection) "
                "or make it match. Nothing was changed."
            )
        return self

    def preflight(self) -> None:
        """The REST connection works and the connection is one a REST update changes (in the metadata DB)."""
        from airflow_provider_acedata.hooks.airflow_api import AirflowApiError

        env = f"AIRFLOW_CONN_{self.conn_id.upper()}"
        if os.environ.get(env):
            raise TokenStoreError(
                f"Connection {self.conn_id!r} is defined by the environment variable {env}, which shadows the "
                "metadata database: a token stored through the REST API would never be read. Define the "
                "connection in the metadata database (airflow connections add) and unset the variable. "
                "Nothing was changed."
            )
        try:
            self.api.get_connection_record(self.conn_id)
        except AirflowApiError as error:
            if error.status_code == 404:
                raise TokenStoreError(
                    f"Connection {self.conn_id!r} is not in Airflow's metadata database (an AIRFLOW_CONN_ variable "
                    "or a secrets backend cannot be updated through the REST API); add it with airflow "
                    "connections add. Nothing was changed."
                ) from None
            raise TokenStoreError(
                f"AirflowConnectionTokenStore cannot use Airflow's REST API through connection "
                f"{self.airflow_api_conn_id!r}: {error}. Nothing was changed."
            ) from None
        except AceDataError as error:
            raise TokenStoreError(
                f"AirflowConnectionTokenStore cannot use connection {self.airflow_api_conn_id!r}: {error}. "
                "Nothing was changed."
            ) from None
        except Exception as error:
            raise TokenStoreError(
                f"AirflowConnectionTokenStore needs the connection {self.airflow_api_conn_id!r} to reach Airflow's "
                f"REST API ({type(error).__name__}: {error}). Nothing was changed."
            ) from None

    def verifies(self, hook: AceDataHook) -> bool:
        return hook.conn_id == self.conn_id and hook.rotation_variable is None

    def mismatch(self, hook: AceDataHook) -> str | None:
        if hook.rotation_variable:
            return (
                f"connection {self.conn_id!r} reads its token from Variable {hook.rotation_variable!r} (extra "
                "rotation_variable), so a token stored in its password would never be used. To switch from "
                "VariableTokenStore: 1) set the connection's password to the Variable's current value, which "
                f"`airflow variables get {hook.rotation_variable}` prints (the UI shows it as ***), 2) remove the "
                "extra rotation_variable, 3) rotate with AirflowConnectionTokenStore; then delete the Variable "
                f"(`airflow variables delete {hook.rotation_variable}`): nothing reads it any more, and it holds "
                "the token that this rotation revokes"
            )
        return None

    @cached_property
    def api(self) -> AirflowApiHook:
        from airflow_provider_acedata.hooks.airflow_api import AirflowApiHook

        return AirflowApiHook(self.airflow_api_conn_id)

    def save(self, token: str) -> None:
        self.api.set_connection_password(self.conn_id, token)
        if self.holds(token) is not Holding.THIS:
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
