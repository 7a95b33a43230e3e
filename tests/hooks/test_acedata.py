"""AceDataHook (hooks/acedata.py) against requests-mock: the platform's resources, paging, identity and secrets."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime
from unittest import mock

import pytest
from testdata import API, TOKEN, USER, connection_json, redact

from airflow_provider_acedata.exceptions import (
    AceDataApiError,
    AceDataAuthenticationError,
    AceDataInputError,
    AceDataNotFoundError,
)
from airflow_provider_acedata.hooks import AceDataHook
from airflow_provider_acedata.hooks.acedata import ROTATE_UNSUPPORTED_STATUSES

SERVICE = "d87e5e99-b797-4ade-9e73-b896896b0461"
APP_ID = "107f8d0f-e465-4a7e-a49e-d633d26f7aa2"
CRED_ID = "5c0ab2a4-7a86-4f6c-bb1e-0b2b6c1f9d10"
API_KEY = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
START = "2026-03-01T00:00:00Z"
END = datetime(2026, 3, 2, tzinfo=UTC)


class TestIdentity:
    """The platform token: a user JWT warns; the Test button sends one request and names no temporary id."""

    def test_user_jwt_warns_but_works(self, monkeypatch, requests_mock, capsys):
        jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZGEifQ.c2lnbmF0dXJlc2lnbmF0dXJl"
        monkeypatch.setenv("AIRFLOW_CONN_ACEDATA_DEFAULT", connection_json(token=jwt))
        requests_mock.get(f"{API}/platform-tokens/me/", json=USER)
        assert AceDataHook().get_current_user() == USER
        logged = capsys.readouterr().out
        assert "does not start with 'platform-'" in logged
        assert jwt not in logged

    def test_test_connection_does_not_name_airflows_temporary_connection_id(self, monkeypatch, requests_mock):
        monkeypatch.setenv("AIRFLOW_CONN_XKQ3J9ZTEMP", connection_json(token=""))
        ok, message = AceDataHook("xkq3j9ztemp").test_connection()
        assert not ok
        assert "Platform Token (password) of this connection is empty" in message
        assert "xkq3j9ztemp" not in message
        assert requests_mock.call_count == 0

    def test_test_connection_is_not_retried(self, hook, requests_mock, no_sleep):
        route = requests_mock.get(f"{API}/platform-tokens/me/", status_code=503, json={"detail": "down"})
        ok, message = hook.test_connection()
        assert not ok
        assert "503" in message
        assert route.call_count == 1

    def test_test_connection_ok_and_failure(self, hook, requests_mock):
        requests_mock.get(
            f"{API}/platform-tokens/me/", [{"json": USER}, {"status_code": 401, "json": {"detail": TOKEN}}]
        )
        assert hook.test_connection() == (True, "Connected as ada")
        ok, message = hook.test_connection()
        assert not ok
        assert "401" in message
        assert TOKEN not in message

    def test_test_connection_never_raises(self, monkeypatch):
        monkeypatch.setenv("AIRFLOW_CONN_ACEDATA_DEFAULT", connection_json(host="http://remote.test"))
        ok, message = AceDataHook().test_connection()
        assert not ok
        assert "https" in message


class TestPaging:
    """Owner lists: pages of 100, both envelopes, user_id resolved once."""

    @staticmethod
    def pages(requests_mock, total: int, page_size: int, key: str = "items"):
        """Serve ``total`` applications, at most ``page_size`` per page whatever limit is asked."""

        def answer(request, context):
            offset = int(request.qs["offset"][0])
            limit = min(int(request.qs["limit"][0]), page_size)
            items = [{"id": f"app-{i}"} for i in range(offset, min(offset + limit, total))]
            return {"count": total, key: items}

        return requests_mock.get(f"{API}/applications/", json=answer)

    def test_pages_of_100_until_count(self, hook, me, requests_mock):
        route = self.pages(requests_mock, total=250, page_size=1000)
        ids = [app["id"] for app in hook.iter_applications()]
        assert ids == [f"app-{i}" for i in range(250)]
        assert [r.qs["offset"] for r in route.request_history] == [["0"], ["100"], ["200"]]
        assert {r.qs["limit"][0] for r in route.request_history} == {"100"}

    def test_advances_by_items_received_when_server_clamps(self, hook, me, requests_mock):
        route = self.pages(requests_mock, total=120, page_size=50)
        assert len(list(hook.iter_applications())) == 120
        assert [r.qs["offset"][0] for r in route.request_history] == ["0", "50", "100"]

    def test_reads_legacy_results_envelope(self, hook, me, requests_mock):
        self.pages(requests_mock, total=3, page_size=100, key="results")
        assert len(list(hook.iter_applications())) == 3

    def test_stops_on_empty_page_even_if_count_lies(self, hook, me, requests_mock):
        route = requests_mock.get(
            f"{API}/applications/",
            [{"json": {"count": 500, "items": [{"id": "a"}]}}, {"json": {"count": 500, "items": []}}],
        )
        assert [a["id"] for a in hook.iter_applications()] == ["a"]
        assert route.call_count == 2

    def test_owner_lists_send_user_id_resolved_once(self, hook, me, requests_mock):
        apps = requests_mock.get(f"{API}/applications/", json={"count": 0, "items": []})
        tokens = requests_mock.get(f"{API}/platform-tokens/", json={"count": 0, "items": []})
        list(hook.iter_applications(service_id=SERVICE, application_type="Usage", scope="Individual"))
        list(hook.iter_platform_tokens(tag="rotation"))
        assert me.call_count == 1
        assert apps.last_request.qs == {
            "user_id": [USER["id"]],
            "service_id": [SERVICE],
            "type": ["usage"],
            "scope": ["individual"],
            "ordering": ["created_at"],
            "limit": ["100"],
            "offset": ["0"],
        }
        assert tokens.last_request.qs["user_id"] == [USER["id"]]
        assert tokens.last_request.qs["tag"] == ["rotation"]

    def test_find_application_matches_exactly(self, hook, me, requests_mock):
        requests_mock.get(
            f"{API}/applications/",
            json={
                "count": 2,
                "items": [
                    {"id": "wrong", "service_id": SERVICE, "type": "Period", "scope": "Individual"},
                    {"id": APP_ID, "service_id": SERVICE, "type": "Usage", "scope": "Individual"},
                ],
            },
        )
        assert hook.find_application(SERVICE)["id"] == APP_ID


class TestResources:
    """Deletes, input checks and bodies of the platform's resources."""

    def test_delete_of_missing_token_counts_as_deleted(self, hook, requests_mock):
        route = requests_mock.delete(f"{API}/platform-tokens/{APP_ID}", status_code=404, json={"detail": "Not found."})
        assert hook.delete_platform_token(APP_ID) is None
        assert route.call_count == 1

    def test_delete_204(self, hook, requests_mock):
        route = requests_mock.delete(f"{API}/platform-tokens/{APP_ID}", status_code=204)
        hook.delete_platform_token(APP_ID)
        assert route.call_count == 1

    @pytest.mark.parametrize(
        ("call", "field"),
        [
            (lambda h: h.create_application("not-a-uuid"), "service_id"),
            (lambda h: h.create_application(SERVICE, application_type="Daily"), "application_type"),
            (lambda h: h.create_application(SERVICE, scope="Team"), "scope"),
            (lambda h: h.create_application(SERVICE, scope="Global"), "service_id"),
            (lambda h: h.get_application("../platform-tokens"), "application_id"),
            (lambda h: h.delete_platform_token("x"), "token_id"),
        ],
    )
    def test_bad_input_fails_before_any_request(self, hook, requests_mock, call, field):
        with pytest.raises(AceDataInputError, match=field):
            call(hook)
        assert requests_mock.call_count == 0

    def test_global_application_sends_no_service(self, hook, requests_mock):
        route = requests_mock.post(f"{API}/applications/", status_code=201, json={"id": APP_ID})
        hook.create_application(None, scope="Global")
        assert route.last_request.json() == {"type": "Usage", "scope": "Global"}


