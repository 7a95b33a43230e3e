"""Serve FakeAceDataPlatform from the command line: ``python -m airflow_provider_acedata.testing``."""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from airflow_provider_acedata.testing.platform import FakeAceDataPlatform


def main(argv: Sequence[str] | None = None) -> int:
    """Print the URL, the token and an ``export`` line for Airflow, then serve until SIGINT/SIGTERM."""
    parser = argparse.ArgumentParser(
        prog="python -m airflow_provider_acedata.testing",
        description="Serve an offline Ace Data Cloud platform.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to bind (default: 0, a free port)")
    parser.add_argument("--token", help="platform token for the default user (default: a random one)")
    args = parser.parse_args(argv)
    if args.token is not None and not args.token.strip():
        parser.error("--token must not be empty")

    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    with FakeAceDataPlatform(args.host, args.port, token=args.token) as platform:
        print(platform.url)
        print(platform.token)
        print(f"export AIRFLOW_CONN_ACEDATA_DEFAULT={shlex.quote(platform.connection_json())}", flush=True)
        while not stop.wait(0.2):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
