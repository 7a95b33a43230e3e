"""CreateApplicationOperator against the offline platform on a real socket: create, reuse, XCom, inputs, link."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any
from unittest import mock

import pytest
from testdata import pushed

from airflow_provider_acedata.exceptions import AceDataConflictError, AceDataDuplicationError, AceDataInputError
from airflow_provider_acedata.hooks import AceDataHook
from airflow_provider_acedata.links import AceDataApplicationLink
from airflow_provider_acedata.operators import CreateApplicationOperator
from airflow_provider_acedata.testing import FakeAceDataPlatform

MIDJOURNEY = "d87e5e99-b797-4ade-9e73-b896896b0461"
APPLICATIONS = r"/applications/?$"
SUMMARY_KEYS = {"id", "service_id", "type", "scope", "remaining_amount", "created"}


def lose_the_create_race(platform: FakeAceDataPlatform) -> None:
    """The next create is applied, but answered as if another run had created the application first."""
    platform.fail(
        method="POST",
        path=APPLICATIONS,
        status=400,
        body={"detail": "Application already exists.", "code": "duplication"},
        after_apply=True,
    )


def create(**kwargs: Any) -> CreateApplicationOperator:
    return CreateApplicationOperator(task_id="create_app", **kwargs)


def api_keys(platform: FakeAceDataPlatform) -> list[str]:
    return [credential["token"] for credential in platform.credentials()]


class TestCreate:
    def test_creates_the_application_and_returns_its_id(self, platform, context, capsys):
        application_id = create(service_id=MIDJOURNEY).execute(context)

        [application] = platform.applications()
        assert application["id"] == application_id
        assert (application["service_id"], application["type"], application["scope"]) == (
            MIDJOURNEY,
            "Usage",
            "Individual",
        )
        [post] = platform.calls("POST", APPLICATIONS)
        assert post.body == {"service_id": MIDJOURNEY, "type": "Usage", "scope": "Individual"}
        assert (
            f"Created Individual Usage application of service {MIDJOURNEY}: {application_id}" in capsys.readouterr().out
        )

    def test_xcom_holds_the_id_and_a_summary_without_api_keys(self, platform, context):
        application_id = create(service_id=MIDJOURNEY).execute(context)

        xcoms = pushed(context)
        assert set(xcoms) == {"application", "application_id"}
        assert xcoms["application_id"] == application_id
        assert xcoms["application"] == {
            "id": application_id,
            "service_id": MIDJOURNEY,
            "type": "Usage",
            "scope": "Individual",
            "remaining_amount": 0,
            "created": True,
        }
        keys = api_keys(platform)
        assert keys, "the platform gives a new application an API key"
        assert not [key for key in keys if key in json.dumps(xcoms)]

    def test_period_application(self, platform, context):
        application_id = create(service_id=MIDJOURNEY, application_type="Period").execute(context)

        [application] = platform.applications()
        assert (application["id"], application["type"]) == (application_id, "Period")
        assert pushed(context)["application"]["type"] == "Period"

    def test_global_needs_no_service(self, platform, context):
        created = create(service_id=None, scope="Global").execute(context)
        reused = create(scope="Global").execute(context)

        [application] = platform.applications()
        assert created == reused == application["id"]
        assert (application["scope"], application["service_id"]) == ("Global", None)
        assert platform.calls("POST", APPLICATIONS)[0].body == {"type": "Usage", "scope": "Global"}


class TestIfExists:
    def test_reuse_returns_the_existing_application_without_posting(self, platform, context, capsys):
        existing = AceDataHook().create_application(MIDJOURNEY)["id"]
        platform.clear_requests()

        assert create(service_id=MIDJOURNEY).execute(context) == existing

        assert platform.calls("POST") == []
        assert pushed(context)["application"]["created"] is False
        assert pushed(context)["application_id"] == existing
        assert f"Reusing Individual Usage application of service {MIDJOURNEY}: {existing}" in capsys.readouterr().out

    def test_rerun_reuses(self, platform, context):
        first = create(service_id=MIDJOURNEY).execute(context)

        assert create(service_id=MIDJOURNEY).execute(context) == first
        assert len(platform.applications()) == 1
        assert len(platform.calls("POST", APPLICATIONS)) == 1

    def test_reuse_matches_type_and_scope_exactly(self, platform, context):
        usage = create(service_id=MIDJOURNEY).execute(context)
        globally = create(scope="Global").execute(context)

        period = create(service_id=MIDJOURNEY, application_type="Period").execute(context)

        assert len({usage, globally, period}) == 3
        assert len(platform.applications()) == 3

    def test_fail(self, platform, context):
        first = create(service_id=MIDJOURNEY, if_exists="fail").execute(context)

        with pytest.raises(AceDataConflictError, match=f"already exists \\({first}\\) and if_exists='fail'"):
            create(service_id=MIDJOURNEY, if_exists="fail").execute(context)
        assert len(platform.applications()) == 1
        assert len(platform.calls("POST", APPLICATIONS)) == 1

    def test_create_always_posts_and_the_platform_refuses_the_duplicate(self, platform, context):
        created = create(service_id=MIDJOURNEY, if_exists="create").execute(context)

        with pytest.raises(AceDataDuplicationError, match="duplication"):
            create(service_id=MIDJOURNEY, if_exists="create").execute(context)
        assert [app["id"] for app in platform.applications()] == [created]
        assert len(platform.calls("POST", APPLICATIONS)) == 2
        assert platform.calls("GET", APPLICATIONS) == []

    def test_reuse_when_the_create_loses_a_race_on_the_platform(self, platform, context):
        lose_the_create_race(platform)

        application_id = create(service_id=MIDJOURNEY).execute(context)

        assert [app["id"] for app in platform.applications()] == [application_id]
        assert pushed(context)["application"]["created"] is False

    def test_reuse_when_another_run_creates_between_find_and_create(self, platform, context):
        operator = create(service_id=MIDJOURNEY)
        find = operator.hook.find_application
        calls = []

        def find_then_lose_the_race(*args: Any, **kwargs: Any) -> dict[str, Any] | None:
            calls.append(args)
            found = find(*args, **kwargs)
            if len(calls) == 1:
                AceDataHook().create_application(MIDJOURNEY)
            return found

        operator.hook.find_application = find_then_lose_the_race  # type: ignore[method-assign]

        application_id = operator.execute(context)

        assert len(calls) == 2
        assert [app["id"] for app in platform.applications()] == [application_id]
        assert pushed(context)["application"]["created"] is False
        assert len(platform.calls("POST", APPLICATIONS)) == 2

    def test_fail_mode_does_not_hide_a_lost_race(self, platform, context):
        lose_the_create_race(platform)

        with pytest.raises(AceDataDuplicationError):
            create(service_id=MIDJOURNEY, if_exists="fail").execute(context)
        assert context["ti"].xcom_push.call_args_list == []


class TestServiceAlias:
    def test_alias_is_resolved_then_the_application_created(self, platform, context):
        application_id = create(service_alias="Suno").execute(context)

        [application] = platform.applications()
        assert application["id"] == application_id
        assert application["service_id"] == platform.service_id("suno")
        assert pushed(context)["application_id"] == application_id
        assert pushed(context)["application"]["service_id"] == platform.service_id("suno")
        assert all("alias" not in r.query for r in platform.calls("GET", "/services"))

    def test_alias_rerun_reuses(self, platform, context):
        first = create(service_alias="midjourney").execute(context)

        assert create(service_alias="midjourney").execute(context) == first
        assert len(platform.applications()) == 1

    def test_unknown_alias_fails_without_creating(self, platform, context):
        with pytest.raises(AceDataInputError, match="'nope'"):
            create(service_alias="nope").execute(context)

        assert platform.calls("POST") == []

    def test_service_id_needs_no_catalogue_lookup(self, platform, context):
        create(service_id=MIDJOURNEY).execute(context)

        assert platform.calls("GET", "/services") == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"service_id": MIDJOURNEY, "service_alias": "midjourney"}, "not both"),
        ({}, "needs service_id or service_alias"),
        ({"service_id": "", "service_alias": ""}, "needs service_id or service_alias"),
        ({"service_alias": "midjourney", "scope": "Global"}, "service_alias must be empty"),
        ({"service_id": MIDJOURNEY, "scope": "Global"}, "service_id must be empty when scope is 'Global'"),
        ({"service_id": "not-a-uuid"}, "service_id must be a UUID such as"),
        ({"service_id": "midjourney"}, "use service_alias='midjourney' instead"),
        ({"service_id": MIDJOURNEY, "application_type": "Daily"}, "application_type must be one of 'Usage', 'Period'"),
        ({"service_alias": "midjourney", "application_type": "Daily"}, "application_type"),
        ({"service_id": MIDJOURNEY, "scope": "Team"}, "scope must be one of 'Individual', 'Global', got 'Team'"),
        ({"service_id": MIDJOURNEY, "if_exists": "ignore"}, "if_exists must be one of 'reuse', 'fail', 'create'"),
        ({"service_alias": "midjourney", "if_exists": "maybe"}, "if_exists"),
    ],
)
def test_bad_input_fails_before_any_request(platform, context, kwargs, message):
    with pytest.raises(AceDataInputError, match=message):
        create(**kwargs).execute(context)

    assert platform.requests == []
    assert context["ti"].xcom_push.call_args_list == []


def test_template_fields_are_rendered(platform, context):
    operator = create(service_id="{{ params.service_id }}", application_type="{{ params.application_type }}")
    context["params"] = {"service_id": MIDJOURNEY, "application_type": "Period"}

    operator.render_template_fields(context)
    application_id = operator.execute(context)

    assert (operator.service_id, operator.application_type) == (MIDJOURNEY, "Period")
    [application] = platform.applications()
    assert (application["id"], application["type"]) == (application_id, "Period")
    assert {"service_id", "service_alias", "application_type", "scope", "if_exists", "acedata_conn_id"} == set(
        operator.template_fields
    )


def test_link_points_at_the_console_of_the_connection_host(platform, context):
    operator = create(service_id=MIDJOURNEY)
    operator.execute(context)
    [link] = operator.operator_extra_links
    ti_key = SimpleNamespace(dag_id="d", task_id="create_app", run_id="r", map_index=-1, try_number=1)

    elsewhere = create(service_id=MIDJOURNEY)  # the same task in another process: it reads the XCom
    with mock.patch(
        "airflow.sdk.execution_time.xcom.XCom.get_value", return_value=pushed(context)["application_id"]
    ) as get_value:
        url = link.get_link(operator, ti_key=ti_key)  # type: ignore[arg-type]
        get_value.assert_not_called()  # the operator that ran knows what it pushed
        url_elsewhere = link.get_link(elsewhere, ti_key=ti_key)  # type: ignore[arg-type]

    assert isinstance(link, AceDataApplicationLink)
    get_value.assert_called_once_with(key="application_id", ti_key=ti_key)
    assert url == url_elsewhere == f"{platform.url}/console/applications"
