"""AceDataHook: the one place that talks HTTP to the Ace Data Cloud platform API."""

from __future__ import annotations

import hmac
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from airflow_provider_acedata import DEFAULT_HOST
from airflow_provider_acedata.exceptions import AceDataError, AceDataInputError, AceDataNotFoundError
from airflow_provider_acedata.hooks._base import AceDataBaseHook
from airflow_provider_acedata.masking import without_secrets
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

if TYPE_CHECKING:
    from typing import Self

    from typing_extensions import Unpack

    from airflow_provider_acedata.hooks._base import HookSettings
    from airflow_provider_acedata.queries import OrderFilters, UsageFilters

PAGE_SIZE = 100
ROTATE_UNSUPPORTED_STATUSES = frozenset({404, 405})


class AceDataHook(AceDataBaseHook):
    """Talk to the Ace Data Cloud platform API with the platform token of an ``acedata`` connection.

    The platform's resources live here: platform tokens, applications, services, API keys (credentials),
    call records and orders. The connection, its token (or the Variable named by the extra
    ``rotation_variable``), its settings and the HTTP plumbing live in
    :class:`~airflow_provider_acedata.hooks._base.AceDataBaseHook`, shared with ``AceDataApiHook``.

    :param acedata_conn_id: the Airflow connection holding the base URL (host) and token (password).
    :param user_id: the account's id, when known, so that owner lists need no ``/platform-tokens/me/`` call.
    :param settings: ``timeout``, ``retry_limit``, ``retry_delay``, ``max_retry_wait`` and ``token``
        (:class:`~airflow_provider_acedata.hooks._base.HookSettings`).
    """

    conn_name_attr = "acedata_conn_id"
    default_conn_name = "acedata_default"
    conn_type = "acedata"
    hook_name = "Ace Data Cloud"
    default_host = DEFAULT_HOST
    api_root = "/api/v1"
    secret_name = "Platform Token"

    def __init__(
        self, acedata_conn_id: str = default_conn_name, *, user_id: str | None = None, **settings: Unpack[HookSettings]
    ) -> None:
        super().__init__(acedata_conn_id, **settings)
        self.acedata_conn_id = acedata_conn_id
        self._user_id = None if user_id is None else require_uuid("user_id", user_id)

    def with_token(self, token: str, *, user_id: str | None = None) -> Self:
        """A hook for the same connection that authenticates with ``token``, sharing this hook's session.

        Give ``user_id`` when the token's account is known, to skip the ``/platform-tokens/me/`` call.
        """
        sibling = super().with_token(token)
        sibling._user_id = None if user_id is None else require_uuid("user_id", user_id)
        return sibling

    def check_secret(self, secret: str, source: str) -> None:
        if not secret.startswith("platform-"):
            self.log.warning(
                "The token from %s does not start with 'platform-'; a user JWT works but expires. "
                "Create a platform token in the console for unattended use.",
                source,
            )

    @property
    def rotation_variable(self) -> str | None:
        """The extra ``rotation_variable``: an Airflow Variable that, once set, overrides the password."""
        return self.family.source.rotation_variable

    @property
    def user_id(self) -> str:
        """The id of the account the token belongs to; owner lists must send it (read once, unless told)."""
        if self._user_id is None:
            self._user_id = str(self.get_current_user()["id"])
        return self._user_id

    @user_id.setter
    def user_id(self, user_id: str) -> None:
        self._user_id = require_uuid("user_id", user_id)

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
                items, offset, more = _page_items(pending.result(), offset)
                if more:
                    pending = pool.submit(fetch, offset)
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
            items, offset, more = _page_items(page, offset)
            for record in items:
                if created_at(record) < cast("datetime", query.end):
                    return count
                count -= 1
            if not more:
                break
        return count

    def _count_params(self, query: RecordQuery, user_id: str | None = None) -> dict[str, Any]:
        if query.start is None or query.end is None:
            raise AceDataInputError("Counting records needs an interval [created_at_from, created_at_to)")
        return {**query.params(user_id or self.user_id), "ordering": "-created_at"}

    async def _auser_id(self) -> str:
        """The account's id without blocking the event loop: ``GET /platform-tokens/me/`` once per hook."""
        if self._user_id is None:
            self.user_id = str((await self._arequest("GET", "/platform-tokens/me/"))["id"])
        return self.user_id

    # -- Airflow UI -------------------------------------------------------------------------------

    def test_connection(self) -> tuple[bool, str]:
        """Check the token with one ``GET /platform-tokens/me/``, not retried; never raises, never echoes the token."""
        # Airflow tests a form under a random temporary connection id: naming it would only confuse.
        self.family.source.where = "this connection"
        try:
            user = cast("dict[str, Any]", self._request("GET", "/platform-tokens/me/", retry=False))
        except Exception as error:
            return False, self._redact(f"{type(error).__name__}: {error}")
        return True, f"Connected as {user.get('username') or user.get('email') or user.get('id')}"

    # -- paging -----------------------------------------------------------------------------------

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
            items, offset, more = _page_items(page, offset)
            yield from items
            if not more:
                return

    def _delete(self, path: str, what: str) -> None:
        """DELETE an object; one that is already gone (404) counts as deleted, so clean-ups can be repeated."""
        try:
            self._request("DELETE", path)
        except AceDataNotFoundError:
            self.log.info("%s was already deleted", what)


def _page_items(page: Mapping[str, Any], offset: int) -> tuple[list[dict[str, Any]], int, bool]:
    """A page's items (``items``, or DRF's ``results``), the offset after them, and whether a next page is due.

    An empty page ends the walk; so does reaching ``count`` where the platform sends one.
    """
    items = page.get("items")
    if items is None:
        items = page.get("results") or []
    offset += len(items)
    count = page.get("count")
    return items, offset, bool(items) and not (isinstance(count, int) and offset >= count)


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


__all__ = ["AceDataHook"]