class TestSecrets:
    """Tokens and API keys are masked on receipt and never leave the hook in lists, errors or repr."""

    def test_token_never_in_exception_or_repr(self, hook, requests_mock):
        requests_mock.get(f"{API}/platform-tokens/me/", status_code=401, json={"detail": f"Invalid token {TOKEN}"})
        with pytest.raises(AceDataAuthenticationError) as caught:
            hook.get_current_user()
        for text in (
            str(caught.value),
            repr(caught.value),
            caught.value.api_message,
            repr(hook),
            repr(hook.session.headers),
            repr(hook.family.endpoint),
            repr(hook.family.source),
            repr(hook.family.policy),
        ):
            assert TOKEN not in text

    def test_token_from_the_rotation_variable_masked_when_read(self, monkeypatch, requests_mock):
        """Airflow masks a Variable only if its key looks sensitive; this key does not, so the hook must."""
        from airflow.sdk import Variable

        rotated = "platform-v1-" + secrets.token_hex(32)
        monkeypatch.setenv("AIRFLOW_CONN_ACEDATA_DEFAULT", connection_json(rotation_variable="acedata_rotated"))
        monkeypatch.setenv("AIRFLOW_VAR_ACEDATA_ROTATED", rotated)
        requests_mock.get(f"{API}/platform-tokens/me/", json=USER)
        assert Variable.get("acedata_rotated") == rotated
        assert rotated in redact(f"token is {rotated}"), "Airflow masked the Variable itself: this test proves nothing"

        AceDataHook().get_current_user()

        assert rotated not in redact(f"token is {rotated}")

    def test_new_platform_token_masked_on_receipt(self, hook, requests_mock):
        new = "platform-v1-" + "9f8e" * 16
        route = requests_mock.post(f"{API}/platform-tokens/", status_code=201, json={"id": APP_ID, "token": new})
        created = hook.create_platform_token(tags=["rotation"], metadata={"rotated_from": "x"})
        assert created["token"] == new
        assert route.last_request.json() == {"tags": ["rotation"], "metadata": {"rotated_from": "x"}}
        assert new not in redact(f"new {new}")

    def test_api_keys_inside_applications_masked(self, hook, requests_mock):
        key = "c0ffee" * 6
        requests_mock.get(
            f"{API}/applications/{APP_ID}", json={"id": APP_ID, "credentials": [{"id": "c", "token": key}]}
        )
        hook.get_application(APP_ID)
        assert key not in redact(key)

    def test_token_values_blanked_and_not_registered(self, hook, me, requests_mock):
        listed = "platform-v1-" + "1234" * 16
        requests_mock.get(
            f"{API}/platform-tokens/",
            json={"count": 1, "items": [{"id": APP_ID, "token": listed, "tags": ["x"], "metadata": {"k": 1}}]},
        )
        with mock.patch("airflow_provider_acedata.masking.mask_secret") as masker:
            items = list(hook.iter_platform_tokens())
        assert items == [{"id": APP_ID, "token": None, "tags": ["x"], "metadata": {"k": 1}}]
        assert listed not in [c.args[0] for c in masker.call_args_list]

    def test_find_platform_token_compares_inside_the_hook(self, hook, me, requests_mock):
        other = "platform-v1-" + "5678" * 16
        requests_mock.get(
            f"{API}/platform-tokens/",
            json={"count": 2, "items": [{"id": "a", "token": other}, {"id": APP_ID, "token": TOKEN}]},
        )
        assert hook.find_platform_token(TOKEN) == {"id": APP_ID, "token": None}
        assert hook.find_platform_token("platform-v1-unknown") is None


