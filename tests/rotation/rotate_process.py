"""A rotation in its own process, for the SIGKILL test: ``rotate_process.py STATE_FILE PLATFORM_URL [KILL_STEP]``.

The stored token lives in STATE_FILE (shared by every process); at KILL_STEP the process says so on stdout
and sleeps until it is killed.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

if "AIRFLOW_HOME" not in os.environ:  # run by hand; the test passes its own, and a mkdtemp here would leak
    os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="acedata-rotate-")

from airflow_provider_acedata.rotation import TokenRotation
from airflow_provider_acedata.token_stores import TokenStore


class FileStore(TokenStore):
    """The token in a file, mirrored into this process's connection env var."""

    def __init__(self, path: Path, url: str) -> None:
        self.path = path
        self.url = url
        self._publish(path.read_text().strip())

    def _publish(self, token: str) -> None:
        conn = {"conn_type": "acedata", "host": self.url, "password": token, "extra": {"retry_delay": 0}}
        os.environ["AIRFLOW_CONN_ACEDATA_DEFAULT"] = json.dumps(conn)

    def save(self, token: str) -> None:
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(token)
        temporary.replace(self.path)
        self._publish(token)

    def load(self) -> str | None:
        return self.path.read_text().strip() or None


def main() -> None:
    state, url = Path(sys.argv[1]), sys.argv[2]
    kill_step = sys.argv[3] if len(sys.argv) > 3 else None

    def checkpoint(step: str) -> None:
        print(f"AT {step}", flush=True)
        if step == kill_step:
            print("PAUSED", flush=True)
            time.sleep(60)

    result = TokenRotation(
        conn_id="acedata_default",
        token_store=FileStore(state, url),
        lease_ttl=2.0 if kill_step else 30.0,
        lease_wait=20.0,
        lease_poll=0.1,
        checkpoint=checkpoint,
    ).run()
    print(f"DONE {result.new_id}", flush=True)


if __name__ == "__main__":
    main()
