"""AceDataApplicationLink: console URL from the connection host and the application_id XCom."""

from __future__ import annotations

from types import SimpleNamespace
from unittest import mock

import pytest
from testdata import connection_json

from airflow_provider_acedata.links import AceDataApplicationLink

APP_ID = "107f8d0f-e465-4a7e-a49e-d633d26f7aa2"
TI_KEY = SimpleNamespace(dag_id="d", task_id="t", run_id="r", map_index=-1, try_number=1)


def link(application_id: str | None, conn_id: str | None = "acedata_default") -> str:
    operator = SimpleNamespace(acedata_conn_id=conn_id)
    with mock.patch("airflow.sdk.execution_time.xcom.XCom.get_value", return_value=application_id) as get_value:
        url = AceDataApplicationLink().get_link(operator, ti_key=TI_KEY)  # type: ignore[arg-type]
    get_value.assert_called_once_with(key="application_id", ti_key=TI_KEY)
    return url


@pytest.mark.parametrize(
    ("host", "base"),
    [
        ("https://platform.example.test", "https://platform.example.test"),
        ("https://platform.example.test/api/v1/", "https://platform.example.test"),
        (None, "https://platform.acedata.cloud"),
        ("http://127.0.0.1:8123", "http://127.0.0.1:8123"),
    ],
)
def test_console_url_follows_the_connection_host(monkeypatch, host, base):
    monkeypatch.setenv("AIRFLOW_CONN_ACEDATA_DEFAULT", connection_json(host=host))

    assert link(APP_ID) == f"{base}/console/applications"


def test_no_application_id_no_link(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_ACEDATA_DEFAULT", connection_json())

    assert link(None) == ""


@pytest.mark.parametrize("conn_id", ["missing_conn", None])
def test_unreadable_connection_falls_back_to_the_public_console(conn_id):
    assert link(APP_ID, conn_id) == "https://platform.acedata.cloud/console/applications"


def test_unsafe_host_falls_back_to_the_public_console(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_ACEDATA_DEFAULT", connection_json(host="http://platform.example.test"))

    assert link(APP_ID) == "https://platform.acedata.cloud/console/applications"


def test_name():
    assert AceDataApplicationLink().name == "Ace Data Cloud console"


def test_a_task_that_failed_before_it_had_an_application_asks_for_no_xcom(monkeypatch):
    """No "XCom not found ... key='application_id'" error when create_application fails on its input."""
    from airflow_provider_acedata.operators import CreateApplicationOperator

    monkeypatch.setenv("AIRFLOW_CONN_ACEDATA_DEFAULT", connection_json())
    operator = CreateApplicationOperator(task_id="create_application", service_id="midjourney")
    context = {"ti": mock.MagicMock()}
    with pytest.raises(ValueError, match="service_alias='midjourney'"):
        operator.execute(context)  # type: ignore[arg-type]

    with mock.patch("airflow.sdk.execution_time.xcom.XCom.get_value") as get_value:
        url = AceDataApplicationLink().get_link(operator, ti_key=TI_KEY)  # type: ignore[arg-type]

    assert url == ""
    get_value.assert_not_called()
    context["ti"].xcom_push.assert_not_called()


def test_a_task_that_pushed_its_application_links_without_reading_xcom(monkeypatch):
    from airflow_provider_acedata.links import note_application

    monkeypatch.setenv("AIRFLOW_CONN_ACEDATA_DEFAULT", connection_json(host="https://platform.example.test"))
    operator = SimpleNamespace(acedata_conn_id="acedata_default")
    context = {"ti": mock.MagicMock()}
    note_application(operator, context, APP_ID)

    with mock.patch("airflow.sdk.execution_time.xcom.XCom.get_value") as get_value:
        url = AceDataApplicationLink().get_link(operator, ti_key=TI_KEY)  # type: ignore[arg-type]

    assert url == "https://platform.example.test/console/applications"
    get_value.assert_not_called()
    context["ti"].xcom_push.assert_called_once_with(key="application_id", value=APP_ID)
