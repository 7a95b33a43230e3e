"""ApplicationBalanceCheckOperator against the offline platform."""

from __future__ import annotations

import pytest

from airflow_provider_acedata.exceptions import AceDataInputError, AceDataLowBalanceError
from airflow_provider_acedata.operators import ApplicationBalanceCheckOperator


def test_balance_check_names_each_low_application(platform, app_id, context):
    rich = ApplicationBalanceCheckOperator(task_id="check", min_remaining_amount=0).execute(context)
    assert rich == [{"id": app_id, "service_alias": "midjourney", "remaining_amount": 0}]

    with pytest.raises(AceDataLowBalanceError, match=rf"{app_id} \(midjourney\): 0"):
        ApplicationBalanceCheckOperator(task_id="check", min_remaining_amount=10).execute(context)


def test_balance_check_of_given_applications(platform, app_id, context):
    platform.set_balance(app_id, 50)

    summaries = ApplicationBalanceCheckOperator(
        task_id="check", min_remaining_amount="10", application_ids=[app_id]
    ).execute(context)

    assert summaries == [{"id": app_id, "service_alias": "midjourney", "remaining_amount": 50}]


def test_balance_check_bad_threshold_sends_nothing(platform, context):
    with pytest.raises(AceDataInputError, match="min_remaining_amount"):
        ApplicationBalanceCheckOperator(task_id="check", min_remaining_amount="lots").execute(context)

    assert platform.requests == []
