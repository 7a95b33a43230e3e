"""Where a hook's secret comes from: read once per hook family, re-read on demand, masked and redacted by one owner."""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from airflow_provider_acedata.exceptions import AceDataConfigError
from airflow_provider_acedata.masking import mask
from airflow_provider_acedata.version_compat import AirflowProviderDeprecationWarning, BaseHook, Variable

if TYPE_CHECKING:
    from airflow.sdk import Connection

_BEARER_PREFIX = "bearer "
log = logging.getLogger(__name__)


class TokenSource:
    """The Airflow connection of a hook family and the secret it yields.

    The secret is the Airflow Variable named by the connection extra ``rotation_variable`` when that is set,
    else the connection's password. The connection is fetched once; the secret is read once, and again only
    when asked (:meth:`fresh`, :meth:`afresh`: a rotation may have replaced it since). Every value read or
    given (:meth:`remember`) is masked at once, and :meth:`redact` removes each of them from a text.

    :param conn_id: the Airflow connection.
    :param conn_type: its type, for the legacy ``extra__<conn_type>__`` prefix of extras.
    :param secret_name: what the secret is called in the connection form ("Platform Token", "API Key").
    :param check: called with each secret read and where it came from, to warn about a suspicious one.
    """

    def __init__(
        self,
        conn_id: str,
        *,
        conn_type: str,
        secret_name: str,
        check: Callable[[str, str], None] | None = None,
    ) -> None:
        self.conn_id = conn_id
        self.conn_type = conn_type
        self.secret_name = secret_name
        self.where = f"connection {conn_id!r}"
        """How messages name the connection (Airflow's form test uses a temporary id: then "this connection")."""
        self._check = check
        self._connection: Connection | None = None
        self._token: str | None = None
        self._seen: set[str] = set()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(conn_id={self.conn_id!r})"

    @property
    def connection(self) -> Connection:
        """The Airflow connection, fetched on first use (Airflow masks its password as it is fetched)."""
        if self._connection is None:
            self._connection = BaseHook.get_connection(self.conn_id)
        return self._connection

    async def aconnection(self) -> Connection:
        """The connection, fetched without blocking the event loop (the sync lookup refuses to run in one)."""
        if self._connection is None:
            self._connection = await BaseHook.aget_connection(self.conn_id)
        return self._connection

    @property
    def extras(self) -> dict[str, Any]:
        """The connection's extras without empty values, accepting the legacy ``extra__<type>__`` prefix too."""
        raw = self.connection.extra_dejson or {}
        prefix = f"extra__{self.conn_type}__"
        return {key.removeprefix(prefix): value for key, value in raw.items() if value not in (None, "")}

    @property
    def rotation_variable(self) -> str | None:
        """The extra ``rotation_variable``: an Airflow Variable that, once set, overrides the password.

        ``token_variable`` (0.1.0) still works but warns: Airflow masks every extra whose key contains
        "token", so the form and the logs showed its value as ``***``.
        """
        if name := self.extras.get("rotation_variable"):
            return str(name)
        if name := self.extras.get("token_variable"):
            message = (
                f"{self.where[:1].upper()}{self.where[1:]}: the extra 'token_variable' is deprecated; rename it "
                "to 'rotation_variable' (Airflow masks extras whose key contains 'token')"
            )
            warnings.warn(message, AirflowProviderDeprecationWarning, stacklevel=2)
            log.warning("%s", message)
            return str(name)
        return None

    @property
    def token(self) -> str:
        """The secret, read on first use."""
        if self._token is None:
            self._token = self._read()
        return self._token

    def fresh(self) -> str:
        """The secret as the connection yields it now: the Variable, or the connection fetched again."""
        if self.rotation_variable is None:
            self._connection = None
        self._token = self._read()
        return self._token

    async def atoken(self) -> str:
        """The secret, read without blocking the event loop."""
        if self._token is None:
            await self.aconnection()
            self._token = await self._aread()
        return self._token

    async def afresh(self) -> str:
        """The async twin of :meth:`fresh`."""
        if self.rotation_variable is None:
            self._connection = None
            await self.aconnection()
        self._token = await self._aread()
        return self._token

    def remember(self, secret: str) -> str:
        """Mask a secret of this family that did not come from the connection (a token given to a hook)."""
        mask(secret)
        self._seen.add(secret)
        return secret

    def redact(self, text: str) -> str:
        """``text`` without any secret this source has read or been given."""
        for secret in self._seen:
            text = text.replace(secret, "***")
        return text

    async def _aread(self) -> str:
        if self.rotation_variable is not None:
            return await asyncio.to_thread(self._read)
        return self._read()

    def _read(self) -> str:
        """Read the secret from the Variable or the password, strip a pasted ``Bearer `` prefix, mask it."""
        raw: str | None = None
        source = f"the {self.secret_name} (password) of {self.where}"
        if variable := self.rotation_variable:
            raw = Variable.get(variable, default=None)
            source = f"Variable {variable!r}"
        if raw is None:
            raw = self.connection.password
            source = f"the {self.secret_name} (password) of {self.where}"
        token = (raw or "").strip()
        if token.lower().startswith(_BEARER_PREFIX):
            token = token[len(_BEARER_PREFIX) :].strip()
        if not token:
            raise AceDataConfigError(
                f"No {self.secret_name}: {source} is empty. Put the {self.secret_name} in the password field."
            )
        self.remember(token)
        if self._check is not None:
            self._check(token, source)
        return token
