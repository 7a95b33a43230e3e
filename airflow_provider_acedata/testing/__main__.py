"""The offline platform from the command line: ``python -m airflow_provider_acedata.testing [serve|state|topup]``.

``serve`` (the default) runs a FakeAceDataPlatform and prints how to connect Airflow to it; ``state`` and
``topup`` talk to a running one through its admin routes, e.g. to top up the application a deferred
balance sensor waits for.
"""

from __future__ import annotations

import argparse
import json
import shlex
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType
from typing import Any

from airflow_provider_acedata.testing._admin import ADMIN_PREFIX
from airflow_provider_acedata.testing.platform import FakeAceDataPlatform

ADMIN_TIMEOUT = 10.0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(_with_default_command(list(sys.argv[1:] if argv is None else argv)))
    if args.command == "serve":
        return serve(args)
    if args.command == "state":
        print(json.dumps(_admin(args.url, args.token, "GET", "/state"), indent=2))
        return 0
    body = {"remaining_amount": args.amount, "after_seconds": args.after}
    state = _admin(args.url, args.token, "POST", f"/applications/{args.application_id}/balance", body)
    print(json.dumps(state, indent=2))
    return 0


def serve(args: argparse.Namespace) -> int:
    """Print the URL, the token and the lines that connect Airflow, then serve until SIGINT/SIGTERM."""
    if args.token is not None and not args.token.strip():
        raise SystemExit("--token must not be empty")
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    with FakeAceDataPlatform(args.host, args.port, token=args.token) as platform:
        if args.topup_after is not None:
            platform.auto_topup(args.topup_amount, args.topup_after)
        print(platform.url)
        print(platform.token)
        print(f"export AIRFLOW_CONN_ACEDATA_DEFAULT={shlex.quote(platform.connection_json())}")
        print(connections_add_command(platform))
        print(_hint(platform, args), file=sys.stderr, flush=True)
        sys.stdout.flush()
        while not stop.wait(0.2):
            pass
    return 0


def connections_add_command(platform: FakeAceDataPlatform, conn_id: str = "acedata_default") -> str:
    """The ``airflow connections add`` line: a connection stored in Airflow's database, shown in the UI."""
    return shlex.join(
        [
            "airflow",
            "connections",
            "add",
            conn_id,
            "--conn-type",
            "acedata",
            "--conn-host",
            platform.url,
            "--conn-password",
            platform.token,
        ]
    )


def _hint(platform: FakeAceDataPlatform, args: argparse.Namespace) -> str:
    me = f"python -m airflow_provider_acedata.testing {{}} --url {platform.url} --token TOKEN"
    lines = [
        "",
        "Offline Ace Data Cloud platform. Connect Airflow with one of the lines above: the export line",
        "makes a connection only the processes started from this shell see (not the UI, and",
        "AirflowConnectionTokenStore cannot update it); 'airflow connections add' stores it in Airflow.",
        "New applications start with their service's free Credits (flux: 100, midjourney: 0).",
    ]
    if args.topup_after is not None:
        topup = f"{args.topup_amount:g} Credits {args.topup_after:g} s"
        lines.append(f"Every new application is topped up to {topup} after it is made.")
    lines += [
        "List applications and balances:  " + me.format("state"),
        "Top one up (now, or --after S):  " + me.format("topup") + " APPLICATION_ID 100",
        "(TOKEN: the token printed above.) Stop with Ctrl-C.",
    ]
    return "\n".join(lines)


def _admin(url: str, token: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """Call a running platform's admin route; exit with its error message on failure."""
    import requests

    try:
        answer = requests.request(
            method,
            f"{url.rstrip('/')}{ADMIN_PREFIX}{path}",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
            timeout=ADMIN_TIMEOUT,
            allow_redirects=False,
        )
    except requests.RequestException as error:
        raise SystemExit(f"Cannot reach the offline platform at {url}: {type(error).__name__}") from None
    if answer.status_code >= 300:
        raise SystemExit(f"{method} {ADMIN_PREFIX}{path} -> {answer.status_code}: {answer.text}")
    return answer.json()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m airflow_provider_acedata.testing", description="An offline Ace Data Cloud platform."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve_ = commands.add_parser("serve", help="serve the offline platform (the default)")
    serve_.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    serve_.add_argument("--port", type=int, default=0, help="port to bind (default: 0, a free port)")
    serve_.add_argument("--token", help="platform token for the default user (default: a random one)")
    serve_.add_argument(
        "--topup-after", type=float, metavar="SECONDS", help="top every new application up this long after it is made"
    )
    serve_.add_argument("--topup-amount", type=float, default=100.0, metavar="CREDITS", help="(default: 100)")
    for name, text in (("state", "list the account's applications and balances"), ("topup", "set a balance")):
        command = commands.add_parser(name, help=text)
        command.add_argument("--url", required=True, help="the platform's URL, as serve printed it")
        command.add_argument("--token", required=True, help="a platform token of the account")
        if name == "topup":
            command.add_argument("application_id")
            command.add_argument("amount", type=float, help="the new remaining_amount in Credits")
            command.add_argument("--after", type=float, default=0.0, metavar="SECONDS", help="schedule it instead")
    return parser


def _with_default_command(argv: list[str]) -> list[str]:
    """``serve`` when no command is named (``python -m ... --port 8123`` keeps working)."""
    if argv and argv[0] in ("serve", "state", "topup", "-h", "--help"):
        return argv
    return ["serve", *argv]


if __name__ == "__main__":
    sys.exit(main())
