"""Rotations of the secrets this provider manages: the platform token and API keys.

Both run as named steps under a lease (:mod:`airflow_provider_acedata.platform_lock`), share one rule for
a store that fails (:mod:`.protocol`) and end with the same report (:mod:`.report`).
"""

from __future__ import annotations

from airflow_provider_acedata.rotation.credential import CredentialRotation
from airflow_provider_acedata.rotation.platform_token import STEPS, PlatformTokenRotation, rotation_tag
from airflow_provider_acedata.rotation.report import RotationError, RotationResult

TokenRotation = PlatformTokenRotation
"""The 0.1.0 name of :class:`PlatformTokenRotation`."""

__all__ = [
    "STEPS",
    "CredentialRotation",
    "PlatformTokenRotation",
    "RotationError",
    "RotationResult",
    "TokenRotation",
    "rotation_tag",
]
