"""The record ``CallApiOperator`` keeps of its submit, so that no retry of a task instance pays twice.

The gateway has no idempotency key and no cancel route: a submit sent twice creates (and charges) two tasks.
So the operator writes a record *before* it sends a submit (``submitting``) and again once the answer is in
(``submitted`` with the task id, or ``answered`` with a result that needed no task). A later try of the same
task instance reads it back:

* ``submitted``: reattach to that task (read it, wait for it); never submit again;
* ``answered``: use the stored answer;
* ``submitting``: the earlier try sent the submit and never saw an answer (a timeout, a dropped connection,
  a killed process). The task may exist and be charged: fail, saying so, and submit nothing.

Where the record lives: Airflow 3.3's task state store (kept across the tries of one task instance, AIP-103),
else an Airflow Variable named after the task instance (Airflow 3.1 and 3.2), deleted once the task
succeeds. Clearing a task instance starts a new generation (Airflow raises its ``max_tries``): a record of
an older generation is ignored, so a deliberate re-run submits afresh.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Final

from airflow_provider_acedata.exceptions import AceDataError
from airflow_provider_acedata.version_compat import Variable, task_state_store

SUBMITTING: Final = "submitting"
SUBMITTED: Final = "submitted"
ANSWERED: Final = "answered"
STATES: Final = (SUBMITTING, SUBMITTED, ANSWERED)
STATE_KEY: Final = "acedata_api_submit"
"""The key of the record in the task state store."""
VARIABLE_PREFIX: Final = "acedata_api_submit_"
"""Variables holding records (Airflow 3.1 and 3.2) are named this plus a digest of the task instance."""


class SubmitLedgerError(AceDataError):
    """The record could not be written before a submit: nothing was submitted."""


@dataclass(frozen=True)
class Submit:
    """What one try did: the state of its submit, for which generation of the task instance, and the outcome."""

    state: str
    generation: int
    path: str
    digest: str
    try_number: int
    at: str
    task_id: str | None = None
    trace_id: str | None = None
    answer: Any = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, value: Any) -> Submit | None:
        """The record a ledger holds, or None when it holds nothing this version understands."""
        if not isinstance(value, Mapping) or value.get("state") not in STATES:
            return None
        try:
            return cls(
                state=str(value["state"]),
                generation=int(value["generation"]),
                path=str(value["path"]),
                digest=str(value["digest"]),
                try_number=int(value["try_number"]),
                at=str(value["at"]),
                task_id=value.get("task_id"),
                trace_id=value.get("trace_id"),
                answer=value.get("answer"),
            )
        except (KeyError, TypeError, ValueError):
            return None


def request_digest(path: str, body: Mapping[str, Any]) -> str:
    """A digest of a submit (route and body as sent), to tell a retry that would send something else."""
    canonical = json.dumps([path, body], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class SubmitLedger(ABC):
    """Where the record of one task instance's submit is kept across its tries."""

    where: str

    def __init__(self, generation: int) -> None:
        self.generation = generation

    def current(self) -> Submit | None:
        """The record of this generation of the task instance, if any (older generations were cleared)."""
        record = Submit.from_json(self.read())
        return record if record is not None and record.generation == self.generation else None

    def write(self, record: Submit, *, verify: bool = False) -> None:
        """Keep ``record``; with ``verify``, read it back and raise ``SubmitLedgerError`` unless it holds."""
        value = record.to_json()
        try:
            self.save(value)
            if verify and self.read() != json.loads(json.dumps(value)):
                raise SubmitLedgerError(f"{self.where} did not hold the record after writing it")
        except SubmitLedgerError:
            raise
        except Exception as error:
            raise SubmitLedgerError(f"could not write {self.where}: {type(error).__name__}: {error}") from error

    @abstractmethod
    def read(self) -> Any:
        """The stored value (JSON), or None."""

    @abstractmethod
    def save(self, value: dict[str, Any]) -> None:
        """Store ``value`` (JSON)."""

    @abstractmethod
    def finished(self) -> None:
        """The task instance succeeded: drop what no later try needs."""

    @abstractmethod
    def forget(self) -> None:
        """Drop the record (a refused submit created nothing: the next try may submit)."""


class TaskStateLedger(SubmitLedger):
    """The record in Airflow 3.3's task state store, under ``acedata_api_submit``; kept after success (visible)."""

    where = f"the task state store key {STATE_KEY!r}"

    def __init__(self, store: Any, generation: int) -> None:
        super().__init__(generation)
        self.store = store

    def read(self) -> Any:
        return self.store.get(STATE_KEY)

    def save(self, value: dict[str, Any]) -> None:
        self.store.set(STATE_KEY, value)

    def finished(self) -> None:
        """Kept: Airflow shows it with the task instance and expires it after ``default_retention_days``."""

    def forget(self) -> None:
        self.store.delete(STATE_KEY)


class VariableLedger(SubmitLedger):
    """The record in an Airflow Variable named after the task instance (Airflow 3.1, 3.2); deleted on success."""

    def __init__(self, key: str, generation: int) -> None:
        super().__init__(generation)
        self.key = key
        self.where = f"Variable {key!r}"

    def read(self) -> Any:
        raw = Variable.get(self.key, default=None)
        if raw is None:
            return None
        try:
            return json.loads(raw) if isinstance(raw, str) else raw
        except ValueError:
            return None

    def save(self, value: dict[str, Any]) -> None:
        Variable.set(
            self.key,
            json.dumps(value, separators=(",", ":"), default=str),
            description="CallApiOperator's submit record (airflow-provider-acedata): deleted once the task succeeds",
        )

    def finished(self) -> None:
        Variable.delete(self.key)

    def forget(self) -> None:
        Variable.delete(self.key)


def variable_key(dag_id: str, run_id: str, task_id: str, map_index: int) -> str:
    """The Variable of one task instance's record: short, and unique per (DAG, run, task, map index)."""
    identity = "\x00".join((dag_id, run_id, task_id, str(map_index)))
    return VARIABLE_PREFIX + hashlib.sha256(identity.encode()).hexdigest()[:40]


def ledger_for(context: Mapping[str, Any]) -> SubmitLedger:
    """The ledger of the running task instance: the task state store when Airflow has one, else a Variable."""
    ti = context["ti"]
    generation = int(getattr(ti, "max_tries", 0) or 0)
    store = task_state_store(context)
    if store is not None:
        return TaskStateLedger(store, generation)
    map_index = getattr(ti, "map_index", -1)
    key = variable_key(str(ti.dag_id), str(ti.run_id), str(ti.task_id), -1 if map_index is None else int(map_index))
    return VariableLedger(key, generation)
