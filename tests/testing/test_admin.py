"""The offline platform's admin routes and command line: top-ups from outside the process, and its state."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from datetime import time as dt_time
from pathlib import Path
from typing import Any

import pytest
import requests

from airflow_provider_acedata.hooks import AceDataHook
from airflow_provider_acedata.testing import FakeAceDataPlatform
from airflow_provider_acedata.testing.__main__ import main, seed_monitoring
from airflow_provider_acedata.testing._store import format_time

REPO_ROOT = Path(__file__).resolve().parents[2]


def admin(platform: FakeAceDataPlatform, method: str, path: str, token: str | None = None, **kwargs: Any):
    headers = {"Authorization": f"Bearer {token or platform.token}"}
    return requests.request(method, f"{platform.url}/_admin{path}", headers=headers, timeout=5, **kwargs)


def test_state_lists_the_accounts_applications_only(platform, app_id):
    state = admin(platform, "GET", "/state").json()

    assert state["user_id"] == platform.user["id"]
    assert [a["id"] for a in state["applications"]] == [app_id]
    assert state["applications"][0] == {
        "id": app_id,
        "service_alias": "midjourney",
        "type": "Usage",
        "scope": "Individual",
        "remaining_amount": 0,
        "scheduled": [],
    }


def test_balance_set_now_or_scheduled(platform, app_id):
    assert admin(platform, "POST", f"/applications/{app_id}/balance", json={"remaining_amount": 25}).ok
    assert AceDataHook().get_remaining_amount(app_id) == 25

    answer = admin(
        platform, "POST", f"/applications/{app_id}/balance", json={"remaining_amount": 90, "after_seconds": 60}
    )

    [app] = answer.json()["applications"]
    assert app["remaining_amount"] == 25
    assert app["scheduled"][0]["remaining_amount"] == 90
    assert 0 < app["scheduled"][0]["in_seconds"] <= 60


def test_bad_input_is_a_400_naming_the_field(platform, app_id):
    answer = admin(platform, "POST", f"/applications/{app_id}/balance", json={"remaining_amount": "lots"})

    assert answer.status_code == 400
    assert "remaining_amount" in answer.json()


def test_needs_a_live_token_and_the_own_account(platform, app_id):
    _, other_token = platform.create_user("mallory")

    assert admin(platform, "GET", "/state", token="platform-v1-nope").status_code == 401
    assert (
        admin(
            platform, "POST", f"/applications/{app_id}/balance", token=other_token, json={"remaining_amount": 5}
        ).status_code
        == 404
    )
    assert admin(platform, "DELETE", "/state").status_code == 405
    assert AceDataHook().get_remaining_amount(app_id) == 0


def test_auto_topup_tops_up_every_new_application(platform):
    platform.auto_topup(150, after_seconds=60)
    application_id = str(AceDataHook().create_application(platform.service_id("suno"))["id"])

    assert AceDataHook().get_remaining_amount(application_id) == 0
    [application] = admin(platform, "GET", "/state").json()["applications"]
    [pending] = application["scheduled"]
    assert pending["remaining_amount"] == 150 and 0 < pending["in_seconds"] <= 60
    platform.advance(61)
    assert AceDataHook().get_remaining_amount(application_id) == 150


def test_topup_and_state_commands_talk_to_a_running_platform(platform, app_id, capsys):
    base = ["--url", platform.url, "--token", platform.token]

    assert main(["topup", *base, app_id, "42"]) == 0
    assert main(["state", *base]) == 0

    printed = capsys.readouterr().out
    assert AceDataHook().get_remaining_amount(app_id) == 42
    assert json.loads(printed[printed.rindex('{\n  "user_id"') :])["applications"][0]["remaining_amount"] == 42


def test_serve_prints_the_connections_add_line_and_tops_up(tmp_path):
    token = "platform-v1-" + "cd" * 32
    command = [
        sys.executable,
        "-m",
        "airflow_provider_acedata.testing",
        "serve",
        "--token",
        token,
        "--topup-after",
        "0",
        "--topup-amount",
        "7",
    ]
    proc = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)),
        cwd=REPO_ROOT,
    )
    try:
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
        url, _, export, add = (lines.get(timeout=10).rstrip("\n") for _ in range(4))
        assert export.startswith("export AIRFLOW_CONN_ACEDATA_DEFAULT=")
        assert (
            add
            == f"airflow connections add acedata_default --conn-type acedata --conn-host {url} --conn-password {token}"
        )
        headers = {"Authorization": f"Bearer {token}"}
        midjourney = requests.get(f"{url}/api/v1/services/", params={"limit": 100}, timeout=5).json()["items"]
        service_id = next(s["id"] for s in midjourney if s["alias"] == "midjourney")
        created = requests.post(
            f"{url}/api/v1/applications/", json={"service_id": service_id}, headers=headers, timeout=5
        )
        application = requests.get(f"{url}/api/v1/applications/{created.json()['id']}", headers=headers, timeout=5)
        assert application.json()["remaining_amount"] == 7
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0
        hint = proc.stderr.read()
        assert "topup" in hint and "flux: 100" in hint
        assert token not in hint
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)


def test_the_admin_token_opens_only_the_admin_routes_of_the_default_account(platform, app_id):
    assert admin(platform, "GET", "/state", token=platform.admin_token).json()["user_id"] == platform.user["id"]
    assert admin(
        platform, "POST", f"/applications/{app_id}/balance", token=platform.admin_token, json={"remaining_amount": 3}
    ).ok
    assert AceDataHook().get_remaining_amount(app_id) == 3
    headers = {"Authorization": f"Bearer {platform.admin_token}"}
    assert requests.get(f"{platform.api_url}/platform-tokens/me/", headers=headers, timeout=5).status_code == 401
    assert requests.post(f"{platform.gateway_url}/suno/audios", json={}, headers=headers, timeout=5).status_code == 401


def test_seed_monitoring_fills_the_whole_days_before_today(platform):
    key = platform.issue_api_key(None, credits=1)

    start, end = seed_monitoring(platform, key["application_id"], count=12, days=3)

    assert end == datetime.combine(platform.clock.now().date(), dt_time(0), UTC)
    assert end - start == timedelta(days=3)
    records = platform.call_records()
    assert len(records) == 12
    stamps = [r["created_at"] for r in records]
    assert format_time(start) <= min(stamps) and max(stamps) < format_time(end)
    assert {r["api"]["path"] for r in records} <= {
        "/midjourney/imagine", "/suno/audios", "/flux/images", "/veo/videos", "/openai/chat/completions",
    }  # fmt: skip
    assert {r["service"]["alias"] for r in records} == {r["api"]["path"].split("/")[1] for r in records}
    assert seed_monitoring(platform, key["application_id"], count=0, days=1)[1] == end


def _serve(*arguments: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_acedata.testing", "serve", *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)),
        cwd=REPO_ROOT,
    )


def test_serve_prints_the_gateway_an_api_key_and_seeds_monitoring(capsys):
    token, admin_token = "platform-v1-" + "ef" * 32, "admin-" + "12" * 16
    proc = _serve("--token", token, "--admin-token", admin_token, "--seed-usage", "40", "--seed-days", "2")
    try:
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
        url, _, _, _, gateway, key, export, add = (lines.get(timeout=10).rstrip("\n") for _ in range(8))
        assert json.loads(export.split("=", 1)[1].strip("'")) == {
            "conn_type": "acedata_api",
            "host": gateway,
            "password": key,
        }
        assert add == (
            f"airflow connections add acedata_api_default --conn-type acedata_api --conn-host {gateway}"
            f" --conn-password {key}"
        )
        body = {"action": "generate", "prompt": "a fox", "async": True}
        submitted = requests.post(
            f"{gateway}/flux/images", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=5
        )
        assert submitted.status_code == 200 and submitted.json()["task_id"]

        headers = {"Authorization": f"Bearer {token}"}
        since = (datetime.now(UTC) - timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
        query = {"user_id": "me", "created_at_from": since, "status_code": 200}
        usage = requests.get(f"{url}/api/v1/usage/apis/", params=query, headers=headers, timeout=5).json()
        orders = requests.get(f"{url}/api/v1/orders/", params={"user_id": "me"}, headers=headers, timeout=5).json()
        assert (usage["count"], orders["count"]) == (41, 40)  # the seeded ones and the submit above

        # Rotate the printed token away: the admin routes still answer to the admin token.
        new = requests.post(f"{url}/api/v1/platform-tokens/", json={}, headers=headers, timeout=5).json()
        mine = requests.get(f"{url}/api/v1/platform-tokens/", params={"user_id": "me"}, headers=headers, timeout=5)
        old_id = next(t["id"] for t in mine.json()["items"] if t["token"] == token)
        requests.delete(
            f"{url}/api/v1/platform-tokens/{old_id}", headers={"Authorization": f"Bearer {new['token']}"}, timeout=5
        )
        with pytest.raises(SystemExit, match="401"):
            main(["state", "--url", url, "--token", token])
        capsys.readouterr()
        assert main(["state", "--url", url, "--token", admin_token]) == 0
        state = json.loads(capsys.readouterr().out)
        assert [a["scope"] for a in state["applications"]] == ["Global"]
        assert state["applications"][0]["remaining_amount"] == 99.5

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0
        hint = proc.stderr.read()
        assert f"--token {admin_token}" in hint and "Seeded 40 call records and 40 orders" in hint
        assert token not in hint and key not in hint
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
