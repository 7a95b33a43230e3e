"""ApplicationBalanceSensor: wait until an application has enough Credits, in a worker or in the triggerer."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue

from airflow_provider_acedata.exceptions import AceDataError
from airflow_provider_acedata.links import APPLICATION_ID_KEY, AceDataApplicationLink
from airflow_provider_acedata.validation import require_number, require_uuid

try:
    from airflow.sdk.configuration import conf
except ImportError:  # older Task SDK
    from airflow.configuration import conf
try:
    from airflow.sdk.exceptions import AirflowSensorTimeout
except ImportError:  # older Task SDK
    from airflow.exceptions import AirflowSensorTimeout  # type: ignore[no-redef]

if TYPE_CHECKING:
    from airflow.sdk import Context


class ApplicationBalanceSensor(BaseSensorOperator):
    """Wait until an application's ``remaining_amount`` is at least ``min_remaining_amount`` Credits.

    Typical use: after ``CreateApplicationOperator``, wait for someone to top the application up before
    creating API keys. Returns the balance seen (XCom ``return_value``) and pushes ``application_id``
    for the console link.

    With ``deferrable=True`` the task checks once, then hands the wait to the triggerer
    (:class:`~airflow_provider_acedata.triggers.balance.ApplicationBalanceTrigger`) and frees its worker
    slot; the wait ends after ``execution_timeout``, else the sensor ``timeout``.

    :param application_id: UUID of the application (templated, e.g. ``create_app.output``).
    :param min_remaining_amount: threshold in Credits (templated; a numeric string is accepted).
    :param acedata_conn_id: the ``acedata`` connection to use.
    :param deferrable: wait in the triggerer; default ``[operators] default_deferrable``.
    :param poll_interval: seconds between balance reads (templated); also the ``poke_interval`` of the
        non-deferrable modes unless that is given.
    """

    template_fields: Sequence[str] = ("application_id", "min_remaining_amount", "poll_interval", "acedata_conn_id")
    operator_extra_links = (AceDataApplicationLink(),)

    def __init__(
        self,
        *,
        application_id: str,
        min_remaining_amount: float | str,
        acedata_conn_id: str = "acedata_default",
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float | str = 60,
        **kwargs: Any,
    ) -> None:
        poke_interval_given = "poke_interval" in kwargs
        if isinstance(poll_interval, int | float):
            kwargs.setdefault("poke_interval", poll_interval)
        super().__init__(**kwargs)
        self._poke_interval_given = poke_interval_given
        self.application_id = application_id
        self.min_remaining_amount = min_remaining_amount
        self.acedata_conn_id = acedata_conn_id
        self.deferrable = deferrable
        self.poll_interval = poll_interval

    def _settings(self) -> tuple[str, float, float]:
        """The validated (application id, threshold, poll interval) of the rendered template fields."""
        return (
            require_uuid("application_id", self.application_id),
            require_number("min_remaining_amount", self.min_remaining_amount),
            require_number("poll_interval", self.poll_interval, minimum=0.01),
        )

    def execute(self, context: Context) -> Any:
        application_id, minimum, poll_interval = self._settings()
        if not self._poke_interval_given:
            self.poke_interval = poll_interval
        context["ti"].xcom_push(key=APPLICATION_ID_KEY, value=application_id)
        if not self.deferrable:
            return super().execute(context)
        from airflow_provider_acedata.triggers.balance import ApplicationBalanceTrigger, fetch_remaining_amount

        amount = fetch_remaining_amount(self.acedata_conn_id, application_id)
        if amount >= minimum:
            self.log.info("Application %s has %g Credits (>= %g)", application_id, amount, minimum)
            return amount
        timeout = self.execution_timeout or timedelta(seconds=self.timeout)
        self.log.info(
            "Application %s has %g Credits; deferring until it has %g (checking every %gs, for at most %s)",
            application_id,
            amount,
            minimum,
            poll_interval,
            timeout,
        )
        self.defer(
            trigger=ApplicationBalanceTrigger(
                application_id=application_id,
                min_remaining_amount=minimum,
                acedata_conn_id=self.acedata_conn_id,
                poll_interval=poll_interval,
                end_time=time.time() + timeout.total_seconds(),
            ),
            method_name="execute_complete",
            timeout=timeout,
        )

    def poke(self, context: Context) -> PokeReturnValue:
        """Read the balance once: done (with the amount as XCom) when it is at least the threshold."""
        from airflow_provider_acedata.triggers.balance import fetch_remaining_amount

        application_id, minimum, _ = self._settings()
        amount = fetch_remaining_amount(self.acedata_conn_id, application_id)
        done = amount >= minimum
        self.log.info("Application %s has %g Credits (%s %g)", application_id, amount, ">=" if done else "<", minimum)
        return PokeReturnValue(is_done=done, xcom_value=amount if done else None)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> float:
        """Resume after the trigger fired: return the balance, or fail on a timeout or error event."""
        if not event:
            raise AceDataError("The balance trigger ended without an event")
        status = event.get("status")
        if status == "success":
            amount = float(event["remaining_amount"])
            self.log.info("Application %s has %g Credits", event.get("application_id"), amount)
            return amount
        message = event.get("message") or f"balance trigger status {status!r}"
        if status == "timeout":
            raise AirflowSensorTimeout(message)
        raise AceDataError(f"Waiting for the application balance failed: {message}")
