"""Export operators: the call records or orders of an interval, each exactly once, to one file."""

from __future__ import annotations

import csv
import json
import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from functools import cached_property
from typing import IO, TYPE_CHECKING, Any

from airflow_provider_acedata.exceptions import AceDataExportError
from airflow_provider_acedata.records import created_at
from airflow_provider_acedata.validation import (
    EXPORT_FORMATS,
    ORDER_STATES,
    optional_choices,
    optional_uuids,
    require_choice,
    require_interval,
    require_text,
)
from airflow_provider_acedata.version_compat import BaseOperator

if TYPE_CHECKING:
    from airflow.sdk import Context, ObjectStoragePath

    from airflow_provider_acedata.hooks.acedata import AceDataHook

RECORDS_KEY = "records"
USAGE_COLUMNS = (
    "id", "created_at", "application_id", "service_id", "api_id", "credential_id", "status_code", "elapsed",
    "trace_id", "used_amount", "deducted_amount", "original_amount", "remaining_amount", "api", "credential",
    "service", "metadata",
)  # fmt: skip
ORDER_COLUMNS = (
    "id", "created_at", "updated_at", "finished_at", "state", "application_id", "package_id", "amount", "price",
    "discount", "pay_way", "pay_id", "pay_url", "scope", "description", "metadata",
)  # fmt: skip


class OnceGuard:
    """Checks a stream read by offset pages in ``created_at`` order: never backwards, no id twice in a tie.

    Offset paging over a fixed, ordered set yields each record once; a record seen twice (or out of order)
    means the set or its order moved under the pages, so another record was skipped.
    """

    def __init__(self) -> None:
        self.last: datetime | None = None
        self.tied: set[str] = set()

    def check(self, record: dict[str, Any]) -> None:
        moment, record_id = created_at(record), str(record.get("id"))
        if self.last is not None and moment < self.last:
            raise AceDataExportError(
                f"record {record_id} ({moment.isoformat()}) arrived after {self.last.isoformat()}: the platform did "
                "not keep created_at order, so paging may have skipped records; nothing was written"
            )
        if moment != self.last:
            self.last, self.tied = moment, set()
        if record_id in self.tied:
            raise AceDataExportError(
                f"record {record_id} was listed twice: records moved between pages; nothing was written"
            )
        self.tied.add(record_id)


class RecordWriter:
    """Writes records as JSON lines or as CSV with a fixed header (nested values as JSON)."""

    def __init__(self, stream: IO[str], file_format: str, columns: Sequence[str]) -> None:
        self.stream = stream
        self.format = file_format
        self.csv = (
            csv.DictWriter(stream, fieldnames=list(columns), extrasaction="ignore") if file_format == "csv" else None
        )
        if self.csv is not None:
            self.csv.writeheader()

    def write(self, record: dict[str, Any]) -> None:
        if self.csv is None:
            self.stream.write(json.dumps(record, separators=(",", ":"), default=str) + "\n")
            return
        self.csv.writerow({key: _cell(value) for key, value in record.items()})


def _cell(value: Any) -> Any:
    return json.dumps(value, separators=(",", ":")) if isinstance(value, dict | list) else value


