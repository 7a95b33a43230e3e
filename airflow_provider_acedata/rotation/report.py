"""What a rotation reports: the ids it created, revoked and kept (never a secret), or why it stopped."""

from __future__ import annotations

from dataclasses import dataclass, field

from airflow_provider_acedata.exceptions import AceDataError


class RotationError(AceDataError):
    """The rotation stopped; the message says which secrets are alive and which one the store holds."""


@dataclass
class RotationResult:
    """What a rotation did, by id: the new secret, the one it replaced, and the previous ones revoked or kept."""

    new_id: str
    previous_id: str
    revoked_ids: list[str] = field(default_factory=list)
    kept_ids: list[str] = field(default_factory=list)

    def summary(self, what: str) -> str:
        """One line for the task log."""
        revoked = ", ".join(self.revoked_ids) or "none"
        kept = f"; kept {', '.join(self.kept_ids)}" if self.kept_ids else ""
        return f"Replaced {what} {self.previous_id} with {self.new_id}. Revoked: {revoked}{kept}"
