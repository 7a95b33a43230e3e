"""What both Ace Data Cloud hooks share: the connection, its secret and settings, the transport, closing.

``AceDataHook`` (the platform API, a platform token) and ``AceDataApiHook`` (the gateway, an API key) differ
in their resources and in where their API lives; everything below that is here, once.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping
from functools import cached_property
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, TypedDict, cast

from airflow_provider_acedata import __version__
from airflow_provider_acedata.exceptions import AceDataAuthenticationError
from airflow_provider_acedata.hooks._http import AsyncTransport, Endpoint, RetryPolicy, SyncTransport, base_url
from airflow_provider_acedata.hooks._settings import ConnectionSettings
from airflow_provider_acedata.hooks._token import TokenSource
from airflow_provider_acedata.version_compat import AIRFLOW_VERSION, BaseHook

if TYPE_CHECKING:
    from typing import Self

    import requests
    from airflow.sdk import Connection
    from typing_extensions import Unpack


class HookSettings(TypedDict, total=False):
    """What every hook takes besides its connection id (each overrides the connection's own setting)."""

    timeout: float | None
    retry_limit: int | None
    retry_delay: float | None
    max_retry_wait: float | None
    token: str | None


class HookFamily:
    """What a hook and the hooks made from it (``with_token``) share: one connection, one session per client.

    The settings and the endpoint are read from the connection on first use; the transports are made on
    first use and closed by the hook that made the family.
    """

    def __init__(self, source: TokenSource, *, default_host: str, root: str, overrides: Mapping[str, Any]) -> None:
        self.source = source
        self.default_host = default_host
        self.root = root
        self.overrides = dict(overrides)
        self._sync: SyncTransport | None = None
        self._async: AsyncTransport | None = None

    @cached_property
    def settings(self) -> ConnectionSettings:
        return ConnectionSettings.read(self.source.extras, self.overrides, self.source.where)

    @cached_property
    def endpoint(self) -> Endpoint:
        connection = self.source.connection
        return Endpoint(
            base_url=base_url(
                connection.host, connection.port, connection.schema, default=self.default_host, root=self.root
            ),
            root=self.root,
            timeout=self.settings.timeout,
            user_agent=f"airflow-provider-acedata/{__version__} apache-airflow/{AIRFLOW_VERSION}",
            secret=f"the {self.source.secret_name} of {self.source.where}",
        )

    @cached_property
    def policy(self) -> RetryPolicy:
        settings = self.settings
        return RetryPolicy(settings.retry_limit, settings.retry_delay, settings.max_retry_wait)

    def sync_transport(self, log: logging.Logger) -> SyncTransport:
        if self._sync is None:
            self._sync = SyncTransport(self.endpoint, self.policy, log)
        return self._sync

    def async_transport(self, log: logging.Logger) -> AsyncTransport:
        if self._async is None:
            self._async = AsyncTransport(self.endpoint, self.policy, log)
        return self._async

    def close(self) -> None:
        if self._sync is not None:
            self._sync.close()
            self._sync = None

    async def aclose(self) -> None:
        if self._async is not None:
            transport, self._async = self._async, None
            await transport.aclose()


class AceDataBaseHook(BaseHook):
    """The connection, secret, settings and HTTP plumbing of an Ace Data Cloud hook.

    A hook owns one HTTP session per client kind (``requests`` for workers, ``httpx`` for triggers), shared
    with the hooks :meth:`with_token` makes; close it with :meth:`close` / :meth:`aclose` (or use it as a
    context manager). Every request has a finite timeout, follows no redirect, is retried with backoff only
    when it is a read, and turns API errors into the types of :mod:`airflow_provider_acedata.exceptions`.

    :param conn_id: the Airflow connection (its host, its secret in the password, its settings in the extras).
    :param timeout: seconds per request; overrides the connection extra ``timeout`` (default 30).
    :param retry_limit: retries of a read; overrides the extra ``retry_limit`` (default 3).
    :param retry_delay: base of the exponential backoff; overrides the extra ``retry_delay`` (default 1).
    :param max_retry_wait: the longest ``Retry-After`` honoured by sleeping; a longer one raises
        ``AceDataRateLimitError`` at once. Overrides the extra ``max_retry_wait`` (default 60).
    :param token: send this secret instead of the connection's.
    """

    conn_name_attr: ClassVar[str]
    conn_type: ClassVar[str]
    default_host: ClassVar[str]
    api_root: ClassVar[str] = ""
    secret_name: ClassVar[str] = "token"

    def __init__(self, conn_id: str, **settings: Unpack[HookSettings]) -> None:
        super().__init__()
        source = TokenSource(conn_id, conn_type=self.conn_type, secret_name=self.secret_name, check=self.check_secret)
        token = settings.pop("token", None)
        self.family = HookFamily(source, default_host=self.default_host, root=self.api_root, overrides=settings)
        self._fixed = None if token is None else source.remember(token)
        self._owner = True

    @property
    def conn_id(self) -> str:
        return self.family.source.conn_id

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.conn_name_attr}={self.conn_id!r})"

    def with_token(self, token: str) -> Self:
        """A hook for the same connection and settings that sends ``token``, sharing this hook's sessions.

        Closing it is a no-op: the sessions belong to this hook.
        """
        sibling = copy.copy(self)
        sibling._fixed = self.family.source.remember(token)
        sibling._owner = False
        return sibling

    def check_secret(self, secret: str, source: str) -> None:
        """Called with each secret read from the connection; warn here about one that looks wrong."""

    # -- the connection -----------------------------------------------------------------------------

    @property
    def connection(self) -> Connection:
        """The Airflow connection, fetched once per hook family."""
        return self.family.source.connection

    @property
    def extras(self) -> dict[str, Any]:
        """The connection extras, accepting the legacy ``extra__<conn_type>__`` prefix too."""
        return self.family.source.extras

    @property
    def base_url(self) -> str:
        """The API's base URL (scheme and host), https unless the host is loopback."""
        return self.family.endpoint.base_url

    @property
    def api_url(self) -> str:
        """Where the API's paths start (the base URL plus the API's root)."""
        return self.family.endpoint.api_url

    @property
    def settings(self) -> ConnectionSettings:
        return self.family.settings

    @property
    def token(self) -> str:
        """The secret this hook sends: the one it was given, else the connection's (read once)."""
        return self._fixed if self._fixed is not None else self.family.source.token

    def stored_token(self) -> str:
        """The secret the connection yields now, read again (a rotation may have replaced it since).

        A hook sending the connection's secret sends this one from now on.
        """
        return self.family.source.fresh()

    @property
    def session(self) -> requests.Session:
        """The ``requests.Session`` of this hook family: keep-alive across calls."""
        return self._sync.session

    # -- closing ------------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the HTTP session this hook owns (hooks made by ``with_token`` share it: a no-op for them)."""
        if self._owner:
            self.family.close()

    async def aclose(self) -> None:
        """Close the async HTTP client this hook owns."""
        if self._owner:
            await self.family.aclose()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.aclose()

    # -- HTTP ---------------------------------------------------------------------------------------

    @property
    def _logger(self) -> logging.Logger:
        return cast("logging.Logger", self.log)

    @property
    def _sync(self) -> SyncTransport:
        return self.family.sync_transport(self._logger)

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        mask_secrets: bool = True,
        retry: bool | None = None,
    ) -> Any:
        """Send one API call through the sync transport; a read is retried on transient failures."""
        return self._sync.request(
            method, path, token=self.token, params=params, json=json, mask_secrets=mask_secrets, retry=retry
        )

    async def _arequest(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        retry: bool | None = None,
    ) -> Any:
        """Send one API call through the async transport; a 401 re-reads the connection's secret once.

        A wait can outlive a rotation of the secret it started with: the connection then holds the new one.
        """
        source = self.family.source
        token = self._fixed if self._fixed is not None else await source.atoken()
        transport = self.family.async_transport(self._logger)
        try:
            return await transport.request(method, path, token=token, params=params, json=json, retry=retry)
        except AceDataAuthenticationError:
            if self._fixed is not None or (fresh := await source.afresh()) == token:
                raise
            self.log.info("%s has a new %s; retrying with it", source.where.capitalize(), source.secret_name)
            return await transport.request(method, path, token=fresh, params=params, json=json, retry=retry)

    def _redact(self, text: str) -> str:
        """``text`` without any secret of this hook family."""
        return self.family.source.redact(text)
