"""Export operators: the call records or orders of an interval, each exactly once, to one file."""

from __future__ import annotations

import csv
import io
import itertools
import json
import shutil
import tempfile
import threading
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, cast

from airflow_provider_acedata.exceptions import AceDataExportError, AceDataInputError
from airflow_provider_acedata.operators._storage import replacing
from airflow_provider_acedata.periods import export_interval
from airflow_provider_acedata.records import created_at
from airflow_provider_acedata.validation import EXPORT_FORMATS, require_choice, require_text
from airflow_provider_acedata.version_compat import BaseOperator

if TYPE_CHECKING:
    import jinja2
    from airflow.providers.openlineage.extractors import OperatorLineage
    from airflow.sdk import Context, ObjectStoragePath

    from airflow_provider_acedata.hooks.acedata import AceDataHook
    from airflow_provider_acedata.queries import RecordQuery

RECORDS_KEY = "records"
MAX_PARALLELISM = 10  # requests' connection pool holds 10 connections per host
BATCH = 100  # records per write: one page
USAGE_COLUMNS = (
    "id", "created_at", "application_id", "service_id", "api_id", "credential_id", "status_code", "elapsed",
    "trace_id", "used_amount", "deducted_amount", "original_amount", "remaining_amount", "api", "credential",
    "service", "metadata",
)  # fmt: skip
ORDER_COLUMNS = (
    "id", "created_at", "updated_at", "finished_at", "state", "application_id", "package_id", "amount", "price",
    "discount", "pay_way", "pay_id", "pay_url", "scope", "description", "metadata",
)  # fmt: skip
_JSON = json.JSONEncoder(separators=(",", ":"), default=str)


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
    """Writes records as JSON lines or as CSV with a fixed header (nested values as JSON), a page per write."""

    def __init__(self, stream: IO[str], file_format: str, columns: Sequence[str], *, header: bool = True) -> None:
        self.stream = stream
        self.format = file_format
        self.columns = list(columns)
        if file_format == "csv" and header:
            self.stream.write(_csv_text([dict(zip(self.columns, self.columns, strict=True))], self.columns))

    def write(self, record: dict[str, Any]) -> None:
        self.write_many([record])

    def write_many(self, records: Sequence[dict[str, Any]]) -> None:
        """Write a batch of records with one write to the stream (an object-store stream pays per call)."""
        if self.format == "csv":
            self.stream.write(_csv_text(records, self.columns))
        else:
            encode = _JSON.encode
            self.stream.write("".join([encode(record) + "\n" for record in records]))


