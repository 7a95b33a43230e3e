"""AceDataHook: the one place that talks HTTP to the Ace Data Cloud platform API."""

from __future__ import annotations

import hmac
import ipaddress
import random
import time
from collections.abc import Iterator, Mapping
from datetime import datetime
from email.utils import parsedate_to_datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar, cast
from urllib.parse import urlsplit

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from airflow_provider_acedata import DEFAULT_HOST, __version__
from airflow_provider_acedata.exceptions import (
    AceDataApiError,
    AceDataAuthenticationError,
    AceDataConfigError,
    AceDataDuplicationError,
    AceDataError,
    AceDataInputError,
    AceDataNotFoundError,
    AceDataPermissionError,
    AceDataRateLimitError,
    AceDataServerError,
    AceDataTransportError,
    AceDataValidationError,
)
from airflow_provider_acedata.masking import mask, mask_payload, without_secrets
from airflow_provider_acedata.records import created_at, order_record, usage_record, within
from airflow_provider_acedata.validation import (
    ORDER_STATES,
    SERVICE_TYPES,
    application_key,
    optional_choices,
    optional_datetime,
    optional_status_codes,
    optional_uuids,
    platform_time,
    require_choice,
    require_interval,
    require_number,
    require_text,
    require_uuid,
)
from airflow_provider_acedata.version_compat import AIRFLOW_VERSION, BaseHook, Variable

_Number = TypeVar("_Number", int, float)

if TYPE_CHECKING:
    import requests
    from airflow.sdk import Connection

PAGE_SIZE = 100
MAX_BACKOFF = 60.0
MAX_RETRY_AFTER = 300.0
IDEMPOTENT_METHODS = frozenset({"GET", "DELETE"})
ROTATE_UNSUPPORTED_STATUSES = frozenset({404, 405})