def catalogue(requests_mock, services: list[dict], page_size: int = 100):
    """Serve ``services`` as the server does: ``alias`` ignored, ``id`` and ``type`` filtered, pages clamped."""

    def answer(request, context):
        items = [
            s
            for s in services
            if ("id" not in request.qs or s["id"] in request.qs["id"])
            and ("type" not in request.qs or s["type"].lower() in request.qs["type"])
        ]
        offset = int(request.qs["offset"][0])
        limit = min(int(request.qs["limit"][0]), page_size)
        return {"count": len(items), "items": items[offset : offset + limit]}

    return requests_mock.get(f"{API}/services/", json=answer)


def service(index: int, alias: str | None = None, type_: str = "Api") -> dict:
    return {"id": f"00000000-0000-4000-8000-{index:012d}", "alias": alias or f"svc-{index}", "type": type_}


class TestServices:
    def test_find_service_matches_alias_client_side_across_pages(self, hook, requests_mock):
        services = [service(i) for i in range(130)] + [service(130, "midjourney")]
        route = catalogue(requests_mock, services, page_size=50)

        found = hook.find_service("midjourney")

        assert found == services[-1]
        assert [r.qs["offset"][0] for r in route.request_history] == ["0", "50", "100"]
        assert all("alias" not in r.qs for r in route.request_history)

    def test_find_service_is_case_insensitive_and_stops_at_the_match(self, hook, requests_mock):
        services = [service(0, "Suno"), *[service(i) for i in range(1, 250)]]
        route = catalogue(requests_mock, services)

        assert hook.find_service(" suno ")["id"] == services[0]["id"]
        assert route.call_count == 1

    def test_find_service_unknown_alias_is_none(self, hook, requests_mock):
        catalogue(requests_mock, [service(i) for i in range(3)])

        assert hook.find_service("nope") is None

    def test_services_list_is_public_and_needs_no_user_id(self, hook, requests_mock):
        me = requests_mock.get(f"{API}/platform-tokens/me/", json=USER)
        route = catalogue(requests_mock, [service(0)])

        list(hook.iter_services())

        assert "user_id" not in route.last_request.qs
        assert me.call_count == 0

    def test_iter_services_filters_by_type(self, hook, requests_mock):
        route = catalogue(requests_mock, [service(0), service(1, type_="Proxy")])

        assert [s["type"] for s in hook.iter_services(service_type="Proxy")] == ["Proxy"]
        assert route.last_request.qs["type"] == ["proxy"]

    def test_get_service_reads_the_list_filter(self, hook, requests_mock):
        wanted = service(7, "flux")
        route = catalogue(requests_mock, [service(1), wanted])

        assert hook.get_service(wanted["id"].upper()) == wanted
        assert route.last_request.qs["id"] == [wanted["id"]]

    def test_get_service_unknown_id_is_not_found(self, hook, requests_mock):
        catalogue(requests_mock, [service(1)])

        with pytest.raises(AceDataNotFoundError, match="no such service"):
            hook.get_service(SERVICE)

    @pytest.mark.parametrize(
        ("call", "field"),
        [
            (lambda h: h.find_service(""), "alias"),
            (lambda h: h.get_service("midjourney"), "service_id"),
            (lambda h: list(h.iter_services(service_type="Model")), "service_type"),
        ],
    )
    def test_bad_input_fails_before_any_request(self, hook, requests_mock, call, field):
        with pytest.raises(AceDataInputError, match=field):
            call(hook)
        assert requests_mock.call_count == 0


