"""CreateApplicationOperator: subscribe to a service as a DAG step, idempotently."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_provider_acedata.exceptions import AceDataConflictError, AceDataDuplicationError, AceDataInputError
from airflow_provider_acedata.links import AceDataApplicationLink, forget_application, note_application
from airflow_provider_acedata.validation import (
    APPLICATION_SCOPES,
    APPLICATION_TYPES,
    application_key,
    looks_like_uuid,
    require_choice,
    require_text,
)
from airflow_provider_acedata.version_compat import BaseOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_acedata.hooks.acedata import AceDataHook

IF_EXISTS = ("reuse", "fail", "create")
SUMMARY_KEYS = ("id", "service_id", "type", "scope", "remaining_amount")


class CreateApplicationOperator(BaseOperator):
    """Create (or reuse) the application of a service and return its id.

    The id lands in XCom ``return_value`` (use ``task.output`` downstream) and under ``application_id``
    (for the console link); a small summary without credentials (which hold API keys) is pushed under
    the key ``application``.

    :param service_id: UUID of the service to subscribe to; empty for a ``Global`` application.
    :param service_alias: the service's alias (e.g. ``"midjourney"``) instead of its id, resolved at run
        time. Give exactly one of ``service_id`` and ``service_alias`` (neither for ``Global``).
    :param application_type: ``"Usage"`` (pay per call) or ``"Period"`` (time-based).
    :param scope: ``"Individual"`` (one service) or ``"Global"`` (shared balance across services).
    :param if_exists: ``"reuse"`` the existing application of the same service/type/scope, ``"fail"``
        if there is one, or ``"create"`` (always POST; the platform refuses duplicates).
    :param acedata_conn_id: the ``acedata`` connection to use.
    """

    template_fields: Sequence[str] = (
        "service_id",
        "service_alias",
        "application_type",
        "scope",
        "if_exists",
        "acedata_conn_id",
    )
    operator_extra_links = (AceDataApplicationLink(),)

    def __init__(
        self,
        *,
        service_id: str | None = None,
        service_alias: str | None = None,
        application_type: str = "Usage",
        scope: str = "Individual",
        if_exists: str = "reuse",
        acedata_conn_id: str = "acedata_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.service_id = service_id
        self.service_alias = service_alias
        self.application_type = application_type
        self.scope = scope
        self.if_exists = if_exists
        self.acedata_conn_id = acedata_conn_id

    @cached_property
    def hook(self) -> AceDataHook:
        from airflow_provider_acedata.hooks.acedata import AceDataHook

        return AceDataHook(self.acedata_conn_id)

    def _service_alias(self) -> str | None:
        """Check the inputs before any request; the alias to resolve, or None when ``service_id`` is used."""
        require_choice("application_type", self.application_type, APPLICATION_TYPES)
        scope = require_choice("scope", self.scope, APPLICATION_SCOPES)
        has_id = self.service_id not in (None, "")
        has_alias = self.service_alias not in (None, "")
        if has_id and has_alias:
            raise AceDataInputError("Give either service_id or service_alias, not both")
        if has_alias and scope == "Global":
            raise AceDataInputError(
                "service_alias must be empty when scope is 'Global' (a Global application spans all services)"
            )
        if not has_id and not has_alias and scope != "Global":
            raise AceDataInputError(f"A {scope} application needs service_id or service_alias")
        if has_alias:
            return require_text("service_alias", self.service_alias)
        try:
            application_key(self.service_id, self.application_type, scope)
        except AceDataInputError as error:
            if isinstance(self.service_id, str) and not looks_like_uuid(self.service_id):
                raise AceDataInputError(
                    f"{error}; to name a service by its alias, use service_alias={self.service_id!r} instead"
                ) from None
            raise
        return None

    def execute(self, context: Context) -> str:
        forget_application(self)
        if_exists = require_choice("if_exists", self.if_exists, IF_EXISTS)
        alias = self._service_alias()
        service_id = self.service_id
        if alias is not None:
            service = self.hook.find_service(alias)
            if service is None:
                raise AceDataInputError(f"No service has the alias {alias!r}")
            service_id = str(service["id"])
            self.log.info("Service alias %r is service %s", alias, service_id)
        service_id, application_type, scope = application_key(service_id, self.application_type, self.scope)
        key = {"application_type": application_type, "scope": scope}
        what = f"{scope} {application_type} application" + (f" of service {service_id}" if service_id else "")

        application = None if if_exists == "create" else self.hook.find_application(service_id, **key)
        created = application is None
        if application is not None and if_exists == "fail":
            raise AceDataConflictError(f"The {what} already exists ({application['id']}) and if_exists='fail'")
        if application is None:
            try:
                application = self.hook.create_application(service_id, **key)
            except AceDataDuplicationError:
                if if_exists != "reuse":
                    raise
                self.log.info("A concurrent run created the %s first; looking it up", what)
                application = self.hook.find_application(service_id, **key)
                if application is None:
                    raise
                created = False

        self.log.info("%s %s: %s", "Created" if created else "Reusing", what, application["id"])
        summary = {name: application.get(name) for name in SUMMARY_KEYS}
        summary["created"] = created
        context["ti"].xcom_push(key="application", value=summary)
        note_application(self, context, str(application["id"]))
        return str(application["id"])