class AceDataHook(BaseHook):
    """Talk to the Ace Data Cloud platform API with the platform token of an ``acedata`` connection.

    One ``requests.Session`` per hook, a finite timeout on every request, no redirects, retries with
    exponential backoff for GET/DELETE only, and API errors turned into the types in
    :mod:`airflow_provider_acedata.exceptions`.

    :param acedata_conn_id: the Airflow connection holding the base URL (host) and token (password).
    :param timeout: seconds per request; overrides the connection extra ``timeout`` (default 30).
    :param retry_limit: retries of a GET/DELETE; overrides the extra ``retry_limit`` (default 3).
    :param retry_delay: base of the exponential backoff; overrides the extra ``retry_delay`` (default 1).
    :param token: use this token instead of the connection's (e.g. to test a freshly rotated one).
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
        token: str | None = None,
    ) -> None:
        super().__init__()
        self.acedata_conn_id = acedata_conn_id
        self._timeout = timeout
        self._retry_limit = retry_limit
        self._retry_delay = retry_delay
        if token is not None:
            mask(token)
        self._token_override = token

    def __repr__(self) -> str:
        return f"{type(self).__name__}(acedata_conn_id={self.acedata_conn_id!r})"

    # -- connection -------------------------------------------------------------------------------

    @cached_property
    def connection(self) -> Connection:
        """The Airflow connection, fetched once (its password is masked by Airflow on fetch)."""
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
        return _base_url(self.connection.host, self.connection.port, self.connection.schema)

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
    def token(self) -> str:
        """The platform token: the ``token_variable`` Variable if set, else the connection password."""
        token = self._token_override
        source = "the token argument"
        if token is None and (variable := self.extras.get("token_variable")):
            token = Variable.get(str(variable), default=None)
            source = f"Variable {variable!r}"
        if token is None:
            token = self.connection.password
            source = f"the password of connection {self.acedata_conn_id!r}"
        token = (token or "").strip()
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
    def session(self) -> requests.Session:
        """One HTTP session per hook: keep-alive, bearer auth and our User-Agent."""
        import requests  # imported here, not at DAG parse time (it costs ~100 ms)

        from airflow_provider_acedata.auth import BearerAuth

        session = requests.Session()
        session.auth = BearerAuth(self.token)
        session.headers.update(
            {
                "Accept": "application/json",
                "User-Agent": f"airflow-provider-acedata/{__version__} apache-airflow/{AIRFLOW_VERSION} "
                f"python-requests/{requests.__version__}",
            }
        )
        return session

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

    def iter_usage(
        self,
        *,
        created_at_from: str | datetime,
        created_at_to: str | datetime,
        application_id: str | list[str] | None = None,
        service_id: str | list[str] | None = None,
        credential_id: str | list[str] | None = None,
        api_id: str | list[str] | None = None,
        status_code: int | str | list[int | str] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Yield this account's call records created in ``[from, to)``, oldest first, one page held.

        Credentials come as ``{id, name}`` and token-like values are blanked before a record leaves the hook.
        """
        start, end = require_interval(
            created_at_from, created_at_to, start_field="created_at_from", end_field="created_at_to"
        )
        params = self._usage_params(start, end, application_id, service_id, credential_id, api_id, status_code)
        records = self._paginate("/usage/apis/", {**params, "ordering": "created_at"})
        return (usage_record(record) for record in within(records, start, end))

    def count_usage(
        self,
        *,
        created_at_from: str | datetime,
        created_at_to: str | datetime,
        application_id: str | list[str] | None = None,
        service_id: str | list[str] | None = None,
        credential_id: str | list[str] | None = None,
        api_id: str | list[str] | None = None,
        status_code: int | str | list[int | str] | None = None,
    ) -> int:
        """How many call records the platform counts in ``[from, to)`` (what ``iter_usage`` should yield)."""
        start, end = require_interval(
            created_at_from, created_at_to, start_field="created_at_from", end_field="created_at_to"
        )
        params = self._usage_params(start, end, application_id, service_id, credential_id, api_id, status_code)
        return self._count_before("/usage/apis/", params, end)

    def get_usage(self, usage_id: str) -> dict[str, Any]:
        """Return one call record (``GET /usage/apis/{id}``), credential as ``{id, name}``."""
        usage_id = require_uuid("usage_id", usage_id)
        return usage_record(cast("dict[str, Any]", self._request("GET", f"/usage/apis/{usage_id}")))

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
        return cast("dict[str, Any]", self._request("GET", "/usage/apis/aggregate/", params=params))

    def iter_orders(
        self,
        *,
        state: str | list[str] | None = None,
        created_at_from: str | datetime | None = None,
        created_at_to: str | datetime | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Yield this account's orders, oldest first, ``pay_url``/``pay_id`` blanked; bounds form ``[from, to)``."""
        params, start, end = self._order_params(state, created_at_from, created_at_to)
        records: Iterator[dict[str, Any]] = self._paginate("/orders/", {**params, "ordering": "created_at"})
        if start is not None and end is not None:
            records = within(records, start, end)
        return (order_record(record) for record in records)

    def count_orders(
        self,
        *,
        state: str | list[str] | None = None,
        created_at_from: str | datetime,
        created_at_to: str | datetime,
    ) -> int:
        """How many orders the platform counts in ``[from, to)`` (what ``iter_orders`` should yield)."""
        params, _, end = self._order_params(state, created_at_from, created_at_to)
        assert end is not None
        return self._count_before("/orders/", params, end)

    def get_order(self, order_id: str) -> dict[str, Any]:
        """Return one order (``GET /orders/{id}``) with ``pay_url``/``pay_id`` blanked."""
        order_id = require_uuid("order_id", order_id)
        return order_record(cast("dict[str, Any]", self._request("GET", f"/orders/{order_id}")))

    def _usage_params(
        self,
        start: datetime,
        end: datetime,
        application_id: object,
        service_id: object,
        credential_id: object,
        api_id: object,
        status_code: object,
    ) -> dict[str, Any]:
        return {
            "created_at_from": platform_time(start),
            "created_at_to": platform_time(end),
            "application_id": optional_uuids("application_id", application_id),
            "service_id": optional_uuids("service_id", service_id),
            "credential_id": optional_uuids("credential_id", credential_id),
            "api_id": optional_uuids("api_id", api_id),
            "status_code": optional_status_codes("status_code", status_code),
            "user_id": self.user_id,
        }

    def _order_params(
        self, state: object, created_at_from: object, created_at_to: object
    ) -> tuple[dict[str, Any], datetime | None, datetime | None]:
        states = optional_choices("state", state, ORDER_STATES)
        start = end = None
        if created_at_from not in (None, "") and created_at_to not in (None, ""):
            start, end = require_interval(
                created_at_from, created_at_to, start_field="created_at_from", end_field="created_at_to"
            )
        elif created_at_from not in (None, "") or created_at_to not in (None, ""):
            raise AceDataInputError(
                "created_at_from and created_at_to must be given together (the interval [from, to))"
            )
        params = {
            "state": states,
            "created_at_from": None if start is None else platform_time(start),
            "created_at_to": None if end is None else platform_time(end),
            "user_id": self.user_id,
        }
        return params, start, end

    def _count_before(self, path: str, params: Mapping[str, Any], end: datetime) -> int:
        """The platform's ``count`` for a query, less records at exactly ``end`` (an inclusive ``created_at_to``)."""
        query = {key: value for key, value in params.items() if value is not None}
        page = self._request("GET", path, params={**query, "limit": 1, "offset": 0})
        count = int(page["count"])
        for record in self._paginate(path, {**query, "ordering": "-created_at"}):
            if created_at(record) < end:
                break
            count -= 1
        return count

    # -- Airflow UI -------------------------------------------------------------------------------

    def test_connection(self) -> tuple[bool, str]:
        """Check the token with ``GET /platform-tokens/me/``; never raises, never echoes the token."""
        try:
            user = self.get_current_user()
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
    ) -> Any:
        """Send one API call; GET and DELETE are retried on transient failures, anything else never is."""
        if method not in IDEMPOTENT_METHODS or self.retry_limit == 0:
            return self._send(method, path, params, json, mask_secrets)
        retrying = Retrying(
            stop=stop_after_attempt(self.retry_limit + 1),
            wait=self._backoff,
            retry=retry_if_exception(_is_transient),
            before_sleep=self._log_retry,
            sleep=_sleep,
            reraise=True,
        )
        return retrying(self._send, method, path, params, json, mask_secrets)

    def _send(
        self, method: str, path: str, params: Mapping[str, Any] | None, json: Any, mask_secrets: bool = True
    ) -> Any:
        import requests

        session = self.session
        started = time.monotonic()
        try:
            response = session.request(
                method,
                f"{self.api_url}{path}",
                params=params,
                json=json,
                timeout=self.timeout,
                allow_redirects=False,
            )
        except requests.Timeout:
            raise AceDataTransportError(
                f"{method} {path} got no answer within {self.timeout:g}s (timeout)",
                method=method,
                path=path,
                timed_out=True,
            ) from None
        except requests.RequestException as error:
            raise AceDataTransportError(
                self._redact(f"{method} {path} failed before an answer: {type(error).__name__}: {error}"),
                method=method,
                path=path,
            ) from None
        self.log.debug("%s %s -> %s (%.0f ms)", method, path, response.status_code, (time.monotonic() - started) * 1000)
        if response.status_code >= 300:
            raise self._api_error(response, method, path)
        if response.status_code == 204 or not response.content:
            return None
        try:
            payload = response.json()
        except ValueError:
            raise AceDataApiError(
                f"{method} {path} -> {response.status_code}: the answer is not JSON",
                status_code=response.status_code,
                method=method,
                path=path,
                code="invalid_response",
            ) from None
        if mask_secrets:
            mask_payload(payload)
        return payload

    def _api_error(self, response: requests.Response, method: str, path: str) -> AceDataApiError:
        """Turn an error answer into the matching exception, keeping status, code and message."""
        status = response.status_code
        try:
            body = response.json()
        except ValueError:
            body = None
        code, message, field_errors = _parse_error_body(body)
        if message is None and body is None:
            message = response.text.strip()[:200] or response.reason or None
        if 300 <= status < 400:
            location = urlsplit(response.headers.get("Location", "")).path
            message = f"redirect to {location!r} not followed; check the connection host ({self.base_url})"
        if code == "duplication" or status == 409:
            kind: type[AceDataApiError] = AceDataDuplicationError
        elif status in _ERRORS_BY_STATUS:
            kind = _ERRORS_BY_STATUS[status]
        elif status >= 500:
            kind = AceDataServerError
        else:
            kind = AceDataApiError
        text = f"{method} {path} -> {status}"
        if code:
            text += f" [{code}]"
        if message:
            text += f": {message}"
        if field_errors:
            text += f" {field_errors}"
        if status == 403:
            text += " (owner lists need user_id; the token may lack this permission)"
        return kind(
            self._redact(text),
            status_code=status,
            method=method,
            path=path,
            code=code,
            api_message=self._redact(message) if message else None,
            field_errors={key: self._redact(str(value)) for key, value in field_errors.items()},
            request_id=response.headers.get("X-Request-Id") or response.headers.get("X-Trace-Id"),
            retry_after=_retry_after(response.headers.get("Retry-After")),
        )

    def _redact(self, text: str) -> str:
        """Remove the token from text that may end up in a log or exception."""
        token = self.__dict__.get("token") or self._token_override
        return text.replace(token, "***") if token else text

    def _backoff(self, state: RetryCallState) -> float:
        """Honour ``Retry-After`` when the server gives one; else exponential backoff with jitter."""
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, AceDataApiError) and error.retry_after is not None:
            return min(error.retry_after, MAX_RETRY_AFTER)
        delay = min(self.retry_delay * 2.0 ** (state.attempt_number - 1), MAX_BACKOFF)
        return delay + random.uniform(0, delay / 10)

    def _log_retry(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0
        self.log.warning("%s; retry %d of %d in %.1fs", error, state.attempt_number, self.retry_limit, wait)

    def _setting(
        self, name: str, override: float | None, default: _Number, kind: type[_Number], *, minimum: float
    ) -> _Number:
        """Read a numeric setting from the hook argument, else the connection extra, else the default."""
        value = override if override is not None else self.extras.get(name, default)
        try:
            number = kind(value)
        except (TypeError, ValueError):
            raise AceDataConfigError(
                f"Connection {self.acedata_conn_id!r}: extra {name!r} must be a number, got {value!r}"
            ) from None
        if number < minimum:
            raise AceDataConfigError(
                f"Connection {self.acedata_conn_id!r}: extra {name!r} must be >= {minimum:g}, got {value!r}"
            )
        return number


_ERRORS_BY_STATUS: dict[int, type[AceDataApiError]] = {
    400: AceDataValidationError,
    401: AceDataAuthenticationError,
    403: AceDataPermissionError,
    404: AceDataNotFoundError,
    429: AceDataRateLimitError,
}


def _sleep(seconds: float) -> None:
    time.sleep(seconds)


def _is_transient(error: BaseException) -> bool:
    """Worth retrying a GET/DELETE: no answer, throttled, or a server failure."""
    return isinstance(error, AceDataTransportError | AceDataRateLimitError | AceDataServerError)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _base_url(host: str | None, port: int | None, schema: str | None) -> str:
    """Normalise the connection host (URL or bare host, with optional port) to ``scheme://host[:port]``."""
    raw = (host or DEFAULT_HOST).strip().rstrip("/")
    if "://" not in raw:
        bare = urlsplit(f"//{raw}").hostname or ""
        scheme = schema if schema in ("http", "https") else ("http" if _is_loopback(bare) else "https")
        raw = f"{scheme}://{raw}"
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AceDataConfigError(f"Connection host must be a URL such as {DEFAULT_HOST!r}, got {host!r}")
    if parts.username or parts.password:
        raise AceDataConfigError("Connection host must not contain credentials; put the token in the password")
    if parts.scheme != "https" and not _is_loopback(parts.hostname):
        raise AceDataConfigError(
            f"Connection host {parts.hostname!r} must use https (plain http is allowed for loopback only)"
        )
    netloc = parts.netloc
    if port and parts.port is None:
        netloc = f"{netloc}:{port}"
    path = parts.path.rstrip("/").removesuffix("/api/v1")
    return f"{parts.scheme}://{netloc}{path}"


def _parse_error_body(body: Any) -> tuple[str | None, str | None, dict[str, Any]]:
    """Read both error dialects: DRF (``detail``, ``code``, field dict) and gateway (``error``)."""
    if not isinstance(body, dict):
        return None, (str(body)[:200] if body else None), {}
    code = body.get("code")
    message: Any = None
    field_errors: dict[str, Any] = {}
    if isinstance(body.get("error"), dict):
        code = code or body["error"].get("code")
        message = body["error"].get("message")
    detail = body.get("detail")
    if isinstance(detail, dict):
        code = code or detail.get("code")
        message = message or detail.get("message") or detail.get("detail")
    elif detail is not None:
        message = message or detail
    if message is None:
        field_errors = {key: value for key, value in body.items() if key not in ("code", "error", "trace_id", "detail")}
        if "non_field_errors" in field_errors:
            message = field_errors.pop("non_field_errors")
    if isinstance(message, list):
        message = " ".join(str(item) for item in message)
    return (str(code) if code else None), (str(message) if message else None), field_errors


def _retry_after(value: str | None) -> float | None:
    """Parse ``Retry-After`` (seconds or an HTTP date) into seconds from now."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


__all__ = ["AceDataError", "AceDataHook"]
