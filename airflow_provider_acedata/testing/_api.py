"""The platform API's routes and views over a PlatformStore: auth, validation, paging, DRF-style errors."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from airflow_provider_acedata.testing import _query as q
from airflow_provider_acedata.testing._http import (
    ApiError,
    Response,
    not_found,
    permission_denied,
    validation_error,
)
from airflow_provider_acedata.testing._monitoring import (
    AGGREGATE_QUERY,
    ORDER_QUERY,
    USAGE_QUERY,
    MonitoringStore,
    MonitoringViews,
)
from airflow_provider_acedata.testing._query import canonical as _canonical
from airflow_provider_acedata.testing._query import is_uuid as _is_uuid
from airflow_provider_acedata.testing._store import PlatformStore, format_time

API_PREFIX: Final = "/api/v1"
APPLICATION_TYPES: Final = ("Usage", "Period")
APPLICATION_SCOPES: Final = ("Individual", "Global")
APPLICATION_AFFILIATIONS: Final = ("owner", "granted")
SERVICE_TYPES: Final = ("Api", "Proxy", "Integration", "Dataset", "Introduction", "Agent")
SERVICE_ORDERINGS: Final = ("rank", "-rank", "applied_count", "-applied_count", "updated_at", "-updated_at")
LIST: Final = frozenset({"ordering"}) | q.PAGING
"""Every list route's query parameters besides its filters: ``ordering``, ``limit`` and ``offset``."""
_BODY_METHODS: Final = frozenset({"POST", "PUT", "PATCH"})
_NOT_PROVIDED: Final = "Authentication credentials were not provided."
_INVALID_TOKEN: Final = "Invalid token."

Errors = dict[str, list[str]]


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, else None."""
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip() or None


@dataclass
class Request:
    """A routed request as a view sees it; ``user`` is None only on public routes."""

    method: str
    query: dict[str, list[str]]
    body: Any
    user: dict[str, Any] | None
    params: dict[str, str] = field(default_factory=dict)

    @property
    def user_id(self) -> str:
        """The authenticated user's id (views behind auth only)."""
        assert self.user is not None
        return str(self.user["id"])


View = Callable[[Request], Response]


@dataclass(frozen=True)
class Route:
    """A path pattern (relative to /api/v1), its views by method and the query parameters each method takes.

    ``queries`` holds the ledger's query parameters per method; a method not named there takes ``limit``
    and ``offset`` when it is a GET (the ledger's detail routes) and none otherwise.
    """

    pattern: re.Pattern[str]
    views: dict[str, View]
    public: bool = False
    queries: dict[str, frozenset[str]] = field(default_factory=dict)

    def query_names(self, method: str) -> frozenset[str]:
        """The query parameters the ledger allows for this method on this route."""
        return self.queries.get(method, q.PAGING if method == "GET" else frozenset())


