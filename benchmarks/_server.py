"""Serve a seeded FakeAceDataPlatform in a child process: ``python -m benchmarks._server N [N ...]``.

A separate process keeps the server's CPU time and memory out of the client's timings and tracemalloc
figures. For each N it creates a user owning exactly N platform tokens, prints one JSON line describing the
server, then serves until its stdin closes (so it also stops when the parent dies).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence

from airflow_provider_acedata.testing import FakeAceDataPlatform


def main(argv: Sequence[str]) -> int:
    counts = [int(arg) for arg in argv]
    with FakeAceDataPlatform() as platform:
        users: dict[str, dict[str, str]] = {}
        for count in counts:
            user, token = platform.create_user(f"bench{count}")
            for _ in range(count - 1):
                platform.issue_token(user["id"])
            users[str(count)] = {"user_id": str(user["id"]), "token": token}
        info = {"url": platform.url, "token": platform.token, "user_id": str(platform.user["id"]), "users": users}
        print(json.dumps(info), flush=True)
        sys.stdin.read()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
