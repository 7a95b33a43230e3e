"""The offline platform from the command line: ``python -m airflow_provider_acedata.testing [serve|state|topup]``.

``serve`` (the default) runs a FakeAceDataPlatform (platform API, gateway, artifact host), gives the default
user a Global application with an API key, and prints how to connect Airflow to both; ``state`` and
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
from datetime import UTC, datetime, time, timedelta
from types import FrameType
from typing import Any

from airflow_provider_acedata.testing._admin import ADMIN_PREFIX
from airflow_provider_acedata.testing.platform import FakeAceDataPlatform

ADMIN_TIMEOUT = 10.0
API_KEY_NAME = "offline-gateway"


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
    """Print the URLs, the token, the API key and the lines that connect Airflow, then serve until SIGINT/SIGTERM."""
    for name in ("token", "admin_token"):
        value = getattr(args, name)
        if value is not None and not value.strip():
            raise SystemExit(f"--{name.replace('_', '-')} must not be empty")
    if args.seed_usage < 0 or args.seed_days < 1:
        raise SystemExit("--seed-usage must be >= 0 and --seed-days >= 1")
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    platform = FakeAceDataPlatform(
        args.host, args.port, token=args.token, gateway_port=args.gateway_port, admin_token=args.admin_token
    )
    with platform:
        key = platform.issue_api_key(None, credits=args.api_credits, name=API_KEY_NAME)
        seeded = seed_monitoring(platform, key["application_id"], args.seed_usage, args.seed_days)
        if args.topup_after is not None:
            platform.auto_topup(args.topup_amount, args.topup_after)
        print(platform.url)
        print(platform.token)
        print(f"export AIRFLOW_CONN_ACEDATA_DEFAULT={shlex.quote(platform.connection_json())}")
        print(connections_add_command(platform))
        print(platform.gateway_url)
        print(key["token"])
        print(f"export AIRFLOW_CONN_ACEDATA_API_DEFAULT={shlex.quote(platform.api_connection_json(key['token']))}")
        print(api_connections_add_command(platform, key["token"]))
        print(_hint(platform, args, seeded), file=sys.stderr, flush=True)
        sys.stdout.flush()
        while not stop.wait(0.2):
            pass
    return 0


def seed_monitoring(
    platform: FakeAceDataPlatform, application_id: str, count: int, days: int
) -> tuple[datetime, datetime]:
    """Seed ``count`` call records and ``count`` orders of an application over the ``days`` whole UTC days before today.

    Returns the seeded interval ``[start, end)``; deterministic for the same day, count and application.
    """
    end = datetime.combine(platform.clock.now().date(), time(0), UTC)
    start = end - timedelta(days=days)
    if count:
        platform.add_usage(application_id, count=count, start=start, end=end)
        platform.add_orders(application_id, count=count, start=start, end=end)
    return start, end


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


def api_connections_add_command(platform: FakeAceDataPlatform, key: str, conn_id: str = "acedata_api_default") -> str:
    """The ``airflow connections add`` line for the gateway: connection type ``acedata_api``, the API key."""
    return shlex.join(
        [
            "airflow",
            "connections",
            "add",
            conn_id,
            "--conn-type",
            "acedata_api",
            "--conn-host",
            platform.gateway_url,
            "--conn-password",
            key,
        ]
    )


def _hint(platform: FakeAceDataPlatform, args: argparse.Namespace, seeded: tuple[datetime, datetime]) -> str:
    me = f"python -m airflow_provider_acedata.testing {{}} --url {platform.url} --token {platform.admin_token}"
    lines = [
        "",
        "Offline Ace Data Cloud: the platform API (first URL, platform token) and the gateway",
        "api.acedata.cloud (second URL, API key). Connect Airflow with the lines above: the export lines",
        "make connections only the processes started from this shell see (not the UI, and",
        "AirflowConnectionTokenStore cannot update them); 'airflow connections add' stores them in Airflow.",
        f"The API key belongs to the default user's Global application ({args.api_credits:g} Credits), so it",
        "works on every service the gateway serves (Midjourney, Suno, Flux, Veo, chat completions).",
        "New applications start with their service's free Credits (flux: 100, midjourney: 0).",
    ]
    if args.topup_after is not None:
        topup = f"{args.topup_amount:g} Credits {args.topup_after:g} s"
        lines.append(f"Every new application is topped up to {topup} after it is made.")
    if args.seed_usage:
        start, end = (moment.strftime("%Y-%m-%d") for moment in seeded)
        lines.append(
            f"Seeded {args.seed_usage} call records and {args.seed_usage} orders from {start} to {end} (UTC, end"
            " excluded) on the Global application."
        )
    lines += [
        "List applications and balances:  " + me.format("state"),
        "Top one up (now, or --after S):  " + me.format("topup") + " APPLICATION_ID 100",
        "(That admin token works only on these admin routes, also after the platform token was rotated.)",
        "Stop with Ctrl-C.",
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
    serve_.add_argument("--gateway-port", type=int, default=0, help="port of the gateway (default: 0, a free port)")
    serve_.add_argument(
        "--admin-token", help="token for the admin routes (state, topup) that never rotates (default: a random one)"
    )
    serve_.add_argument(
        "--api-credits",
        type=float,
        default=100.0,
        metavar="CREDITS",
        help="Credits of the Global application whose API key is printed (default: 100)",
    )
    serve_.add_argument(
        "--seed-usage",
        type=int,
        default=0,
        metavar="N",
        help="seed N call records and N orders over the previous days, for the monitoring examples (default: 0)",
    )
    serve_.add_argument(
        "--seed-days", type=int, default=7, metavar="DAYS", help="days before today to spread them over (default: 7)"
    )
    serve_.add_argument(
        "--topup-after", type=float, metavar="SECONDS", help="top every new application up this long after it is made"
    )
    serve_.add_argument("--topup-amount", type=float, default=100.0, metavar="CREDITS", help="(default: 100)")
    for name, text in (("state", "list the account's applications and balances"), ("topup", "set a balance")):
        command = commands.add_parser(name, help=text)
        command.add_argument("--url", required=True, help="the platform's URL, as serve printed it")
        command.add_argument(
            "--token", required=True, help="the admin token serve printed (or a live platform token of the account)"
        )
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
