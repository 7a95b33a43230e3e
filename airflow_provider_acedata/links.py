"""Extra links from Airflow task instances to the Ace Data Cloud console."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from airflow_provider_acedata import DEFAULT_HOST
from airflow_provider_acedata.version_compat import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey

APPLICATION_ID_KEY = "application_id"
"""The XCom key under which operators push the id of the application they created or used."""

_NOTED = "_acedata_application_id"
"""The operator attribute that says which application id this run of the operator pushed (None: none yet)."""

log = logging.getLogger(__name__)
_UNKNOWN = object()


def forget_application(operator: object) -> None:
    """Mark the start of an ``execute``: this run of ``operator`` has pushed no application id yet."""
    setattr(operator, _NOTED, None)


def note_application(operator: object, context: Any, application_id: str) -> None:
    """Push ``application_id`` (XCom ``application_id``) for the console link, and remember it on ``operator``."""
    context["ti"].xcom_push(key=APPLICATION_ID_KEY, value=application_id)
    setattr(operator, _NOTED, application_id)


def console_base_url(acedata_conn_id: str | None) -> str:
    """The console's base URL: the connection's platform host, or the public platform if it cannot be read."""
    if acedata_conn_id:
        from airflow_provider_acedata.hooks.acedata import AceDataHook

        try:
            return AceDataHook(acedata_conn_id).base_url
        except Exception as error:
            log.debug("Console link falls back to %s: %s", DEFAULT_HOST, type(error).__name__)
    return DEFAULT_HOST


def application_console_url(application_id: str, acedata_conn_id: str | None = None) -> str:
    """The console's applications page, where the application (and its top-up) is.

    The console has no page per application id that any public source shows: the official docs link
    ``/console/applications``, and the console's router (Nexior) has ``applications``,
    ``applications/:id/extra`` and ``applications/:id/subscribe`` but no ``applications/:id``.
    """
    return f"{console_base_url(acedata_conn_id)}/console/applications"


class AceDataApplicationLink(BaseOperatorLink):
    """Link a task to the console page of the application it created or used (XCom ``application_id``).

    Airflow 3 computes the link on the worker when the task ends and stores it in XCom, so the connection
    host is read there; tasks that pushed no application id get no link. An operator that ran in this
    process knows whether it pushed one, so a task that failed before it had an application id asks for no
    XCom (a missing XCom is logged as an error, "XCom not found", by the Task SDK); one resumed after a
    deferral reads the id it pushed before it deferred.
    """

    name = "Ace Data Cloud console"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        from airflow.sdk.execution_time.xcom import XCom

        application_id: Any = getattr(operator, _NOTED, _UNKNOWN)
        if application_id is _UNKNOWN:
            application_id = XCom.get_value(key=APPLICATION_ID_KEY, ti_key=ti_key)
        if not application_id:
            return ""
        return application_console_url(str(application_id), getattr(operator, "acedata_conn_id", None))
