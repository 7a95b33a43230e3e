"""An offline Ace Data Cloud platform API server for tests, demos and users' own DAG tests.

Stdlib only and free of Airflow imports, so it is cheap to import anywhere.
"""

from __future__ import annotations

from airflow_provider_acedata.testing.faults import FaultRule, RequestRecord
from airflow_provider_acedata.testing.platform import FakeAceDataPlatform

__all__ = ["FakeAceDataPlatform", "FaultRule", "RequestRecord"]