class TestCredentials:
    def test_create_credential_sends_only_given_fields_and_masks_the_key(self, hook, requests_mock):
        route = requests_mock.post(
            f"{API}/credentials/", status_code=201, json={"id": CRED_ID, "name": "etl", "token": API_KEY}
        )

        credential = hook.create_credential(
            APP_ID, name="etl", limited_amount="50", expired_at="2030-01-31T00:00:00", host="example.test"
        )

        assert credential["token"] == API_KEY
        assert route.last_request.json() == {
            "application_id": APP_ID,
            "name": "etl",
            "limited_amount": 50.0,
            "expired_at": "2030-01-31T00:00:00+00:00",
            "host": "example.test",
        }
        assert redact(f"key={API_KEY}") == "key=***"

    def test_create_credential_minimal_body(self, hook, requests_mock):
        route = requests_mock.post(f"{API}/credentials/", status_code=201, json={"id": CRED_ID})

        hook.create_credential(APP_ID)

        assert route.last_request.json() == {"application_id": APP_ID}

    def test_create_credential_never_retried(self, hook, requests_mock):
        route = requests_mock.post(f"{API}/credentials/", [{"status_code": 503}, {"status_code": 201, "json": {}}])

        with pytest.raises(AceDataApiError):
            hook.create_credential(APP_ID, name="etl")
        assert route.call_count == 1

    @pytest.mark.parametrize(
        ("kwargs", "field"),
        [
            ({"application_id": "app"}, "application_id"),
            ({"application_id": APP_ID, "name": " "}, "name"),
            ({"application_id": APP_ID, "limited_amount": -1}, "limited_amount"),
            ({"application_id": APP_ID, "limited_amount": "lots"}, "limited_amount"),
            ({"application_id": APP_ID, "expired_at": "next week"}, "expired_at"),
        ],
    )
    def test_create_credential_bad_input(self, hook, requests_mock, kwargs, field):
        with pytest.raises(AceDataInputError, match=field):
            hook.create_credential(**kwargs)
        assert requests_mock.call_count == 0

    def test_iter_credentials_is_an_owner_list_with_filters(self, hook, me, requests_mock):
        route = requests_mock.get(
            f"{API}/credentials/",
            json={"count": 1, "items": [{"id": CRED_ID, "application_id": APP_ID, "token": API_KEY}]},
        )

        items = list(hook.iter_credentials(application_id=APP_ID, name="etl"))

        assert [c["id"] for c in items] == [CRED_ID]
        assert route.last_request.qs == {
            "user_id": [USER["id"]],
            "application_id": [APP_ID],
            "name": ["etl"],
            "ordering": ["created_at"],
            "limit": ["100"],
            "offset": ["0"],
        }
        assert API_KEY not in redact(str(items))

    def test_find_credential_returns_the_newest_exact_match(self, hook, me, requests_mock):
        newer = "6d1bc3b5-8b97-4a7d-8c2f-1c3c7d2a0e21"
        requests_mock.get(
            f"{API}/credentials/",
            json={
                "count": 3,
                "items": [
                    {"id": CRED_ID, "name": "etl", "application_id": APP_ID},
                    {"id": "x", "name": "etl-2", "application_id": APP_ID},
                    {"id": newer, "name": "etl", "application_id": APP_ID},
                ],
            },
        )
        detail = requests_mock.get(f"{API}/credentials/{newer}", json={"id": newer, "name": "etl", "token": API_KEY})

        assert hook.find_credential(APP_ID, "etl") == {"id": newer, "name": "etl", "token": API_KEY}
        assert detail.call_count == 1, "the key comes from the detail read (masked), not from the list"
        assert hook.find_credential(APP_ID, "other") is None

    def test_lists_never_hand_out_secrets(self, hook, me, requests_mock):
        requests_mock.get(
            f"{API}/credentials/",
            json={"count": 1, "items": [{"id": CRED_ID, "name": "etl", "token": API_KEY, "password": "pw-123456"}]},
        )
        assert list(hook.iter_credentials()) == [{"id": CRED_ID, "name": "etl", "token": None, "password": None}]

    def test_get_credential_masks_embedded_secrets(self, hook, requests_mock):
        password = "identity-password-123"
        requests_mock.get(
            f"{API}/credentials/{CRED_ID}",
            json={"id": CRED_ID, "type": "Identity", "username": "u", "password": password},
        )

        hook.get_credential(CRED_ID)

        assert redact(password) == "***"

    def test_application_detail_masks_its_credentials(self, hook, requests_mock):
        key = "embedded0key0in0application0detail"
        requests_mock.get(f"{API}/applications/{APP_ID}", json={"id": APP_ID, "credentials": [{"token": key}]})

        hook.get_application(APP_ID)

        assert redact(key) == "***"

    @pytest.mark.parametrize("status", [204, 404])
    def test_delete_credential_404_counts_as_deleted(self, hook, requests_mock, status):
        route = requests_mock.delete(f"{API}/credentials/{CRED_ID}", status_code=status, json={"detail": "Not found."})

        assert hook.delete_credential(CRED_ID) is None
        assert route.call_count == 1

    def test_delete_credential_retried_on_5xx(self, hook, requests_mock):
        route = requests_mock.delete(f"{API}/credentials/{CRED_ID}", [{"status_code": 502}, {"status_code": 204}])

        hook.delete_credential(CRED_ID)

        assert route.call_count == 2

    def test_rotate_credential(self, hook, requests_mock):
        route = requests_mock.post(
            f"{API}/credentials/{CRED_ID}/rotate/", json={"id": CRED_ID, "token": "rotated0key0value0000"}
        )

        assert hook.rotate_credential(CRED_ID)["id"] == CRED_ID
        assert route.call_count == 1
        assert redact("rotated0key0value0000") == "***"

    @pytest.mark.parametrize(("status", "kind"), [(404, AceDataNotFoundError), (405, AceDataApiError)])
    def test_rotate_missing_route_is_a_fallback_signal(self, hook, requests_mock, status, kind):
        route = requests_mock.post(f"{API}/credentials/{CRED_ID}/rotate/", status_code=status, text="<html/>")

        with pytest.raises(kind) as caught:
            hook.rotate_credential(CRED_ID)

        assert caught.value.status_code in ROTATE_UNSUPPORTED_STATUSES
        assert route.call_count == 1

    def test_rotate_not_retried(self, hook, requests_mock):
        route = requests_mock.post(f"{API}/credentials/{CRED_ID}/rotate/", [{"status_code": 503}, {"json": {}}])

        with pytest.raises(AceDataApiError):
            hook.rotate_credential(CRED_ID)
        assert route.call_count == 1