class PlatformApi:
    """Dispatches HTTP requests to views, mimicking the Django REST Framework backend."""

    def __init__(self, store: PlatformStore) -> None:
        self.store = store
        self.monitoring = MonitoringStore(store)
        usage = MonitoringViews(self.monitoring)
        self.routes = [
            self._route(
                r"/platform-tokens",
                GET=self.list_tokens,
                POST=self.create_token,
                query={"GET": {"user_id", "tag"}},
            ),
            self._route(r"/platform-tokens/me", GET=self.me),
            self._route(r"/platform-tokens/(?P<id>[^/]+)", GET=self.get_token, DELETE=self.delete_token),
            self._route(
                r"/services", public=True, GET=self.list_services, query={"GET": {"id", "type", "tag", "private"}}
            ),
            self._route(r"/services/(?P<id>[^/]+)", public=True, GET=self.get_service),
            self._route(r"/services/(?P<id>[^/]+)/apis", public=True, GET=self.list_service_apis, query={"GET": ()}),
            self._route(
                r"/services/(?P<id>[^/]+)/proxies", public=True, GET=self.list_service_proxies, query={"GET": ()}
            ),
            self._route(
                r"/applications",
                GET=self.list_applications,
                POST=self.create_application,
                query={"GET": {"user_id", "service_id", "type", "scope", "affiliation"}},
            ),
            self._route(r"/applications/(?P<id>[^/]+)", GET=self.get_application),
            self._route(
                r"/applications/(?P<id>[^/]+)/update-allow-consume-global",
                POST=self.update_allow_consume_global,
            ),
            self._route(
                r"/credentials",
                GET=self.list_credentials,
                POST=self.create_credential,
                query={"GET": {"user_id", "application_id", "host", "name", "granted"}},
            ),
            self._route(
                r"/credentials/(?P<id>[^/]+)",
                GET=self.get_credential,
                PATCH=self.update_credential,
                PUT=self.update_credential,
                DELETE=self.delete_credential,
            ),
            self._route(r"/credentials/(?P<id>[^/]+)/rotate", POST=self.rotate_credential),
            self._route(r"/usage/apis", GET=usage.list_usage, query={"GET": USAGE_QUERY}),
            self._route(r"/usage/apis/aggregate", GET=usage.aggregate_usage, query={"GET": AGGREGATE_QUERY}),
            self._route(r"/usage/apis/(?P<id>[^/]+)", GET=usage.get_usage),
            self._route(r"/orders", GET=usage.list_orders, query={"GET": ORDER_QUERY}),
            self._route(r"/orders/(?P<id>[^/]+)", GET=usage.get_order),
        ]

    @staticmethod
    def _route(
        path: str, *, public: bool = False, query: dict[str, Iterable[str]] | None = None, **views: View
    ) -> Route:
        """A route; ``query`` names each list method's filters (``ordering`` and paging are added)."""
        queries = {method: frozenset(names) | LIST for method, names in (query or {}).items()}
        return Route(re.compile(f"^{path}/?$"), views, public, queries)

    def handle(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        body: Any,
        body_valid: bool,
        authorization: str | None,
        media_type: str | None = None,
    ) -> Response:
        """Answer one request; never raises for client errors; ``media_type`` names a non-JSON body's type."""
        try:
            return self._dispatch(method, path, query, body, body_valid, authorization, media_type)
        except ApiError as error:
            return error.response()

    def _dispatch(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        body: Any,
        body_valid: bool,
        authorization: str | None,
        media_type: str | None,
    ) -> Response:
        with self.store.lock:
            self.store.apply_due()
            if not path.startswith(API_PREFIX + "/"):
                raise not_found()
            relative = path[len(API_PREFIX) :]
            for route in self.routes:
                match = route.pattern.match(relative)
                if match:
                    break
            else:
                raise not_found()
            user = self._authenticate(authorization, required=not route.public)
            lookup = "GET" if method == "HEAD" else method
            view = route.views.get(lookup)
            if view is None:
                allow = ", ".join(sorted(route.views))
                raise ApiError(405, {"detail": f'Method "{method}" not allowed.'}, {"Allow": allow})
            if method in _BODY_METHODS and media_type is not None:
                raise ApiError(415, {"detail": f'Unsupported media type "{media_type}" in request.'})
            if method in _BODY_METHODS and not body_valid:
                raise ApiError(400, {"detail": "JSON parse error"})
            q.known(query, route.query_names(lookup))
            params = {key: _canonical(value) for key, value in match.groupdict().items()}
            return view(Request(method, query, body, user, params))

    def _authenticate(self, authorization: str | None, *, required: bool) -> dict[str, Any] | None:
        if authorization and authorization.strip().partition(" ")[0].lower() == "bearer":
            token = bearer_token(authorization)
            found = self.store.authenticate(token) if token else None
            if found is None:
                raise _unauthorized(_INVALID_TOKEN)
            return found[0]
        if required:
            raise _unauthorized(_NOT_PROVIDED)
        return None

    def me(self, request: Request) -> Response:
        """``GET /platform-tokens/me/``: who the token belongs to."""
        assert request.user is not None
        return Response(200, dict(request.user, permissions=list(request.user["permissions"])))

    def list_tokens(self, request: Request) -> Response:
        """``GET /platform-tokens/``: the caller's tokens, full values included, as the real API does."""
        q.require_owner(request.query, request.user_id)
        tokens = [t for t in self.store.tokens.values() if t["user_id"] == request.user_id]
        tag = q.last(request.query, "tag")
        if tag:
            tokens = [t for t in tokens if tag in (t["tags"] or [])]
        return q.page(q.ordered(tokens, request.query, q.CREATED), request.query)

    def create_token(self, request: Request) -> Response:
        """``POST /platform-tokens/``: mint a token for the caller."""
        data = _object_body(request.body, allow_empty=True)
        errors: Errors = {}
        tags = _tags(data, errors)
        metadata = _metadata(data, errors)
        _string(data, "user_id", errors)
        if errors:
            raise validation_error(errors)
        if data.get("user_id") not in (None, request.user_id):
            raise permission_denied()
        return Response(201, self.store.add_token(request.user_id, tags=tags, metadata=metadata))

    @staticmethod
    def _own(objects: dict[str, dict[str, Any]], request: Request) -> dict[str, Any]:
        """The caller's object named by the path id; another user's is as good as missing (404)."""
        found = objects.get(request.params["id"])
        if found is None or found["user_id"] != request.user_id:
            raise not_found()
        return found

    def get_token(self, request: Request) -> Response:
        """``GET /platform-tokens/{id}``."""
        return Response(200, self._own(self.store.tokens, request))

    def delete_token(self, request: Request) -> Response:
        """``DELETE /platform-tokens/{id}``: revoke; a token may revoke itself."""
        self.store.delete_token(self._own(self.store.tokens, request)["id"])
        return Response(204)

    def list_services(self, request: Request) -> Response:
        """``GET /services/``: public catalogue, in catalogue order (``rank``) unless ordered otherwise.

        ``alias`` is not a filter here: the real server ignores it (platform-api.md §3.2) and the ledger
        rejects it, so it is a 400 like every parameter the ledger does not list.
        """
        ids = q.uuids(request.query, "id")
        types = q.choices(request.query, "type", SERVICE_TYPES)
        tags = q.values(request.query, "tag")
        private = q.boolean(request.query, "private")
        user_id = request.user_id if request.user else None
        rank = {service_id: position for position, service_id in enumerate(self.store.services)}
        services = [
            self.store.render_service(s, user_id)
            for s in self.store.services.values()
            if (not ids or s["id"] in ids)
            and (not types or s["type"] in types)
            and (not tags or any(t in (s["tags"] or []) for t in tags))
            and (private is None or s["private"] is private)
        ]
        keys = {"rank": lambda service: rank[service["id"]]}
        return q.page(q.ordered(services, request.query, SERVICE_ORDERINGS, default=None, keys=keys), request.query)

    def _service(self, request: Request) -> dict[str, Any]:
        key = request.params["id"]
        for service in self.store.services.values():
            if key in (service["id"], service["alias"]):
                return service
        raise not_found()

    def get_service(self, request: Request) -> Response:
        """``GET /services/{id_or_alias}``."""
        user_id = request.user_id if request.user else None
        return Response(200, self.store.render_service(self._service(request), user_id))

    def list_service_apis(self, request: Request) -> Response:
        """``GET /services/{id_or_alias}/apis/``: the service's APIs that the offline gateway serves."""
        service = self._service(request)
        apis = [api for api in self.store.apis.values() if api["service_id"] == service["id"]]
        return q.page(q.ordered(apis, request.query, q.CREATED, default=None), request.query)

    def list_service_proxies(self, request: Request) -> Response:
        """``GET /services/{id}/proxies/``: the service's proxies (the offline catalogue seeds none)."""
        self._service(request)
        return q.page(q.ordered([], request.query, q.CREATED, default=None), request.query)

    def list_applications(self, request: Request) -> Response:
        """``GET /applications/``: the caller's applications, filtered by service, type and scope."""
        q.require_owner(request.query, request.user_id)
        service_ids = q.uuids(request.query, "service_id")
        types = q.choices(request.query, "type", APPLICATION_TYPES)
        scopes = q.choices(request.query, "scope", APPLICATION_SCOPES)
        affiliations = q.choices(request.query, "affiliation", APPLICATION_AFFILIATIONS) or ["owner"]
        apps = [
            a
            for a in self.store.applications.values()
            if a["user_id"] == request.user_id
            and (not service_ids or a["service_id"] in service_ids)
            and (not types or a["type"] in types)
            and (not scopes or a["scope"] in scopes)
            and "owner" in affiliations
        ]
        ordered = q.ordered(apps, request.query, q.CREATED)
        return q.page([self.store.render_application(a) for a in ordered], request.query)

    def create_application(self, request: Request) -> Response:
        """``POST /applications/``: subscribe to a service; one application per (service, type, scope)."""
        data = _object_body(request.body)
        errors: Errors = {}
        type_ = _choice(data, "type", APPLICATION_TYPES, "Usage", errors)
        scope = _choice(data, "scope", APPLICATION_SCOPES, "Individual", errors)
        service_id = data.get("service_id")
        if scope == "Global":
            if service_id is not None:
                errors["service_id"] = ["Must be empty for a Global application."]
        elif service_id is None:
            errors["service_id"] = ["This field is required." if "service_id" not in data else _NULL]
        elif not _is_uuid(service_id):
            errors["service_id"] = ["Must be a valid UUID."]
        tags = _tags(data, errors)
        metadata = _metadata(data, errors)
        allow_consume_global = _boolean(data, "allow_consume_global", True, errors)
        expired_at = _datetime(data, "expired_at", errors)
        if errors:
            raise validation_error(errors)
        app = self.store.add_application(
            request.user_id,
            _canonical(service_id) if service_id is not None else None,
            type_=type_,
            scope=scope,
            tags=tags,
            metadata=metadata,
            allow_consume_global=allow_consume_global,
            expired_at=expired_at,
        )
        return Response(201, self.store.render_application(app))

    def get_application(self, request: Request) -> Response:
        """``GET /applications/{id}``: includes current credentials and balance."""
        return Response(200, self.store.render_application(self._own(self.store.applications, request)))

    def update_allow_consume_global(self, request: Request) -> Response:
        """``POST /applications/{id}/update-allow-consume-global/``: whether it may spend the Global balance."""
        app = self._own(self.store.applications, request)
        data = _object_body(request.body)
        errors: Errors = {}
        if "allow_consume_global" not in data:
            errors["allow_consume_global"] = ["This field is required."]
        value = _boolean(data, "allow_consume_global", app["allow_consume_global"], errors)
        if errors:
            raise validation_error(errors)
        app["allow_consume_global"] = value
        app["updated_at"] = self.store.now()
        return Response(200, self.store.render_application(app))

    def list_credentials(self, request: Request) -> Response:
        """``GET /credentials/``: the caller's API keys, full tokens included."""
        q.require_owner(request.query, request.user_id)
        application_ids = q.uuids(request.query, "application_id")
        names = q.values(request.query, "name")
        hosts = q.values(request.query, "host")
        granted = q.boolean(request.query, "granted")
        credentials = [
            c
            for c in self.store.credentials.values()
            if c["user_id"] == request.user_id
            and (not application_ids or c["application_id"] in application_ids)
            and (not names or c["name"] in names)
            and (not hosts or c["host"] in hosts)
            and (granted is None or (c["creator_id"] != request.user_id) is granted)
        ]
        return q.page(q.ordered(credentials, request.query, q.CREATED), request.query)

    def create_credential(self, request: Request) -> Response:
        """``POST /credentials/``: a new API key for one of the caller's applications."""
        data = _object_body(request.body)
        errors: Errors = {}
        application_id = data.get("application_id")
        if application_id is None:
            errors["application_id"] = ["This field is required." if "application_id" not in data else _NULL]
        elif not _is_uuid(application_id):
            errors["application_id"] = ["Must be a valid UUID."]
        else:
            app = self.store.applications.get(_canonical(application_id))
            if app is None or app["user_id"] != request.user_id:
                errors["application_id"] = [f'Invalid pk "{application_id}" - object does not exist.']
        owner = self._grantee(data, errors) or request.user_id
        fields = _credential_fields(data, errors)
        fields["tags"] = _tags(data, errors)
        fields["metadata"] = _metadata(data, errors)
        if errors:
            raise validation_error(errors)
        credential = self.store.add_credential(owner, _canonical(application_id), creator_id=request.user_id, **fields)
        return Response(201, credential)

    def _grantee(self, data: dict[str, Any], errors: Errors) -> str | None:
        """The user a new key is granted to (``for_user_id``), when one is named and exists."""
        value = data.get("for_user_id")
        if value is None:
            return None
        if not _is_uuid(value):
            errors["for_user_id"] = ["Must be a valid UUID."]
        elif _canonical(value) not in self.store.users:
            errors["for_user_id"] = [f'Invalid pk "{value}" - object does not exist.']
        else:
            return _canonical(value)
        return None

    def get_credential(self, request: Request) -> Response:
        """``GET /credentials/{id}``."""
        return Response(200, self._own(self.store.credentials, request))

    def update_credential(self, request: Request) -> Response:
        """``PATCH /credentials/{id}``: change name, limited_amount, expired_at, host, tags or metadata."""
        credential = self._own(self.store.credentials, request)
        data = _object_body(request.body, allow_empty=True)
        errors: Errors = {}
        changes = _credential_fields(data, errors, partial=True)
        if "tags" in data:
            changes["tags"] = _tags(data, errors)
        if "metadata" in data:
            changes["metadata"] = _metadata(data, errors)
        if errors:
            raise validation_error(errors)
        return Response(200, self.store.update_credential(credential["id"], changes))

    def delete_credential(self, request: Request) -> Response:
        """``DELETE /credentials/{id}``: the key stops working at once."""
        del self.store.credentials[self._own(self.store.credentials, request)["id"]]
        return Response(204)

    def rotate_credential(self, request: Request) -> Response:
        """``POST /credentials/{id}/rotate/``: same id, new token."""
        return Response(200, self.store.rotate_credential(self._own(self.store.credentials, request)["id"]))


