"""The input checks themselves: what each accepts, how it normalizes, and the edges callers' tests do not reach.

Callers' tests (hooks, operators) check that each field is validated before any request; these pin the rules.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from airflow_provider_acedata.exceptions import AceDataInputError
from airflow_provider_acedata.validation import (
    APPLICATION_TYPES,
    application_key,
    optional_choices,
    optional_datetime,
    optional_status_codes,
    optional_uuids,
    platform_time,
    require_choice,
    require_datetime,
    require_interval,
    require_number,
    require_text,
    require_uuid,
)

UUID = "d87e5e99-b797-4ade-9e73-b896896b0461"
UTC = UTC


class TestUuid:
    @pytest.mark.parametrize("value", [UUID, UUID.upper(), f"  {UUID}\n"])
    def test_canonical_form(self, value):
        assert require_uuid("service_id", value) == UUID

    @pytest.mark.parametrize("value", ["midjourney", "", None, 42, UUID[:-1]])
    def test_refused_naming_the_field_and_the_value(self, value):
        with pytest.raises(AceDataInputError, match=rf"service_id must be a UUID .*got {value!r}"):
            require_uuid("service_id", value)

    def test_optional_uuids_one_or_many_or_none(self):
        assert optional_uuids("application_id", UUID.upper()) == [UUID]
        assert optional_uuids("application_id", (UUID, UUID)) == [UUID, UUID]
        assert [optional_uuids("application_id", empty) for empty in (None, "", [])] == [None, None, None]
        with pytest.raises(AceDataInputError, match="application_id"):
            optional_uuids("application_id", [UUID, "x"])


class TestChoice:
    def test_exact_match_only(self):
        assert require_choice("application_type", "Usage", APPLICATION_TYPES) == "Usage"
        for value in ("usage", " Usage", None):
            with pytest.raises(AceDataInputError, match=r"application_type must be one of 'Usage', 'Period', got"):
                require_choice("application_type", value, APPLICATION_TYPES)

    def test_optional_choices(self):
        assert optional_choices("state", "Paid", ("Paid", "Failed")) == ["Paid"]
        assert optional_choices("state", ["Paid", "Failed"], ("Paid", "Failed")) == ["Paid", "Failed"]
        assert optional_choices("state", [], ("Paid",)) is None
        with pytest.raises(AceDataInputError, match="state must be one of 'Paid'"):
            optional_choices("state", ["Paid", "Done"], ("Paid",))


class TestApplicationKey:
    def test_global_needs_no_service_and_empty_counts_as_none(self):
        assert application_key("", "Period", "Global") == (None, "Period", "Global")
        assert application_key(None, "Usage", "Global") == (None, "Usage", "Global")

    def test_individual_canonicalizes_the_service(self):
        assert application_key(UUID.upper(), "Usage", "Individual") == (UUID, "Usage", "Individual")


class TestNumber:
    @pytest.mark.parametrize(("value", "number"), [(25, 25.0), (2.5, 2.5), (" 25 ", 25.0), ("1e3", 1000.0)])
    def test_numbers_and_rendered_templates(self, value, number):
        assert require_number("limited_amount", value) == number

    @pytest.mark.parametrize("value", [True, False, "lots", "", None, "nan", "inf", float("nan"), float("-inf")])
    def test_refused(self, value):
        with pytest.raises(AceDataInputError, match="limited_amount must be a number"):
            require_number("limited_amount", value)

    def test_minimum_is_inclusive(self):
        assert require_number("threshold", 0, minimum=0) == 0.0
        with pytest.raises(AceDataInputError, match=r"threshold must be >= 0, got -0.01"):
            require_number("threshold", -0.01, minimum=0)


class TestText:
    def test_stripped(self):
        assert require_text("name", "  etl \n") == "etl"

    def test_length_counts_after_stripping(self):
        assert require_text("name", " " + "x" * 255 + " ") == "x" * 255
        with pytest.raises(AceDataInputError, match="at most 255 characters"):
            require_text("name", "x" * 256)

    @pytest.mark.parametrize("value", ["", "   ", None, 7])
    def test_refused(self, value):
        with pytest.raises(AceDataInputError, match="name must be a non-empty string"):
            require_text("name", value)


class TestDatetime:
    @pytest.mark.parametrize(
        ("value", "text"),
        [
            ("2030-01-31T00:00:00Z", "2030-01-31T00:00:00+00:00"),
            ("2030-01-31T00:00:00", "2030-01-31T00:00:00+00:00"),
            ("2030-01-31T08:00:00+08:00", "2030-01-31T08:00:00+08:00"),
            (datetime(2030, 1, 31), "2030-01-31T00:00:00+00:00"),
        ],
    )
    def test_naive_means_utc_and_offsets_are_kept(self, value, text):
        assert optional_datetime("expired_at", value) == text

    def test_empty_is_none_but_required_says_so(self):
        assert optional_datetime("expired_at", None) is None
        assert optional_datetime("expired_at", "") is None
        with pytest.raises(AceDataInputError, match="start is required"):
            require_datetime("start", "")

    @pytest.mark.parametrize("value", ["soon", "31/01/2030", 1706659200])
    def test_refused(self, value):
        with pytest.raises(AceDataInputError, match="expired_at must be an ISO-8601 timestamp"):
            optional_datetime("expired_at", value)

    def test_platform_time_is_utc_with_microseconds(self):
        moment = datetime(2030, 1, 31, 8, 0, 0, 5, tzinfo=timezone(timedelta(hours=8)))
        assert platform_time(moment) == "2030-01-31T00:00:00.000005Z"


class TestInterval:
    START = datetime(2030, 1, 1, tzinfo=UTC)
    END = datetime(2030, 1, 2, tzinfo=UTC)

    def test_half_open_interval(self):
        assert require_interval("2030-01-01T00:00:00Z", self.END) == (self.START, self.END)

    def test_empty_interval_refused(self):
        with pytest.raises(AceDataInputError, match=r"end \(2030-01-01T00:00:00\+00:00\) must be after start"):
            require_interval(self.START, self.START)

    def test_end_may_be_now_but_not_later(self):
        assert require_interval(self.START, self.END, now=self.END)[1] == self.END
        with pytest.raises(AceDataInputError, match=r"created_at_to .* is in the future"):
            require_interval(self.START, self.END, now=self.END - timedelta(microseconds=1), end_field="created_at_to")


class TestStatusCodes:
    def test_numbers_or_strings_one_or_many(self):
        assert optional_status_codes("status_code", 404) == ["404"]
        assert optional_status_codes("status_code", ["200", 599, " 100 "]) == ["200", "599", "100"]
        assert optional_status_codes("status_code", None) is None

    @pytest.mark.parametrize("value", [99, 600, "2xx", True, [200, "abc"], -200])
    def test_refused(self, value):
        with pytest.raises(AceDataInputError, match="status_code must be HTTP status codes between 100 and 599"):
            optional_status_codes("status_code", value)
