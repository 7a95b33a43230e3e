"""RotationResult.summary: the one task-log line a rotation ends with, by id only.

The real-Airflow suites (tests/e2e/test_real_airflow_rotation.py, _celery.py) find it in task logs.
"""

from __future__ import annotations

from airflow_provider_acedata.rotation import RotationResult


def test_summary_names_the_new_the_replaced_and_the_revoked():
    result = RotationResult(new_id="n1", previous_id="p1", revoked_ids=["p1", "p0"])

    assert result.summary("platform token") == "Replaced platform token p1 with n1. Revoked: p1, p0"


def test_summary_says_none_revoked_and_names_the_kept():
    result = RotationResult(new_id="n1", previous_id="p1", kept_ids=["p1"])

    assert result.summary("API key") == "Replaced API key p1 with n1. Revoked: none; kept p1"
