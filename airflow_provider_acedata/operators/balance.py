"""ApplicationBalanceCheckOperator: fail, naming each application, when balances are below a threshold."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_acedata.exceptions import AceDataLowBalanceError
from airflow_provider_acedata.validation import optional_uuids, require_number
from airflow_provider_acedata.version_compat import BaseOperator

if TYPE_CHECKING:
    from airflow.sdk import Context


class ApplicationBalanceCheckOperator(BaseOperator):
    """Fail when any application is below ``min_remaining_amount``, naming each; else return the summaries.

    Failing the task makes ``on_failure_callback`` and Airflow notifiers the alerting path.

    :param min_remaining_amount: the threshold in Credits; an application below it fails the check.
    :param application_ids: check only these applications (default: every application of the account).
    :param service_id: check only the applications of this service.
    :param acedata_conn_id: the ``acedata`` connection to use.
    """

    template_fields: Sequence[str] = ("min_remaining_amount", "application_ids", "service_id", "acedata_conn_id")

    def __init__(
        self,
        *,
        min_remaining_amount: float | str,
        application_ids: list[str] | None = None,
        service_id: str | None = None,
        acedata_conn_id: str = "acedata_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.min_remaining_amount = min_remaining_amount
        self.application_ids = application_ids
        self.service_id = service_id
        self.acedata_conn_id = acedata_conn_id

    def execute(self, context: Context) -> list[dict[str, Any]]:
        from airflow_provider_acedata.hooks.acedata import AceDataHook

        threshold = require_number("min_remaining_amount", self.min_remaining_amount, minimum=0)
        ids = optional_uuids("application_ids", self.application_ids)
        service_ids = optional_uuids("service_id", self.service_id)
        hook = AceDataHook(self.acedata_conn_id)
        if ids is not None:
            applications = [hook.get_application(application_id) for application_id in ids]
        else:
            applications = list(hook.iter_applications(service_id=service_ids[0] if service_ids else None))
        if service_ids:
            applications = [a for a in applications if str(a.get("service_id")) in service_ids]
        summaries = [_balance(application) for application in applications]
        low = [s for s in summaries if float(s["remaining_amount"] or 0) < threshold]
        if low:
            named = "; ".join(f"{s['id']} ({s['service_alias']}): {s['remaining_amount']}" for s in low)
            raise AceDataLowBalanceError(
                f"{len(low)} of {len(summaries)} application(s) below {threshold:g} Credits: {named}"
            )
        self.log.info("%d application(s) at or above %g Credits", len(summaries), threshold)
        return summaries


def _balance(application: dict[str, Any]) -> dict[str, Any]:
    service = application.get("service") or {}
    alias = service.get("alias") if isinstance(service, dict) else None
    return {
        "id": application.get("id"),
        "service_alias": alias or ("Global" if application.get("scope") == "Global" else None),
        "remaining_amount": application.get("remaining_amount"),
    }