_NULL: Final = "This field may not be null."


def _unauthorized(detail: str) -> ApiError:
    return ApiError(401, {"detail": detail}, {"WWW-Authenticate": 'Bearer realm="api"'})


def _object_body(body: Any, *, allow_empty: bool = False) -> dict[str, Any]:
    if body is None and allow_empty:
        return {}
    if not isinstance(body, dict):
        message = f"Invalid data. Expected a dictionary, but got {type(body).__name__}."
        raise validation_error({"non_field_errors": [message]})
    return body


def _choice(data: dict[str, Any], name: str, allowed: tuple[str, ...], default: str, errors: Errors) -> str:
    value = data.get(name, default)
    if value is None:
        errors[name] = [_NULL]
    elif value not in allowed:
        errors[name] = [f'"{value}" is not a valid choice.']
    else:
        return str(value)
    return default


def _tags(data: dict[str, Any], errors: Errors) -> list[str] | None:
    value = data.get("tags")
    if value is None:
        return None
    if not isinstance(value, list):
        errors["tags"] = [f'Expected a list of items but got type "{type(value).__name__}".']
        return None
    if not all(isinstance(item, str) for item in value):
        errors["tags"] = ["Not a valid string."]
        return None
    return value


def _metadata(data: dict[str, Any], errors: Errors) -> dict[str, Any] | None:
    value = data.get("metadata")
    if value is None or isinstance(value, dict):
        return value
    errors["metadata"] = [f'Expected a dictionary of items but got type "{type(value).__name__}".']
    return None