def _csv_text(records: Iterable[dict[str, Any]], columns: list[str]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
    writer.writerows({key: _cell(value) for key, value in record.items()} for record in records)
    return buffer.getvalue()


def _cell(value: Any) -> Any:
    return json.dumps(value, separators=(",", ":")) if isinstance(value, dict | list) else value


class _ExportOperator(BaseOperator):
    """Writes the records created in ``[start, end)`` to ``destination``, each exactly once, replacing it."""

    template_fields: Sequence[str] = ("destination", "start", "end", "format", "acedata_conn_id")
    columns: Sequence[str] = ()
    what = "records"
    dataset = "records"

    def __init__(
        self,
        *,
        destination: Any,
        start: str | datetime | None = "{{ data_interval_start }}",
        end: str | datetime | None = "{{ data_interval_end }}",
        format: str = "jsonl",
        parallelism: int = 1,
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
        self.parallelism = parallelism
        self.acedata_conn_id = acedata_conn_id
        self.exported_to: ObjectStoragePath | None = None

    @cached_property
    def hook(self) -> AceDataHook:
        from airflow_provider_acedata.hooks.acedata import AceDataHook

        return AceDataHook(self.acedata_conn_id)

    def _do_render_template_fields(
        self,
        parent: Any,
        template_fields: Iterable[str],
        context: Context,
        jinja_env: jinja2.Environment,
        seen_oids: set[int],
    ) -> None:
        """Render ``start`` and ``end`` first; the rest sees the exported interval as ``export_start``/``export_end``.

        So ``destination`` can name the period it holds (``usage-{{ export_start | ds }}.jsonl``), whether it
        came from ``start``/``end`` or, for a run with an empty data interval, from the DAG's schedule.
        Both a task and a mapped task's expansion render through here.
        """
        fields = list(template_fields)
        if parent is not self or not {"start", "end"} <= set(fields):
            super()._do_render_template_fields(parent, fields, context, jinja_env, seen_oids)
            return
        # A run without a logical date (a manual run, an asset-triggered one) has no data interval keys at
        # all: the defaults render as None then, and the interval is taken from the schedule.
        missing = {key: None for key in ("data_interval_start", "data_interval_end", "logical_date")}
        interval_context = cast("Context", {**missing, **context})
        super()._do_render_template_fields(parent, ["start", "end"], interval_context, jinja_env, seen_oids)
        self.start, self.end = export_interval(self.start, self.end, context, now=datetime.now(UTC))
        extended = cast("Context", {**context, "export_start": self.start, "export_end": self.end})
        rest = [name for name in fields if name not in ("start", "end")]
        super()._do_render_template_fields(parent, rest, extended, jinja_env, seen_oids)

    def execute(self, context: Context) -> str:
        from airflow.sdk import ObjectStoragePath

        file_format = require_choice("format", self.format, EXPORT_FORMATS)
        parallelism = self.parallelism
        if isinstance(parallelism, bool) or not isinstance(parallelism, int) or not 1 <= parallelism <= MAX_PARALLELISM:
            raise AceDataInputError(
                f"parallelism must be a whole number from 1 to {MAX_PARALLELISM}, got {parallelism!r}"
            )
        start, end = export_interval(self.start, self.end, context, now=datetime.now(UTC))
        query = self.query(start, end)
        final = ObjectStoragePath(require_text("destination", str(self.destination), max_length=4096))
        written = self.write(final, file_format, query.split(parallelism))
        self.exported_to = final
        self.log.info("Exported %d %s created in [%s, %s) to %s", written, self.what, start, end, final)
        context["ti"].xcom_push(key=RECORDS_KEY, value=written)
        self.describe_outlet_events(context, final, start, end, written)
        return str(final)

    def describe_outlet_events(
        self, context: Context, final: ObjectStoragePath, start: datetime, end: datetime, written: int
    ) -> None:
        """Each outlet asset's event names the file written and its period, for the DAGs scheduled on it."""
        from airflow.sdk import Asset

        events = context.get("outlet_events")
        if events is None:
            return
        extra: dict[str, Any] = {
            "destination": str(final),
            "start": start.isoformat(),
            "end": end.isoformat(),
            RECORDS_KEY: written,
        }
        for outlet in self.outlets:
            if isinstance(outlet, Asset):
                events[outlet].extra.update(extra)

    def query(self, start: datetime, end: datetime) -> RecordQuery:
        """The validated listing of this export's records in ``[start, end)``."""
        raise NotImplementedError

    def write(self, final: ObjectStoragePath, file_format: str, parts: Sequence[RecordQuery]) -> int:
        """Stream into a temporary sibling, prove exactly-once, then move it over ``final``; else remove it.

        With one part the records go straight into the temporary object. With several, each part is read
        by its own thread into a local file (checked against its own count), and the files are copied into
        the temporary object in order: as many requests in flight as parts, one page held per part.
        """
        final.parent.mkdir(parents=True, exist_ok=True)
        with replacing(final) as temporary, temporary.open("w", encoding="utf-8", newline="") as stream:
            if len(parts) == 1:
                return self.export_part(parts[0], RecordWriter(stream, file_format, self.columns))
            return self.export_parts(parts, stream, file_format)

    def export_part(self, part: RecordQuery, writer: RecordWriter, stop: threading.Event | None = None) -> int:
        """Write one interval's records, checked against the platform's count before and after; how many.

        A single part reads one page ahead (the next request overlaps the writing); parts read in parallel
        do not, as they already keep several requests in flight.
        """
        expected = self.hook.count_records(part)
        guard = OnceGuard()
        written = 0
        records = self.hook.iter_records(part, read_ahead=stop is None)
        while batch := list(itertools.islice(records, BATCH)):
            if stop is not None and stop.is_set():
                raise AceDataExportError("another part of the export failed")
            for record in batch:
                guard.check(record)
            writer.write_many(batch)
            written += len(batch)
        after = self.hook.count_records(part)
        if written != expected or after != expected:
            raise AceDataExportError(
                f"wrote {written} {self.what} of [{part.start}, {part.end}) but the platform counted {expected} "
                f"before and {after} after the export: the interval changed while it was read; "
                "the destination was left untouched"
            )
        return written

    def export_parts(self, parts: Sequence[RecordQuery], stream: IO[str], file_format: str) -> int:
        """Read every part concurrently into local files, then copy them into ``stream`` in order."""
        from concurrent.futures import ThreadPoolExecutor

        self.hook.user_id  # noqa: B018  (resolved once here, not raced for by the threads)
        stop = threading.Event()
        if file_format == "csv":
            RecordWriter(stream, file_format, self.columns)
        with tempfile.TemporaryDirectory(prefix="acedata-export-") as folder, ThreadPoolExecutor(len(parts)) as pool:

            def run(number: int, part: RecordQuery) -> int:
                with open(Path(folder) / f"{number}.part", "w", encoding="utf-8", newline="") as local:
                    writer = RecordWriter(local, file_format, self.columns, header=False)
                    try:
                        return self.export_part(part, writer, stop)
                    except BaseException:
                        stop.set()
                        raise

            futures = [pool.submit(run, number, part) for number, part in enumerate(parts)]
            written = 0
            try:
                for number, future in enumerate(futures):
                    written += future.result()
                    with open(Path(folder) / f"{number}.part", encoding="utf-8", newline="") as local:
                        shutil.copyfileobj(local, stream, 1 << 16)
                    (Path(folder) / f"{number}.part").unlink()
            except BaseException:
                stop.set()
                raise
        return written

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> OperatorLineage[Any, Any]:
        """Lineage for OpenLineage: the platform's records in, exactly the destination file out.

        Without this, the file lineage that ``ObjectStoragePath`` records would report the temporary
        ``.partial`` object as an output (and, after the move, as an input). Imported here, so the
        openlineage provider stays optional.
        """
        from airflow.providers.common.compat.openlineage.facet import Dataset
        from airflow.providers.openlineage.extractors import OperatorLineage

        inputs = [Dataset(namespace=self.hook.base_url, name=f"api/v1/{self.dataset}")]
        final = self.exported_to
        outputs = [] if final is None else [_file_dataset(final)]
        return OperatorLineage(inputs=inputs, outputs=outputs)


def _file_dataset(path: ObjectStoragePath) -> Any:
    """The OpenLineage dataset of a file, named as Airflow's own file lineage names it (``file``, ``/tmp/x``).

    Through the asset converters the providers register (``s3://``, ``gs://``, ``file://``), as the
    OpenLineage provider translates assets; from the path's namespace and key where none applies.
    """
    from airflow.providers.common.compat.openlineage.facet import Dataset
    from airflow.sdk import Asset

    try:
        from airflow.providers.openlineage.utils.utils import translate_airflow_asset

        dataset = translate_airflow_asset(Asset(uri=str(path)), None)
    except Exception:  # an older openlineage provider, or a URI no converter takes
        dataset = None
    return dataset if dataset is not None else Dataset(namespace=path.namespace, name=path.key)


class ExportUsageOperator(_ExportOperator):
    """Export the account's call records created in ``[start, end)`` to a file, each exactly once.

    Returns the destination URI; XCom ``records`` holds how many were written. A rerun replaces the file.

    With the default ``start``/``end``, a run exports its data interval; when that interval is empty (a
    cron or timedelta schedule on Airflow 3, whose runs are for one moment) or missing (a manual run), it
    exports the schedule's period that ended at that moment: a ``@daily`` run for midnight exports the day
    before. ``destination`` may name that period as ``{{ export_start }}`` and ``{{ export_end }}``.

    :param destination: a URL or path ``ObjectStoragePath`` takes
        (``file:///data/usage/{{ export_start | ds }}.jsonl``, ``s3://bucket/usage/{{ export_start | ds }}.csv``),
        or an ``Asset`` with such a URI (then also an outlet).
    :param start: start of the interval (inclusive); default the run's ``data_interval_start``.
    :param end: end of the interval (exclusive, in the past); default the run's ``data_interval_end``.
    :param format: ``"jsonl"`` (one record per line) or ``"csv"`` (with a header).
    :param parallelism: how many equal sub-intervals are read at once (1 to 10; default 1), each checked
        against its own count and written in order.
    :param application_id: only records of this application (or list of them).
    :param service_id: only records of this service (or list).
    :param credential_id: only records made with this API key (or list).
    :param acedata_conn_id: the ``acedata`` connection to use.
    """

    template_fields: Sequence[str] = (*_ExportOperator.template_fields, "application_id", "service_id", "credential_id")
    columns = USAGE_COLUMNS
    what = "call records"
    dataset = "usage/apis"

    def __init__(
        self,
        *,
        destination: Any,
        start: str | datetime | None = "{{ data_interval_start }}",
        end: str | datetime | None = "{{ data_interval_end }}",
        format: str = "jsonl",
        application_id: str | list[str] | None = None,
        service_id: str | list[str] | None = None,
        credential_id: str | list[str] | None = None,
        parallelism: int = 1,
        acedata_conn_id: str = "acedata_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(
            destination=destination,
            start=start,
            end=end,
            format=format,
            parallelism=parallelism,
            acedata_conn_id=acedata_conn_id,
            **kwargs,
        )
        self.application_id = application_id
        self.service_id = service_id
        self.credential_id = credential_id

    def query(self, start: datetime, end: datetime) -> RecordQuery:
        from airflow_provider_acedata.queries import usage_query

        return usage_query(
            created_at_from=start,
            created_at_to=end,
            application_id=self.application_id,
            service_id=self.service_id,
            credential_id=self.credential_id,
        )


class ExportOrdersOperator(_ExportOperator):
    """Export the account's orders created in ``[start, end)`` to a file, each exactly once, payment links blank.

    The same contract as :class:`ExportUsageOperator`; ``state`` keeps only orders in that state (or list).
    """

    template_fields: Sequence[str] = (*_ExportOperator.template_fields, "state")
    columns = ORDER_COLUMNS
    what = "orders"
    dataset = "orders"

    def __init__(
        self,
        *,
        destination: Any,
        start: str | datetime | None = "{{ data_interval_start }}",
        end: str | datetime | None = "{{ data_interval_end }}",
        format: str = "jsonl",
        state: str | list[str] | None = None,
        parallelism: int = 1,
        acedata_conn_id: str = "acedata_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(
            destination=destination,
            start=start,
            end=end,
            format=format,
            parallelism=parallelism,
            acedata_conn_id=acedata_conn_id,
            **kwargs,
        )
        self.state = state

    def query(self, start: datetime, end: datetime) -> RecordQuery:
        from airflow_provider_acedata.queries import order_query

        return order_query(created_at_from=start, created_at_to=end, state=self.state)
