"""Run two exports with ``dag.test()`` in a fresh process whose OpenLineage listener writes to a file.

Usage: ``python lineage_process.py WORKDIR CONNECTION_JSON``. OpenLineage is configured for this process
only (the test process keeps it disabled): file transport to ``WORKDIR/lineage.jsonl``. The DAG exports
the same day twice: ``export`` with the provider's lineage methods, and ``control``, whose operator hides
them, so that OpenLineage falls back to the file lineage ``ObjectStoragePath`` records.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

DAG_FILE = '''
from datetime import datetime, timezone

from airflow.sdk import DAG

from airflow_provider_acedata.operators import ExportUsageOperator

START, END = datetime(2026, 3, 1, tzinfo=timezone.utc), datetime(2026, 3, 2, tzinfo=timezone.utc)


class WithoutLineageMethods(ExportUsageOperator):
    """The control: the same export, with get_openlineage_facets_* hidden."""

    def __getattribute__(self, name):
        if name.startswith("get_openlineage_facets"):
            raise AttributeError(name)
        return super().__getattribute__(name)


with DAG("acedata_lineage", schedule=None, start_date=START):
    # One after the other: in one process the file lineage collected by a task is still there for the next.
    export = ExportUsageOperator(task_id="export", destination="file://{folder}/with.jsonl", start=START, end=END)
    control = WithoutLineageMethods(
        task_id="control", destination="file://{folder}/control.jsonl", start=START, end=END
    )
    export >> control
'''


def main(workdir: Path, connection: str) -> int:
    home, dags, out = workdir / "home", workdir / "dags", workdir / "out"
    for folder in (home, dags, out):
        folder.mkdir(parents=True, exist_ok=True)
    (dags / "acedata_lineage.py").write_text(DAG_FILE.format(folder=out))
    os.environ.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW_CONN_ACEDATA_DEFAULT": connection,
            "AIRFLOW__OPENLINEAGE__NAMESPACE": "acedata_lineage_test",
            "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(
                {"type": "file", "log_file_path": str(workdir / "lineage.jsonl"), "append": True}
            ),
        }
    )
    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils import db

    db.initdb()
    run = DagBag(dag_folder=dags).dags["acedata_lineage"].test()
    print(json.dumps({"state": str(run.state)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), sys.argv[2]))
