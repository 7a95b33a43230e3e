"""AceDataHook services and credentials against requests-mock: alias resolution, paging, key masking, rotate."""

from __future__ import annotations

import pytest
from airflow.sdk.log import mask_secret  # noqa: F401  (registers the masker used by redact)
from testdata import API, USER, redact

from airflow_provider_acedata.exceptions import AceDataApiError, AceDataInputError, AceDataNotFoundError
from airflow_provider_acedata.hooks.acedata import ROTATE_UNSUPPORTED_STATUSES

SERVICE = "d87e5e99-b797-4ade-9e73-b896896b0461"
APP_ID = "107f8d0f-e465-4a7e-a49e-d633d26f7aa2"
CRED_ID = "5c0ab2a4-7a86-4f6c-bb1e-0b2b6c1f9d10"
API_KEY = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"


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
