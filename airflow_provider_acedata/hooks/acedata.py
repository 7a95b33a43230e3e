"""AceDataHook: the one place that talks HTTP to the Ace Data Cloud platform API."""

from __future__ import annotations

import asyncio
import hmac
import logging
import warnings
from collections.abc import Iterator, Mapping
from datetime import datetime
from functools import cached_property
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar, cast

from airflow_provider_acedata import __version__
from airflow_provider_acedata.exceptions import (
    AceDataAuthenticationError,
    AceDataConfigError,
    AceDataError,
    AceDataInputError,
    AceDataNotFoundError,
)
from airflow_provider_acedata.hooks._http import (
    AsyncTransport,
    Endpoint,
    RetryPolicy,
    SyncTransport,
    base_url,
    redact,
)
from airflow_provider_acedata.masking import mask, without_secrets
from airflow_provider_acedata.queries import ORDERS_PATH, USAGE_PATH, RecordQuery, order_query, usage_query
from airflow_provider_acedata.records import created_at, order_record, usage_record
from airflow_provider_acedata.validation import (
    SERVICE_TYPES,
    application_key,
    optional_datetime,
    optional_uuids,
    platform_time,
    require_choice,
    require_interval,
    require_number,
    require_text,
    require_uuid,
)
from airflow_provider_acedata.version_compat import (
    AIRFLOW_VERSION,
    AirflowProviderDeprecationWarning,
    BaseHook,
    Variable,
)

_Number = TypeVar("_Number", int, float)

if TYPE_CHECKING:
    import requests
    from airflow.sdk import Connection
    from typing_extensions import Unpack

    from airflow_provider_acedata.queries import OrderFilters, UsageFilters

PAGE_SIZE = 100
ROTATE_UNSUPPORTED_STATUSES = frozenset({404, 405})
_BEARER_PREFIX = "bearer "


