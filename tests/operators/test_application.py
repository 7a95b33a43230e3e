"""CreateApplicationOperator by service alias, its input rules, the application_id XCom and the console link."""

from __future__ import annotations

import pytest

from airflow_provider_acedata.exceptions import AceDataInputError
from airflow_provider_acedata.links import AceDataApplicationLink
from airflow_provider_acedata.operators import CreateApplicationOperator

MIDJOURNEY = "d87e5e99-b797-4ade-9e73-b896896b0461"


def pushed(context: dict) -> dict:
    return {c.kwargs["key"]: c.kwargs["value"] for c in context["ti"].xcom_push.call_args_list}


def test_alias_is_resolved_then_the_application_created(platform, context):
    application_id = CreateApplicationOperator(task_id="create_app", service_alias="Suno").execute(context)

    [application] = platform.applications()
    assert application["id"] == application_id
    assert application["service_id"] == platform.service_id("suno")
    assert pushed(context)["application_id"] == application_id
    assert pushed(context)["application"]["service_id"] == platform.service_id("suno")
    assert all("alias" not in r.query for r in platform.calls("GET", "/services"))


def test_alias_rerun_reuses(platform, context):
    first = CreateApplicationOperator(task_id="create_app", service_alias="midjourney").execute(context)

    assert CreateApplicationOperator(task_id="create_app", service_alias="midjourney").execute(context) == first
    assert len(platform.applications()) == 1


def test_unknown_alias_fails_without_creating(platform, context):
    with pytest.raises(AceDataInputError, match="'nope'"):
        CreateApplicationOperator(task_id="create_app", service_alias="nope").execute(context)

    assert platform.calls("POST") == []


def test_service_id_keyword_still_works(platform, context):
    application_id = CreateApplicationOperator(task_id="create_app", service_id=MIDJOURNEY).execute(context)

    assert pushed(context)["application_id"] == application_id
    assert platform.calls("GET", "/services") == []


def test_global_needs_neither(platform, context):
    CreateApplicationOperator(task_id="create_app", service_id=None, scope="Global").execute(context)
    CreateApplicationOperator(task_id="create_app", scope="Global").execute(context)

    assert [a["scope"] for a in platform.applications()] == ["Global"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"service_id": MIDJOURNEY, "service_alias": "midjourney"}, "not both"),
        ({}, "needs service_id or service_alias"),
        ({"service_id": "", "service_alias": ""}, "needs service_id or service_alias"),
        ({"service_alias": "midjourney", "scope": "Global"}, "service_alias must be empty"),
        ({"service_id": MIDJOURNEY, "scope": "Global"}, "service_id must be empty"),
        ({"service_id": "midjourney"}, "service_id must be a UUID"),
        ({"service_id": "midjourney"}, "use service_alias='midjourney' instead"),
        ({"service_alias": "midjourney", "application_type": "Daily"}, "application_type"),
        ({"service_alias": "midjourney", "if_exists": "maybe"}, "if_exists"),
    ],
)
def test_bad_input_fails_before_any_request(platform, context, kwargs, message):
    with pytest.raises(AceDataInputError, match=message):
        CreateApplicationOperator(task_id="create_app", **kwargs).execute(context)

    assert platform.requests == []


def test_alias_is_templated_and_the_link_attached():
    operator = CreateApplicationOperator(task_id="create_app", service_alias="{{ params.alias }}")

    assert "service_alias" in operator.template_fields
    assert [type(link) for link in operator.operator_extra_links] == [AceDataApplicationLink]
