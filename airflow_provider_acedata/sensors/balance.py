"""ApplicationBalanceSensor: wait until an application has enough Credits, in a worker or in the triggerer."""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow_provider_acedata.exceptions import AceDataError
from airflow_provider_acedata.links import AceDataApplicationLink, forget_application, note_application
from airflow_provider_acedata.validation import require_number, require_uuid
from airflow_provider_acedata.version_compat import (
    AirflowProviderDeprecationWarning,
    AirflowSensorTimeout,
    BaseSensorOperator,
    PokeReturnValue,
    conf,
)

if TYPE_CHECKING:
    from airflow.sdk import Context


class ApplicationBalanceSensor(BaseSensorOperator):
    """Wait until an application's ``remaining_amount`` is at least ``min_remaining_amount`` Credits.

    Typical use: after ``CreateApplicationOperator``, wait for someone to top the application up before
    creating API keys. Returns the balance seen (XCom ``return_value``) and pushes ``application_id``
    for the console link.

    ``poke_interval`` is the one polling knob in every mode (poke, reschedule, deferrable). With
    ``deferrable=True`` the task checks once, then hands the wait to the triggerer
    (:class:`~airflow_provider_acedata.triggers.balance.ApplicationBalanceTrigger`) and frees its worker
    slot; the wait ends after ``execution_timeout``, else the sensor ``timeout``.

    :param application_id: UUID of the application (templated, e.g. ``create_app.output``).
    :param min_remaining_amount: threshold in Credits (templated; a numeric string is accepted).
    :param acedata_conn_id: the ``acedata`` connection to use.
    :param deferrable: wait in the triggerer; default ``[operators] default_deferrable``.
    :param poke_interval: seconds between balance reads in every mode (templated; default 60).
    :param poll_interval: deprecated alias of ``poke_interval`` (version 0.1.0); warns.
    """

    template_fields: Sequence[str] = ("application_id", "min_remaining_amount", "poke_interval", "acedata_conn_id")
    operator_extra_links = (AceDataApplicationLink(),)

    def __init__(
        self,
        *,
        application_id: str,
        min_remaining_amount: float | str,
        acedata_conn_id: str = "acedata_default",
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poke_interval: float | timedelta | str | None = None,
        poll_interval: float | str | None = None,
        **kwargs: Any,
    ) -> None:
        if poll_interval is not None:
            warnings.warn(
                "ApplicationBalanceSensor(poll_interval=...) is deprecated; use poke_interval, which governs "
                "every mode, deferrable included",
                AirflowProviderDeprecationWarning,
                stacklevel=2,
            )
            if poke_interval is None:
                poke_interval = poll_interval
        if poke_interval is None:
            poke_interval = 60
        # A template (e.g. "{{ params.poke_interval }}") is checked once rendered, in execute.
        super().__init__(poke_interval=60 if isinstance(poke_interval, str) else poke_interval, **kwargs)
        if isinstance(poke_interval, str):
            self.poke_interval = poke_interval  # type: ignore[assignment]
        self.application_id = application_id
        self.min_remaining_amount = min_remaining_amount
        self.acedata_conn_id = acedata_conn_id
        self.deferrable = deferrable

    def _settings(self) -> tuple[str, float]:
        """The validated application id and threshold of the rendered template fields (and the interval)."""
        self.poke_interval = require_number("poke_interval", self.poke_interval, minimum=0.01)
        return (
            require_uuid("application_id", self.application_id),
            require_number("min_remaining_amount", self.min_remaining_amount),
        )

    def _remaining_amount(self, application_id: str) -> float:
        from airflow_provider_acedata.hooks.acedata import AceDataHook

        with AceDataHook(self.acedata_conn_id) as hook:
            return hook.get_remaining_amount(application_id)

    def execute(self, context: Context) -> Any:
        forget_application(self)
        application_id, minimum = self._settings()
        note_application(self, context, application_id)
        if not self.deferrable:
            return super().execute(context)
        from airflow_provider_acedata.triggers.balance import ApplicationBalanceTrigger

        amount = self._remaining_amount(application_id)
        if amount >= minimum:
            self.log.info("Application %s has %g Credits (>= %g)", application_id, amount, minimum)
            return amount
        timeout = self.execution_timeout or timedelta(seconds=self.timeout)
        self.log.info(
            "Application %s has %g Credits; deferring until it has %g (checking every %gs, for at most %s)",
            application_id,
            amount,
            minimum,
            self.poke_interval,
            describe_duration(timeout),
        )
        self.defer(
            trigger=ApplicationBalanceTrigger(
                application_id=application_id,
                min_remaining_amount=minimum,
                acedata_conn_id=self.acedata_conn_id,
                poke_interval=float(self.poke_interval),
                end_time=time.time() + timeout.total_seconds(),
            ),
            method_name="execute_complete",
            timeout=timeout,
        )

    def poke(self, context: Context) -> PokeReturnValue:
        """Read the balance once: done (with the amount as XCom) when it is at least the threshold."""
        application_id, minimum = self._settings()
        amount = self._remaining_amount(application_id)
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


def describe_duration(duration: timedelta) -> str:
    """A wait as people say it: ``1 day``, ``2 h 30 min``, ``45 s``."""
    seconds = round(duration.total_seconds())
    parts = []
    for unit, size in (("day", 86400), ("h", 3600), ("min", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count} {unit}{'s' if unit == 'day' and count > 1 else ''}")
    return " ".join(parts) or "0 s"