# -- monitoring: call records and orders ------------------------------------------------------------


def usage(record_id: str, created_at: str) -> dict:
    return {
        "id": record_id,
        "created_at": created_at,
        "credential": {"id": "c1", "name": "ci", "token": "sk-live-secret-value-1234"},
        "metadata": {"authorization": "Bearer abc-secret-xyz", "model": "gpt"},
    }


def test_iter_usage_sends_the_filters_and_drops_both_edges(hook, me, requests_mock):
    route = requests_mock.get(
        f"{API}/usage/apis/",
        json={
            "count": 3,
            "items": [
                usage("a", "2026-02-28T23:59:59.999999Z"),
                usage("b", "2026-03-01T00:00:00.000000Z"),
                usage("c", "2026-03-02T00:00:00.000000Z"),
            ],
        },
    )

    records = list(
        hook.iter_usage(created_at_from=START, created_at_to=END, application_id=APP_ID, status_code=[200, "429"])
    )

    assert [r["id"] for r in records] == ["b"]
    query = route.last_request.qs
    assert query["user_id"] == [USER["id"]]
    assert query["created_at_from"] == ["2026-03-01t00:00:00.000000z"]
    assert query["created_at_to"] == ["2026-03-02t00:00:00.000000z"]
    assert query["application_id"] == [APP_ID]
    assert query["status_code"] == ["200", "429"]
    assert query["ordering"] == ["created_at"]


