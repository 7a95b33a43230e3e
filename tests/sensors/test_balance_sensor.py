"""ApplicationBalanceSensor: poke, the waiting loop, the deferrable path and resuming from trigger events."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from airflow.sdk.exceptions import AirflowSensorTimeout, TaskDeferred
from testdata import pushed

from airflow_provider_acedata.exceptions import AceDataError, AceDataInputError, AceDataNotFoundError
from airflow_provider_acedata.links import AceDataApplicationLink
from airflow_provider_acedata.sensors import ApplicationBalanceSensor
from airflow_provider_acedata.triggers import ApplicationBalanceTrigger

APP_ID = "107f8d0f-e465-4a7e-a49e-d633d26f7aa2"


def sensor(application_id: str, minimum: object = 100, **kwargs: object) -> ApplicationBalanceSensor:
    return ApplicationBalanceSensor(
        task_id="wait_for_balance", application_id=application_id, min_remaining_amount=minimum, **kwargs
    )


class TestPoke:
    def test_true_with_the_amount_when_enough(self, platform, app_id, context):
        platform.set_balance(app_id, 100)

        result = sensor(app_id).poke(context)

        assert result
        assert result.xcom_value == 100

    def test_false_when_below(self, platform, app_id, context):
        platform.set_balance(app_id, 99.5)

        assert not sensor(app_id).poke(context)

    def test_decimal_string_amount_from_the_api(self, platform, app_id, context):
        platform.fail(method="GET", path="/applications/", status=200, body={"id": app_id, "remaining_amount": "12.50"})

        assert sensor(app_id, minimum="12.5").poke(context)

    def test_unknown_application_fails(self, platform, context):
        with pytest.raises(AceDataNotFoundError):
            sensor(APP_ID).poke(context)


class TestExecute:
    def test_waits_in_the_worker_until_topped_up(self, platform, app_id, context):
        platform.schedule_balance(app_id, 150, after_seconds=0.3)
        task = sensor(app_id, "100", poke_interval="0.05", deferrable=False, timeout=10)

        assert task.execute(context) == 150
        assert pushed(context) == {"application_id": app_id}
        assert task.poke_interval == 0.05
        assert len(platform.calls("GET", f"/applications/{app_id}")) > 1

    def test_times_out_in_the_worker(self, platform, app_id, context):
        task = sensor(app_id, poke_interval=0.05, deferrable=False, timeout=0.2)

        with pytest.raises(AirflowSensorTimeout):
            task.execute(context)

    def test_poll_interval_is_a_deprecated_alias_of_poke_interval(self):
        with pytest.warns(DeprecationWarning, match="poke_interval"):
            task = sensor(APP_ID, poll_interval=5)

        assert task.poke_interval == 5

    def test_explicit_poke_interval_wins_over_the_alias(self):
        with pytest.warns(DeprecationWarning):
            task = sensor(APP_ID, poll_interval=5, poke_interval=30)

        assert task.poke_interval == 30

    def test_no_warning_with_poke_interval_alone(self, recwarn):
        assert sensor(APP_ID, poke_interval=timedelta(seconds=90)).poke_interval == 90
        assert not [w for w in recwarn if issubclass(w.category, DeprecationWarning)]

    @pytest.mark.parametrize(
        ("kwargs", "field"),
        [
            ({"application_id": "{{ not rendered }}"}, "application_id"),
            ({"application_id": APP_ID, "min_remaining_amount": "plenty"}, "min_remaining_amount"),
            ({"application_id": APP_ID, "min_remaining_amount": 1, "poke_interval": "0"}, "poke_interval"),
            ({"application_id": APP_ID, "min_remaining_amount": 1, "poke_interval": "{{ x }}"}, "poke_interval"),
        ],
    )
    def test_bad_input_fails_before_any_request(self, platform, context, kwargs, field):
        task = ApplicationBalanceSensor(task_id="wait", **{"min_remaining_amount": 1, **kwargs}, deferrable=True)

        with pytest.raises(AceDataInputError, match=field):
            task.execute(context)
        assert platform.requests == []


class TestDeferrable:
    def test_defers_to_the_trigger_when_below(self, platform, app_id, context):
        task = sensor(app_id, "100", poke_interval="2", deferrable=True, timeout=600, acedata_conn_id="acedata_default")

        before = time.time()
        with pytest.raises(TaskDeferred) as caught:
            task.execute(context)

        deferred = caught.value
        assert isinstance(deferred.trigger, ApplicationBalanceTrigger)
        assert deferred.method_name == "execute_complete"
        assert deferred.timeout == timedelta(seconds=600)
        _, kwargs = deferred.trigger.serialize()
        assert kwargs["application_id"] == app_id
        assert kwargs["min_remaining_amount"] == 100.0
        assert kwargs["poke_interval"] == 2.0
        assert kwargs["acedata_conn_id"] == "acedata_default"
        assert before + 600 <= kwargs["end_time"] <= time.time() + 600
        assert platform.token not in json.dumps(kwargs)
        assert pushed(context) == {"application_id": app_id}
        assert len(platform.calls("GET")) == 1

    def test_execution_timeout_bounds_the_deferral(self, platform, app_id, context):
        task = sensor(app_id, deferrable=True, execution_timeout=timedelta(minutes=5))

        with pytest.raises(TaskDeferred) as caught:
            task.execute(context)

        assert caught.value.timeout == timedelta(minutes=5)

    def test_poke_interval_alone_reaches_the_trigger(self, platform, app_id, context):
        with pytest.raises(TaskDeferred) as caught:
            sensor(app_id, poke_interval=1, deferrable=True).execute(context)

        assert caught.value.trigger.poke_interval == 1

    def test_no_deferral_when_already_enough(self, platform, app_id, context):
        platform.set_balance(app_id, 100)

        assert sensor(app_id, deferrable=True).execute(context) == 100

    def test_default_follows_airflow_config(self, monkeypatch):
        assert sensor(APP_ID).deferrable is False


class TestExecuteComplete:
    def test_success_returns_the_amount(self, context):
        event = {"status": "success", "application_id": APP_ID, "remaining_amount": 150}

        assert sensor(APP_ID).execute_complete(context, event) == 150

    def test_error_event_raises_with_its_message(self, context):
        with pytest.raises(AceDataError, match="AceDataNotFoundError: nope"):
            sensor(APP_ID).execute_complete(context, {"status": "error", "message": "AceDataNotFoundError: nope"})

    def test_timeout_event_raises_sensor_timeout(self, context):
        with pytest.raises(AirflowSensorTimeout, match="below"):
            sensor(APP_ID).execute_complete(context, {"status": "timeout", "message": "still below 100"})

    @pytest.mark.parametrize("event", [None, {}, {"status": "cancelled"}])
    def test_missing_or_unknown_event_raises(self, context, event):
        with pytest.raises(AceDataError):
            sensor(APP_ID).execute_complete(context, event)

    def test_timeout_event_soft_fail_skips(self, context):
        from airflow.sdk.exceptions import AirflowSkipException

        task = sensor(APP_ID, soft_fail=True)
        with pytest.raises(AirflowSkipException):
            task.resume_execution("execute_complete", {"event": {"status": "timeout", "message": "x"}}, context)


def test_console_link_is_attached():
    assert [type(link) for link in sensor(APP_ID).operator_extra_links] == [AceDataApplicationLink]
