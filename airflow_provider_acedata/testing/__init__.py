"""An offline Ace Data Cloud (platform API and gateway) for tests, demos and users' own DAG tests.

Stdlib only and free of Airflow imports, so it is cheap to import anywhere.
"""

from __future__ import annotations

from airflow_provider_acedata.testing._clock import ScriptedClock
from airflow_provider_acedata.testing._gateway import GatewayStats, TaskFailure
from airflow_provider_acedata.testing.faults import FaultRule, RequestRecord
from airflow_provider_acedata.testing.platform import FakeAceDataPlatform

__all__ = ["FakeAceDataPlatform", "FaultRule", "GatewayStats", "RequestRecord", "ScriptedClock", "TaskFailure"]
