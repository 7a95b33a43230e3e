"""Rotations of the secrets this provider manages: the platform token and API keys.

Both run as named steps under a lease (:mod:`airflow_provider_acedata.platform_lock`), share one rule for
a store that fails (:mod:`.protocol`) and end with the same report (:mod:`.report`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_provider_acedata._lazy import lazy_exports

if TYPE_CHECKING:
    from airflow_provider_acedata.rotation.credential import CredentialRotation
    from airflow_provider_acedata.rotation.platform_token import PlatformTokenRotation, rotation_tag
    from airflow_provider_acedata.rotation.protocol import STEPS
    from airflow_provider_acedata.rotation.report import RotationError, RotationResult

    TokenRotation = PlatformTokenRotation

__all__ = [
    "STEPS",
    "CredentialRotation",
    "PlatformTokenRotation",
    "RotationError",
    "RotationResult",
    "TokenRotation",
    "rotation_tag",
]
_exported = lazy_exports(
    __name__,
    {
        "STEPS": "protocol",
        "CredentialRotation": "credential",
        "PlatformTokenRotation": "platform_token",
        "RotationError": "report",
        "RotationResult": "report",
        "rotation_tag": "platform_token",
    },
)


def __getattr__(name: str) -> object:
    """Import on first use; ``TokenRotation`` is the 0.1.0 name of :class:`PlatformTokenRotation`."""
    return _exported("PlatformTokenRotation" if name == "TokenRotation" else name)