def test_usage_records_leave_the_hook_without_token_like_values(hook, me, requests_mock):
    requests_mock.get(f"{API}/usage/apis/", json={"count": 1, "items": [usage("b", "2026-03-01T01:00:00Z")]})

    [record] = hook.iter_usage(created_at_from=START, created_at_to=END)

    assert record["credential"] == {"id": "c1", "name": "ci"}
    assert record["metadata"] == {"authorization": None, "model": "gpt"}
    assert "secret" not in repr(record)


def test_count_usage_leaves_out_records_at_exactly_the_end(hook, me, requests_mock):
    requests_mock.get(
        f"{API}/usage/apis/",
        json={
            "count": 5,
            "items": [usage("z", "2026-03-02T00:00:00Z"), usage("y", "2026-03-01T23:00:00Z")],
        },
    )

    assert hook.count_usage(created_at_from=START, created_at_to=END) == 4


def test_a_count_is_one_request_when_the_newest_record_is_before_the_end(hook, me, requests_mock):
    route = requests_mock.get(
        f"{API}/usage/apis/", json={"count": 797, "items": [usage("y", "2026-03-01T23:59:59.999999Z")]}
    )

    assert hook.count_usage(created_at_from=START, created_at_to=END) == 797
    assert route.call_count == 1
    assert route.last_request.qs["ordering"] == ["-created_at"]
    assert route.last_request.qs["limit"] == ["1"]