class AceDataHook(BaseHook):
    """Talk to the Ace Data Cloud platform API with the platform token of an ``acedata`` connection.

    Resource methods live here; the request, retry and error policy lives in
    :mod:`airflow_provider_acedata.hooks._http`, sent with ``requests`` (sync) or ``httpx`` (the ``a*``
    methods, for triggers). A finite timeout on every request, no redirects, retries with backoff for
    GET/DELETE only, and API errors turned into the types in :mod:`airflow_provider_acedata.exceptions`.

    A hook owns one HTTP session; :meth:`with_token` makes hooks that share it. Close a hook with
    :meth:`close` (or use it as a context manager) when done.

    :param acedata_conn_id: the Airflow connection holding the base URL (host) and token (password).
    :param timeout: seconds per request; overrides the connection extra ``timeout`` (default 30).
    :param retry_limit: retries of a GET/DELETE; overrides the extra ``retry_limit`` (default 3).
    :param retry_delay: base of the exponential backoff; overrides the extra ``retry_delay`` (default 1).
    :param max_retry_wait: the longest ``Retry-After`` honoured by sleeping; a longer one raises
        ``AceDataRateLimitError`` at once. Overrides the extra ``max_retry_wait`` (default 60).
    :param token: use this token instead of the connection's (e.g. to test a freshly rotated one).
    :param user_id: the account's id, when known, so that owner lists need no ``/platform-tokens/me/`` call.
    """

    conn_name_attr = "acedata_conn_id"
    default_conn_name = "acedata_default"
    conn_type = "acedata"
    hook_name = "Ace Data Cloud"

    def __init__(
        self,
        acedata_conn_id: str = default_conn_name,
        *,
        timeout: float | None = None,
        retry_limit: int | None = None,
        retry_delay: float | None = None,
        max_retry_wait: float | None = None,
        token: str | None = None,
        user_id: str | None = None,
    ) -> None:
        super().__init__()
        self.acedata_conn_id = acedata_conn_id
        self._timeout = timeout
        self._retry_limit = retry_limit
        self._retry_delay = retry_delay
        self._max_retry_wait = max_retry_wait
        if token is not None:
            mask(token)
        self._token_override = token
        if user_id is not None:
            self.__dict__["user_id"] = require_uuid("user_id", user_id)
        self._parent: AceDataHook | None = None
        self._label = f"connection {acedata_conn_id!r}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(acedata_conn_id={self.acedata_conn_id!r})"

    def with_token(self, token: str, *, user_id: str | None = None) -> AceDataHook:
        """A hook for the same connection and settings that authenticates with ``token``.

        It shares this hook's connection, settings and HTTP session (closing it is a no-op); give
        ``user_id`` when the token's account is known, to skip the ``/platform-tokens/me/`` call.
        """
        child = type(self)(
            self.acedata_conn_id,
            timeout=self._timeout,
            retry_limit=self._retry_limit,
            retry_delay=self._retry_delay,
            max_retry_wait=self._max_retry_wait,
            token=token,
            user_id=user_id,
        )
        child._parent = self
        return child

    def close(self) -> None:
        """Close the HTTP session this hook owns (hooks made by ``with_token`` share their parent's)."""
        if self._parent is None and "sync_transport" in self.__dict__:
            self.sync_transport.close()

    async def aclose(self) -> None:
        """Close the async HTTP client this hook owns."""
        if self._parent is None and "async_transport" in self.__dict__:
            await self.async_transport.aclose()

    def __enter__(self) -> AceDataHook:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    # -- connection -------------------------------------------------------------------------------

    @cached_property
    def connection(self) -> Connection:
        """The Airflow connection, fetched once per hook family (Airflow masks its password on fetch)."""
        if self._parent is not None:
            return self._parent.connection
        return self.get_connection(self.acedata_conn_id)

    @cached_property
    def extras(self) -> dict[str, Any]:
        """The connection extras, accepting the legacy ``extra__acedata__`` prefix too."""
        raw = self.connection.extra_dejson or {}
        prefix = f"extra__{self.conn_type}__"
        return {key.removeprefix(prefix): value for key, value in raw.items() if value not in (None, "")}

    @cached_property
    def base_url(self) -> str:
        """The platform's base URL (scheme and host), https unless the host is loopback."""
        return base_url(self.connection.host, self.connection.port, self.connection.schema)

    @cached_property
    def api_url(self) -> str:
        return f"{self.base_url}/api/v1"

    @cached_property
    def timeout(self) -> float:
        return self._setting("timeout", self._timeout, 30.0, float, minimum=0.001)

    @cached_property
    def retry_limit(self) -> int:
        return self._setting("retry_limit", self._retry_limit, 3, int, minimum=0)

    @cached_property
    def retry_delay(self) -> float:
        return self._setting("retry_delay", self._retry_delay, 1.0, float, minimum=0)

    @cached_property
    def max_retry_wait(self) -> float:
        return self._setting("max_retry_wait", self._max_retry_wait, 60.0, float, minimum=0)

    @cached_property
    def rotation_variable(self) -> str | None:
        """The extra ``rotation_variable``: an Airflow Variable that, once set, overrides the password.

        ``token_variable`` (0.1.0) still works but warns: Airflow masks every extra whose key contains
        "token", so the form and the logs showed its value as ``***``.
        """
        if name := self.extras.get("rotation_variable"):
            return str(name)
        if name := self.extras.get("token_variable"):
            message = (
                f"{self._label[:1].upper()}{self._label[1:]}: the extra 'token_variable' is deprecated; rename it "
                "to 'rotation_variable' (Airflow masks extras whose key contains 'token')"
            )
            warnings.warn(message, AirflowProviderDeprecationWarning, stacklevel=2)
            self.log.warning("%s", message)
            return str(name)
        return None

    @cached_property
    def token(self) -> str:
        """The platform token: the ``rotation_variable`` Variable if set, else the connection password."""
        return self._read_token()

    def stored_token(self) -> str:
        """The token the connection yields now, read afresh: a rotation may have replaced it since."""
        return type(self)(self.acedata_conn_id)._read_token()

    def _read_token(self) -> str:
        token = self._token_override
        source = "the token argument"
        if token is None and (variable := self.rotation_variable):
            token = Variable.get(str(variable), default=None)
            source = f"Variable {variable!r}"
        if token is None:
            token = self.connection.password
            source = f"the Platform Token (password) of {self._label}"
        token = (token or "").strip()
        if token.lower().startswith(_BEARER_PREFIX):
            token = token[len(_BEARER_PREFIX) :].strip()
        if not token:
            raise AceDataConfigError(f"No platform token: {source} is empty. Put the token in the password field.")
        mask(token)
        if not token.startswith("platform-"):
            self.log.warning(
                "The token from %s does not start with 'platform-'; a user JWT works but expires. "
                "Create a platform token in the console for unattended use.",
                source,
            )
        return token

    @cached_property
    def endpoint(self) -> Endpoint:
        return Endpoint(
            base_url=self.base_url,
            timeout=self.timeout,
            user_agent=f"airflow-provider-acedata/{__version__} apache-airflow/{AIRFLOW_VERSION}",
        )

    @cached_property
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(self.retry_limit, self.retry_delay, self.max_retry_wait)

    @cached_property
    def sync_transport(self) -> SyncTransport:
        """The requests transport, one per hook family."""
        if self._parent is not None:
            return self._parent.sync_transport
        return SyncTransport(self.endpoint, self.retry_policy, self._logger)

    @cached_property
    def async_transport(self) -> AsyncTransport:
        """The httpx transport, one per hook family (for triggers)."""
        if self._parent is not None:
            return self._parent.async_transport
        return AsyncTransport(self.endpoint, self.retry_policy, self._logger)

    @property
    def session(self) -> requests.Session:
        """The ``requests.Session`` of this hook family: keep-alive across calls."""
        return self.sync_transport.session

    @property
    def _logger(self) -> logging.Logger:
        return cast("logging.Logger", self.log)

    @cached_property
    def user_id(self) -> str:
        """The id of the account the token belongs to; owner lists must send it."""
        return str(self.get_current_user()["id"])

    # -- platform tokens --------------------------------------------------------------------------

    def get_current_user(self) -> dict[str, Any]:
        """Return the account the token authenticates as (``GET /platform-tokens/me/``)."""
        return cast("dict[str, Any]", self._request("GET", "/platform-tokens/me/"))

    def create_platform_token(
        self, *, tags: list[str] | None = None, metadata: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Create a platform token for this account; the returned ``token`` is masked at once. Not retried."""
        body: dict[str, Any] = {}
        if tags is not None:
            body["tags"] = list(tags)
        if metadata is not None:
            body["metadata"] = dict(metadata)
        return cast("dict[str, Any]", self._request("POST", "/platform-tokens/", json=body))

    def get_platform_token(self, token_id: str) -> dict[str, Any]:
        token_id = require_uuid("token_id", token_id)
        return cast("dict[str, Any]", self._request("GET", f"/platform-tokens/{token_id}"))

    def iter_platform_tokens(self, *, tag: str | None = None) -> Iterator[dict[str, Any]]:
        """Yield this account's platform tokens (values masked as they arrive), oldest first."""
        return self._paginate("/platform-tokens/", {"user_id": self.user_id, "tag": tag, "ordering": "created_at"})

    def find_platform_token(self, token: str) -> dict[str, Any] | None:
        """Return the record (secret blanked) of this account's platform token whose value is ``token``.

        Values are compared in constant time inside the hook; the listed tokens never leave it.
        """
        wanted = token.encode()
        for record in self._pages("/platform-tokens/", {"user_id": self.user_id}):
            if hmac.compare_digest(str(record.get("token", "")).encode(), wanted):
                return dict(without_secrets(record))
        return None

    def delete_platform_token(self, token_id: str) -> None:
        """Revoke a platform token; one that is already gone (404) counts as deleted."""
        token_id = require_uuid("token_id", token_id)
        self._delete(f"/platform-tokens/{token_id}", f"Platform token {token_id}")

    # -- applications -----------------------------------------------------------------------------

    def create_application(
        self,
        service_id: str | None = None,
        *,
        application_type: str = "Usage",
        scope: str = "Individual",
        **fields: Any,
    ) -> dict[str, Any]:
        """Subscribe to a service (``POST /applications/``). Not retried; see ``find_application``."""
        service_id, application_type, scope = application_key(service_id, application_type, scope)
        body: dict[str, Any] = {**fields, "type": application_type, "scope": scope}
        if service_id is not None:
            body["service_id"] = service_id
        return cast("dict[str, Any]", self._request("POST", "/applications/", json=body))

    def get_application(self, application_id: str) -> dict[str, Any]:
        application_id = require_uuid("application_id", application_id)
        return cast("dict[str, Any]", self._request("GET", f"/applications/{application_id}"))

    async def aget_application(self, application_id: str) -> dict[str, Any]:
        """The async twin of ``get_application``, for triggers."""
        application_id = require_uuid("application_id", application_id)
        return cast("dict[str, Any]", await self._arequest("GET", f"/applications/{application_id}"))

    def get_remaining_amount(self, application_id: str) -> float:
        """An application's balance (``remaining_amount``) in Credits."""
        return remaining_amount(self.get_application(application_id))

    async def aget_remaining_amount(self, application_id: str) -> float:
        """The async twin of ``get_remaining_amount``, for triggers."""
        return remaining_amount(await self.aget_application(application_id))

    def iter_applications(
        self,
        *,
        service_id: str | None = None,
        application_type: str | None = None,
        scope: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Yield this account's applications, optionally filtered, oldest first."""
        params = {
            "user_id": self.user_id,
            "service_id": service_id,
            "type": application_type,
            "scope": scope,
            "ordering": "created_at",
        }
        return self._paginate("/applications/", params)

    def find_application(
        self, service_id: str | None, *, application_type: str = "Usage", scope: str = "Individual"
    ) -> dict[str, Any] | None:
        """Return the oldest application matching service, type and scope exactly, or None."""
        service_id, application_type, scope = application_key(service_id, application_type, scope)
        for application in self.iter_applications(
            service_id=service_id, application_type=application_type, scope=scope
        ):
            if (
                application.get("type") == application_type
                and application.get("scope") == scope
                and (scope == "Global" or application.get("service_id") == service_id)
            ):
                return application
        return None

    # -- services ---------------------------------------------------------------------------------

    def iter_services(self, *, service_type: str | None = None) -> Iterator[dict[str, Any]]:
        """Yield the public service catalogue, optionally only services of one ``type`` (``Api``, ``Proxy``, ...)."""
        if service_type is not None:
            service_type = require_choice("service_type", service_type, SERVICE_TYPES)
        return self._paginate("/services/", {"type": service_type})

    def get_service(self, service_id: str) -> dict[str, Any]:
        """Return one service by id.

        Read through the list filter ``GET /services/?id=``, as the official clients do: the detail route
        ``/services/{id}`` has been seen answering 500.
        """
        service_id = require_uuid("service_id", service_id)
        for service in self._paginate("/services/", {"id": service_id}):
            if str(service.get("id", "")).lower() == service_id:
                return service
        raise AceDataNotFoundError(
            f"GET /services/?id={service_id} -> no such service",
            status_code=404,
            method="GET",
            path="/services/",
        )

    def find_service(self, alias: str) -> dict[str, Any] | None:
        """Return the service with this alias (case-insensitive), or None.

        The alias is matched here, page by page, because the server ignores ``?alias=``.
        """
        wanted = require_text("alias", alias).casefold()
        for service in self.iter_services():
            if str(service.get("alias") or "").casefold() == wanted:
                return service
        return None

    # -- credentials ------------------------------------------------------------------------------

    def create_credential(
        self,
        application_id: str,
        *,
        name: str | None = None,
        limited_amount: float | None = None,
        expired_at: str | datetime | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """Create an API key for an application (``POST /credentials/``); its ``token`` is masked at once.

        Not retried: a lost answer may still have created the key (look it up by name). ``limited_amount``
        caps its spend in Credits (None: unlimited); ``expired_at`` ends it (None: never). Other platform
        fields (``host``, ``allowed_api_ids``, ``tags``, ``metadata``) pass through ``fields``.
        """
        body: dict[str, Any] = {**fields, "application_id": require_uuid("application_id", application_id)}
        if name is not None:
            body["name"] = require_text("name", name)
        if limited_amount is not None:
            body["limited_amount"] = require_number("limited_amount", limited_amount, minimum=0)
        if expired_at is not None:
            body["expired_at"] = optional_datetime("expired_at", expired_at)
        return cast("dict[str, Any]", self._request("POST", "/credentials/", json=body))

    def iter_credentials(
        self, *, application_id: str | None = None, name: str | None = None
    ) -> Iterator[dict[str, Any]]:
        """Yield this account's API keys (tokens masked as they arrive), optionally filtered, oldest first."""
        params = {
            "user_id": self.user_id,
            "application_id": None if application_id is None else require_uuid("application_id", application_id),
            "name": name,
            "ordering": "created_at",
        }
        return self._paginate("/credentials/", params)

    def find_credential(self, application_id: str, name: str) -> dict[str, Any] | None:
        """Return the newest API key of the application with exactly this name, or None.

        Newest, because a replacing rotation creates the successor under the same name before it deletes
        the old key: the newer one is the key that stays.
        """
        application_id = require_uuid("application_id", application_id)
        name = require_text("name", name)
        found = None
        for credential in self.iter_credentials(application_id=application_id, name=name):
            if credential.get("name") == name and str(credential.get("application_id", "")).lower() == application_id:
                found = credential
        return None if found is None else self.get_credential(str(found["id"]))

    def get_credential(self, credential_id: str) -> dict[str, Any]:
        credential_id = require_uuid("credential_id", credential_id)
        return cast("dict[str, Any]", self._request("GET", f"/credentials/{credential_id}"))

    def delete_credential(self, credential_id: str) -> None:
        """Delete an API key (it stops working at once); one that is already gone (404) counts as deleted."""
        credential_id = require_uuid("credential_id", credential_id)
        self._delete(f"/credentials/{credential_id}", f"API key {credential_id}")

    def rotate_credential(self, credential_id: str) -> dict[str, Any]:
        """Give an API key a new token in place (``POST /credentials/{id}/rotate/``): same id, old token dead at once.

        Not retried. The route is not in every description of the platform: a 404 (for a key that exists)
        or a 405 means it is missing, and callers fall back to create-new + delete-old
        (see ``ROTATE_UNSUPPORTED_STATUSES``).
        """
        credential_id = require_uuid("credential_id", credential_id)
        return cast("dict[str, Any]", self._request("POST", f"/credentials/{credential_id}/rotate/"))

    # -- monitoring -------------------------------------------------------------------------------

    def iter_usage(self, **filters: Unpack[UsageFilters]) -> Iterator[dict[str, Any]]:
        """Yield this account's call records created in ``[created_at_from, created_at_to)``, oldest first.

        One page is held at a time; credentials come as ``{id, name}`` and token-like values are blanked
        before a record leaves the hook. Filters: ``application_id``, ``service_id``, ``credential_id``,
        ``api_id``, ``status_code`` (each one value or a list).
        """
        return self.iter_records(usage_query(**filters))

    def count_usage(self, **filters: Unpack[UsageFilters]) -> int:
        """How many call records the platform counts for ``iter_usage``'s filters (what it should yield)."""
        return self.count_records(usage_query(**filters))

    def get_usage(self, usage_id: str) -> dict[str, Any]:
        """Return one call record (``GET /usage/apis/{id}``), credential as ``{id, name}``."""
        usage_id = require_uuid("usage_id", usage_id)
        return usage_record(cast("dict[str, Any]", self._request("GET", f"{USAGE_PATH}{usage_id}")))

    def aggregate_usage(
        self, *, start_time: str | datetime, end_time: str | datetime, timezone: str = "UTC", **filters: Any
    ) -> dict[str, Any]:
        """Return spend per day and API (``GET /usage/apis/aggregate/``): ``{total, items, apis}``."""
        start, end = require_interval(start_time, end_time, start_field="start_time", end_field="end_time")
        unknown = sorted(set(filters) - {"application_id", "service_id", "credential_id", "api_id"})
        if unknown:
            raise AceDataInputError(
                f"aggregate_usage got unknown filter(s) {', '.join(unknown)}; allowed: "
                "application_id, service_id, credential_id, api_id"
            )
        params: dict[str, Any] = {
            "start_time": platform_time(start),
            "end_time": platform_time(end),
            "timezone": require_text("timezone", timezone, max_length=64),
        }
        for name, value in filters.items():
            params[name] = optional_uuids(name, value)
        params["user_id"] = self.user_id
        return cast("dict[str, Any]", self._request("GET", f"{USAGE_PATH}aggregate/", params=params))

    def iter_orders(self, **filters: Unpack[OrderFilters]) -> Iterator[dict[str, Any]]:
        """Yield this account's orders, oldest first, ``pay_url``/``pay_id`` blanked.

        Filters: ``state`` (one or a list), and ``created_at_from``/``created_at_to`` together, ``[from, to)``.
        """
        return self.iter_records(order_query(**filters))

    def count_orders(self, **filters: Unpack[OrderFilters]) -> int:
        """How many orders the platform counts in ``[created_at_from, created_at_to)`` (what ``iter_orders`` yields)."""
        return self.count_records(order_query(**filters))

    def get_order(self, order_id: str) -> dict[str, Any]:
        """Return one order (``GET /orders/{id}``) with ``pay_url``/``pay_id`` blanked."""
        order_id = require_uuid("order_id", order_id)
        return order_record(cast("dict[str, Any]", self._request("GET", f"{ORDERS_PATH}{order_id}")))

    def iter_records(self, query: RecordQuery, *, read_ahead: bool = False) -> Iterator[dict[str, Any]]:
        """Yield the records of a monitoring query, oldest first, one page held, secrets blanked.

        Each record is shaped in place as its page arrives (no copy): the pages are the hook's own. With
        ``read_ahead``, the next page is requested (in one helper thread) while this one is used: the
        platform's time and the caller's overlap, two pages held.
        """
        params = {**query.params(self.user_id), "ordering": "created_at"}
        pages = self._pages_ahead(query.path, params) if read_ahead else self._pages(query.path, params)
        return query.within(pages)

    def _pages_ahead(self, path: str, params: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        """``_pages`` with the next page in flight while the caller works through this one."""
        from concurrent.futures import ThreadPoolExecutor

        query = {key: value for key, value in params.items() if value is not None}

        def fetch(offset: int) -> Any:
            return self._request(
                "GET", path, params={**query, "limit": PAGE_SIZE, "offset": offset}, mask_secrets=False
            )

        with ThreadPoolExecutor(1, thread_name_prefix="acedata-read-ahead") as pool:
            pending = pool.submit(fetch, 0)
            offset = 0
            while True:
                page = pending.result()
                items = page.get("items")
                if items is None:
                    items = page.get("results") or []
                if not items:
                    return
                offset += len(items)
                count = page.get("count")
                more = not (isinstance(count, int) and offset >= count)
                if more:
                    pending = pool.submit(fetch, offset)
                del page
                yield from items
                if not more:
                    return

    def count_records(self, query: RecordQuery) -> int:
        """How many records the platform holds in the query's interval ``[start, end)``: one request, usually.

        The count comes with the newest record of ``[start, end]`` (``ordering=-created_at``, ``limit=1``).
        Only when that record sits at exactly ``end`` (the platform read ``created_at_to`` as inclusive) are
        the records at the edge paged and taken off.
        """
        params = self._count_params(query)
        page = self._request("GET", query.path, params={**params, "limit": 1, "offset": 0}, mask_secrets=False)
        count, newest = _count_and_newest(page)
        if newest is None or newest < cast("datetime", query.end):
            return count
        for record in self._pages(query.path, params):
            if created_at(record) < cast("datetime", query.end):
                break
            count -= 1
        return count

    async def acount_records(self, query: RecordQuery) -> int:
        """The async twin of ``count_records``, for triggers (the same requests, on the event loop)."""
        params = self._count_params(query, await self._auser_id())
        page = await self._arequest("GET", query.path, params={**params, "limit": 1, "offset": 0})
        count, newest = _count_and_newest(page)
        offset = 0
        while newest is not None and newest >= cast("datetime", query.end):
            page = await self._arequest("GET", query.path, params={**params, "limit": PAGE_SIZE, "offset": offset})
            items = page.get("items") or []
            for record in items:
                if created_at(record) < cast("datetime", query.end):
                    return count
                count -= 1
            offset += len(items)
            if not items or offset >= int(page.get("count") or 0):
                break
        return count

    def _count_params(self, query: RecordQuery, user_id: str | None = None) -> dict[str, Any]:
        if query.start is None or query.end is None:
            raise AceDataInputError("Counting records needs an interval [created_at_from, created_at_to)")
        return {**query.params(user_id or self.user_id), "ordering": "-created_at"}

    async def _auser_id(self) -> str:
        """The account's id without blocking the event loop: ``GET /platform-tokens/me/`` once per hook."""
        known = self.__dict__.get("user_id") or self.__dict__.get("_user_id")
        if known:
            return str(known)
        user_id = str((await self._arequest("GET", "/platform-tokens/me/"))["id"])
        self.user_id = user_id
        return user_id

    # -- Airflow UI -------------------------------------------------------------------------------

    def test_connection(self) -> tuple[bool, str]:
        """Check the token with one ``GET /platform-tokens/me/``, not retried; never raises, never echoes the token."""
        # Airflow tests a form under a random temporary connection id: naming it would only confuse.
        self._label = "this connection"
        try:
            user = cast("dict[str, Any]", self._request("GET", "/platform-tokens/me/", retry=False))
        except Exception as error:
            return False, self._redact(f"{type(error).__name__}: {error}")
        return True, f"Connected as {user.get('username') or user.get('email') or user.get('id')}"

    # -- HTTP -------------------------------------------------------------------------------------

    def _paginate(self, path: str, params: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        """Yield every item of a ``{count, items}`` collection with its secret values blanked out.

        List pages carry full tokens and API keys; they are dropped as each page arrives rather than
        registered with the masker (whose cost grows with the square of the number of secrets). Read one
        object (``get_*``) to get its secret, masked.
        """
        for item in self._pages(path, params):
            yield without_secrets(item)

    def _pages(self, path: str, params: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        """Yield the raw items of a collection, holding one page at a time; for use inside the hook only."""
        query = {key: value for key, value in params.items() if value is not None}
        offset = 0
        while True:
            page = self._request(
                "GET", path, params={**query, "limit": PAGE_SIZE, "offset": offset}, mask_secrets=False
            )
            items = page.get("items")
            if items is None:
                items = page.get("results") or []
            if not items:
                return
            offset += len(items)
            count = page.get("count")
            del page
            yield from items
            if isinstance(count, int) and offset >= count:
                return

    def _delete(self, path: str, what: str) -> None:
        """DELETE an object; one that is already gone (404) counts as deleted, so clean-ups can be repeated."""
        try:
            self._request("DELETE", path)
        except AceDataNotFoundError:
            self.log.info("%s was already deleted", what)

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        mask_secrets: bool = True,
        retry: bool = True,
    ) -> Any:
        """Send one API call through the sync transport (GET/DELETE retried on transient failures)."""
        return self.sync_transport.request(
            method, path, token=self.token, params=params, json=json, mask_secrets=mask_secrets, retry=retry
        )

    async def _arequest(self, method: str, path: str, *, params: Mapping[str, Any] | None = None) -> Any:
        """Send one API call through the async transport; a 401 re-reads the token once (it may have rotated)."""
        token = await self._atoken()
        try:
            return await self.async_transport.request(method, path, token=token, params=params)
        except AceDataAuthenticationError:
            fresh = await self._atoken(reload=True)
            if fresh == token:
                raise
            self.log.info("Connection %r has a new platform token; retrying with it", self.acedata_conn_id)
            return await self.async_transport.request(method, path, token=fresh, params=params)

    async def _atoken(self, *, reload: bool = False) -> str:
        """The token, read without blocking the event loop: the connection via ``aget_connection``."""
        if reload and self._token_override is None:
            for name in ("connection", "extras", "token"):
                self.__dict__.pop(name, None)
        if "token" not in self.__dict__:
            if "connection" not in self.__dict__ and self._parent is None:
                self.__dict__["connection"] = await self.aget_connection(self.acedata_conn_id)
            if self._token_override is None and self.rotation_variable:
                self.__dict__["token"] = await asyncio.to_thread(self._read_token)
            else:
                self.__dict__["token"] = self._read_token()
        return self.token

    def _redact(self, text: str) -> str:
        """Remove the token from text that may end up in a log or exception."""
        return redact(text, self.__dict__.get("token") or self._token_override)

    def _setting(
        self, name: str, override: float | None, default: _Number, kind: type[_Number], *, minimum: float
    ) -> _Number:
        """Read a numeric setting from the hook argument, else the connection extra, else the default."""
        value = override if override is not None else self.extras.get(name, default)
        try:
            number = kind(value)
        except (TypeError, ValueError):
            raise AceDataConfigError(
                f"{self._label[:1].upper()}{self._label[1:]}: extra {name!r} must be a number, got {value!r}"
            ) from None
        if number < minimum:
            raise AceDataConfigError(
                f"{self._label[:1].upper()}{self._label[1:]}: extra {name!r} must be >= {minimum:g}, got {value!r}"
            )
        return number


def _count_and_newest(page: Mapping[str, Any]) -> tuple[int, datetime | None]:
    """A newest-first page's ``count`` and the ``created_at`` of its first record (None when empty)."""
    items = page.get("items") or []
    return int(page["count"]), created_at(items[0]) if items else None


def remaining_amount(application: Mapping[str, Any]) -> float:
    """An application's ``remaining_amount`` in Credits (DRF may render it as a decimal string)."""
    value = application.get("remaining_amount")
    try:
        return require_number("remaining_amount", value)
    except AceDataInputError:
        raise AceDataError(
            f"Application {application.get('id')} has no usable remaining_amount (got {value!r})"
        ) from None


__all__ = ["AceDataError", "AceDataHook"]