class _ExportOperator(BaseOperator):
    """Writes the records created in ``[start, end)`` to ``destination``, each exactly once, replacing it."""

    template_fields: Sequence[str] = ("destination", "start", "end", "format", "acedata_conn_id")
    columns: Sequence[str] = ()
    what = "records"

    def __init__(
        self,
        *,
        destination: Any,
        start: str | datetime = "{{ data_interval_start }}",
        end: str | datetime = "{{ data_interval_end }}",
        format: str = "jsonl",
        acedata_conn_id: str = "acedata_default",
        **kwargs: Any,
    ) -> None:
        from airflow.sdk import Asset

        if isinstance(destination, Asset):
            kwargs["outlets"] = [*(kwargs.get("outlets") or []), destination]
            destination = destination.uri
        super().__init__(**kwargs)
        self.destination = destination
        self.start = start
        self.end = end
        self.format = format
        self.acedata_conn_id = acedata_conn_id

    @cached_property
    def hook(self) -> AceDataHook:
        from airflow_provider_acedata.hooks.acedata import AceDataHook

        return AceDataHook(self.acedata_conn_id)

    def execute(self, context: Context) -> str:
        from airflow.sdk import ObjectStoragePath

        file_format = require_choice("format", self.format, EXPORT_FORMATS)
        start, end = require_interval(self.start, self.end, now=datetime.now(timezone.utc))
        filters = self.filters()
        final = ObjectStoragePath(require_text("destination", str(self.destination), max_length=4096))
        count = dict(created_at_from=start, created_at_to=end, **filters)
        expected = self.count(count)
        written = self.write(final, file_format, self.records(count), expected, lambda: self.count(count))
        self.log.info("Exported %d %s created in [%s, %s) to %s", written, self.what, start, end, final)
        context["ti"].xcom_push(key=RECORDS_KEY, value=written)
        return str(final)

    def filters(self) -> dict[str, Any]:
        """The validated filters of this export, as the hook takes them."""
        raise NotImplementedError

    def count(self, query: dict[str, Any]) -> int:
        """The platform's count of the interval's records."""
        raise NotImplementedError

    def records(self, query: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """The interval's records, oldest first, one page held."""
        raise NotImplementedError

    def write(
        self,
        final: ObjectStoragePath,
        file_format: str,
        records: Iterator[dict[str, Any]],
        expected: int,
        recount: Any,
    ) -> int:
        """Stream into a temporary sibling, prove exactly-once, then move it over ``final``; else remove it."""
        temporary = final.parent / f".{final.name}.{uuid.uuid4().hex}.partial"
        final.parent.mkdir(parents=True, exist_ok=True)
        guard = OnceGuard()
        written = 0
        try:
            with temporary.open("w", encoding="utf-8", newline="") as stream:
                writer = RecordWriter(stream, file_format, self.columns)
                for record in records:
                    guard.check(record)
                    writer.write(record)
                    written += 1
            after = recount()
            if written != expected or after != expected:
                raise AceDataExportError(
                    f"wrote {written} {self.what} but the platform counted {expected} before and {after} after the "
                    f"export: the interval changed while it was read; {final} was left untouched"
                )
            temporary.move(final)
        except BaseException:
            _remove(temporary)
            raise
        return written


def _remove(path: ObjectStoragePath) -> None:
    try:
        if path.exists():
            path.unlink()
    except OSError:
        pass


class ExportUsageOperator(_ExportOperator):
    """Export the account's call records created in ``[start, end)`` to a file, each exactly once.

    Returns the destination URI; XCom ``records`` holds how many were written. A rerun replaces the file.

    :param destination: a URL or path ``ObjectStoragePath`` takes (``file:///data/usage/{{ ds }}.jsonl``,
        ``s3://bucket/usage/{{ ds }}.csv``), or an ``Asset`` with such a URI (then also an outlet).
    :param start: start of the interval (inclusive); default the run's ``data_interval_start``.
    :param end: end of the interval (exclusive, in the past); default the run's ``data_interval_end``.
    :param format: ``"jsonl"`` (one record per line) or ``"csv"`` (with a header).
    :param application_id: only records of this application (or list of them).
    :param service_id: only records of this service (or list).
    :param credential_id: only records made with this API key (or list).
    :param acedata_conn_id: the ``acedata`` connection to use.
    """

    template_fields: Sequence[str] = (*_ExportOperator.template_fields, "application_id", "service_id", "credential_id")
    columns = USAGE_COLUMNS
    what = "call records"

    def __init__(
        self,
        *,
        destination: Any,
        start: str | datetime = "{{ data_interval_start }}",
        end: str | datetime = "{{ data_interval_end }}",
        format: str = "jsonl",
        application_id: str | list[str] | None = None,
        service_id: str | list[str] | None = None,
        credential_id: str | list[str] | None = None,
        acedata_conn_id: str = "acedata_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(
            destination=destination, start=start, end=end, format=format, acedata_conn_id=acedata_conn_id, **kwargs
        )
        self.application_id = application_id
        self.service_id = service_id
        self.credential_id = credential_id

    def filters(self) -> dict[str, Any]:
        return {
            "application_id": optional_uuids("application_id", self.application_id),
            "service_id": optional_uuids("service_id", self.service_id),
            "credential_id": optional_uuids("credential_id", self.credential_id),
        }

    def count(self, query: dict[str, Any]) -> int:
        return self.hook.count_usage(**query)

    def records(self, query: dict[str, Any]) -> Iterator[dict[str, Any]]:
        return self.hook.iter_usage(**query)


class ExportOrdersOperator(_ExportOperator):
    """Export the account's orders created in ``[start, end)`` to a file, each exactly once, payment links blank.

    The same contract as :class:`ExportUsageOperator`; ``state`` keeps only orders in that state (or list).
    """

    template_fields: Sequence[str] = (*_ExportOperator.template_fields, "state")
    columns = ORDER_COLUMNS
    what = "orders"

    def __init__(
        self,
        *,
        destination: Any,
        start: str | datetime = "{{ data_interval_start }}",
        end: str | datetime = "{{ data_interval_end }}",
        format: str = "jsonl",
        state: str | list[str] | None = None,
        acedata_conn_id: str = "acedata_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(
            destination=destination, start=start, end=end, format=format, acedata_conn_id=acedata_conn_id, **kwargs
        )
        self.state = state

    def filters(self) -> dict[str, Any]:
        return {"state": optional_choices("state", self.state, ORDER_STATES)}

    def count(self, query: dict[str, Any]) -> int:
        return self.hook.count_orders(**query)

    def records(self, query: dict[str, Any]) -> Iterator[dict[str, Any]]:
        return self.hook.iter_orders(**query)
