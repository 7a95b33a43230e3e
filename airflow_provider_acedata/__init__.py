"""Apache Airflow provider for Ace Data Cloud: its platform API and the APIs on its gateway.

Airflow finds the provider through :mod:`airflow_provider_acedata.get_provider_info` (the entry point).
"""

from __future__ import annotations

__version__ = "0.1.0"

DEFAULT_HOST = "https://platform.acedata.cloud"
DEFAULT_API_HOST = "https://api.acedata.cloud"