def test_both_counts_page_past_records_at_exactly_the_end(platform, app_id):
    """Against the offline platform (inclusive ``created_at_to``): 150 records at the end span two pages."""
    from airflow_provider_acedata.queries import usage_query

    start = datetime(2026, 3, 1, tzinfo=UTC)
    platform.add_usage(app_id, count=7, start=start, end=END)
    platform.add_usage(app_id, count=150, start=END, end=END, seed=1)
    query = usage_query(created_at_from=start, created_at_to=END)
    hook = AceDataHook()

    async def acount() -> int:
        try:
            return await hook.acount_records(query)
        finally:
            await hook.aclose()

    assert hook.count_records(query) == asyncio.run(acount()) == 7


def test_orders_blank_payment_links(hook, me, requests_mock):
    order = {"id": APP_ID, "created_at": "2026-03-01T05:00:00Z", "pay_url": "https://pay/x", "pay_id": "pi_1"}
    requests_mock.get(f"{API}/orders/", json={"count": 1, "items": [order]})
    requests_mock.get(f"{API}/orders/{APP_ID}", json=order)

    [listed] = hook.iter_orders(state=["Paid", "Finished"], created_at_from=START, created_at_to=END)

    assert listed["pay_url"] is None and listed["pay_id"] is None
    assert hook.get_order(APP_ID)["pay_id"] is None
    assert requests_mock.request_history[-2].qs["state"] == ["paid", "finished"]


def test_aggregate_usage_sends_the_window(hook, me, requests_mock):
    route = requests_mock.get(f"{API}/usage/apis/aggregate/", json={"total": 1.5, "items": [], "apis": {}})

    assert hook.aggregate_usage(start_time=START, end_time=END, timezone="Asia/Shanghai")["total"] == 1.5
    assert route.last_request.qs["timezone"] == ["asia/shanghai"]


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda h: h.iter_usage(created_at_from=END, created_at_to=START), "created_at_to"),
        (lambda h: h.iter_usage(created_at_from=START, created_at_to=END, service_id="x"), "service_id"),
        (lambda h: h.iter_usage(created_at_from=START, created_at_to=END, status_code=700), "status_code"),
        (lambda h: h.iter_orders(state="Done"), "state"),
        (lambda h: h.iter_orders(created_at_from=START), "created_at_to"),
        (lambda h: h.get_order("42"), "order_id"),
        (lambda h: h.aggregate_usage(start_time=START, end_time=END, colour="red"), "colour"),
    ],
)
def test_bad_filters_fail_before_any_request(hook, requests_mock, call, field):
    with pytest.raises(AceDataInputError, match=field):
        call(hook)

    assert requests_mock.request_history == []