def _boolean(data: dict[str, Any], name: str, default: bool, errors: Errors) -> bool:
    value = data.get(name, default)
    if isinstance(value, bool):
        return value
    errors[name] = [_NULL if value is None else "Must be a valid boolean."]
    return default


def _datetime(data: dict[str, Any], name: str, errors: Errors) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    try:
        if not isinstance(value, str):
            raise ValueError(value)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        errors[name] = [
            "Datetime has wrong format. Use one of these formats instead: "
            "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."
        ]
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return format_time(moment)


def _string(data: dict[str, Any], name: str, errors: Errors, max_length: int = 255) -> str | None:
    value = data.get(name)
    if value is None or (isinstance(value, str) and len(value) <= max_length):
        return value
    if isinstance(value, str):
        errors[name] = [f"Ensure this field has no more than {max_length} characters."]
    else:
        errors[name] = ["Not a valid string."]
    return None


def _amount(data: dict[str, Any], name: str, errors: Errors) -> float | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        errors[name] = ["A valid number is required."]
        return None
    if value < 0:
        errors[name] = ["Ensure this value is greater than or equal to 0."]
        return None
    return value


def _uuid_list(data: dict[str, Any], name: str, errors: Errors) -> list[str]:
    """A list of UUIDs (``null`` or absent = empty, unrestricted), canonicalised."""
    value = data.get(name)
    if value is None:
        return []
    if not isinstance(value, list):
        errors[name] = [f'Expected a list of items but got type "{type(value).__name__}".']
        return []
    bad = [item for item in value if not _is_uuid(item)]
    if bad:
        errors[name] = [f"“{bad[0]}” is not a valid UUID."]
        return []
    return [_canonical(item) for item in value]


def _credential_fields(data: dict[str, Any], errors: Errors, *, partial: bool = False) -> dict[str, Any]:
    """Validated ``name``, ``limited_amount``, ``expired_at``, ``host``; with ``partial`` only those sent."""
    readers: dict[str, Callable[[], Any]] = {
        "name": lambda: _string(data, "name", errors),
        "limited_amount": lambda: _amount(data, "limited_amount", errors),
        "expired_at": lambda: _datetime(data, "expired_at", errors),
        "host": lambda: _string(data, "host", errors),
        "allowed_api_ids": lambda: _uuid_list(data, "allowed_api_ids", errors),
    }
    return {key: read() for key, read in readers.items() if not partial or key in data}
