"""forms/vocabulary.py agrees with the data it names."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from forms.messages import OptionError
from forms.vocabulary import (
    ADMIN_UNITS_CSV,
    ALL_TIME,
    COUNTED_REVIEW_STATES,
    DATE_INVALID,
    MOMENT_INVALID,
    MONTH_INVALID,
    NO_SUCH_MONTH,
    NOT_A_DATE,
    OUT_OF_RANGE,
    RANGE_ORDER,
    REGION_LABELS,
    REGIONS,
    REVIEW_DECISIONS,
    REVIEW_STATE_LABELS,
    REVIEW_STATES,
    RISK_LEVEL_LABELS,
    RISK_LEVELS,
    WHOLE_MONTHS,
    districts,
    parse_moment_range,
    parse_month_range,
    region_of_district,
    whole_period,
)


def test_regions_and_districts_are_the_admin_csv() -> None:
    with ADMIN_UNITS_CSV.open(encoding="utf-8") as source:
        rows = list(csv.DictReader(source))
    assert {(r["region_code"], r["region_name"]) for r in rows} == set(REGION_LABELS.items())
    assert REGIONS == tuple(REGION_LABELS)
    units = districts()
    assert len(units) == len(rows) == 68
    for code, unit in units.items():
        assert code.startswith(unit.region + "-") and unit.region in REGIONS
    assert units["TJ-SU-KHUJAND"].kind == "city"


def test_labels_cover_their_codes() -> None:
    assert tuple(REVIEW_STATE_LABELS) == REVIEW_STATES
    assert set(REVIEW_DECISIONS) < set(REVIEW_STATES)
    assert "rejected" not in COUNTED_REVIEW_STATES and len(COUNTED_REVIEW_STATES) == 4
    assert tuple(RISK_LEVEL_LABELS) == RISK_LEVELS


def test_whole_periods() -> None:
    cases = [
        (ALL_TIME, True), ((202603, 202603), True), ((202601, 202603), True),
        ((202604, 202606), True), ((202601, 202612), True), ((202602, 202604), False),
        ((202601, 202602), False), ((0, 202612), False), ((202601, ALL_TIME[1]), False),
        ((202512, 202601), False),
    ]
    for (month_from, month_to), whole in cases:
        assert whole_period(month_from, month_to) is whole, (month_from, month_to)


# --- the one meaning of dates in query parameters ------------------------------------------

MARCH = (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC))


@pytest.mark.parametrize("start, end, expected", [
    ("2026-03-01", "2026-03-31", MARCH),  # an end date names the last day included
    ("2026-03-01T00:00:00Z", "2026-04-01T00:00:00+00:00", MARCH),  # an end moment is excluded
    ("2026-03-01T05:00:00+05:00", None, (MARCH[0], None)),
    ("2026-03-01T00:00:00", None, (MARCH[0], None)),  # no offset: UTC
    (None, "2026-03-31", (None, MARCH[1])),
    ("2026-03-05", "2026-03-05", (datetime(2026, 3, 5, tzinfo=UTC), datetime(2026, 3, 6, tzinfo=UTC))),
])
def test_moment_ranges(start, end, expected) -> None:
    assert parse_moment_range(start, end) == expected


def test_day_ranges_in_a_zone() -> None:
    dushanbe = ZoneInfo("Asia/Dushanbe")  # UTC+5
    assert parse_moment_range("2026-03-01", "2026-03-31", ("from", "to"), zone=dushanbe,
                              dates_only=True) == tuple(m - timedelta(hours=5) for m in MARCH)


@pytest.mark.parametrize("start, end, dates_only, refusal", [
    ("yesterday", None, False, MOMENT_INVALID),
    ("2026-03-01T10:00", None, True, DATE_INVALID),
    ("2026-3-1", None, True, DATE_INVALID),
    ("0001-01-01T00:00:00+05:00", None, False, OUT_OF_RANGE),
    (None, "9999-12-31", False, OUT_OF_RANGE),
    ("2026-03-02", "2026-03-01", False, RANGE_ORDER),
    ("2026-03-01T10:00:00Z", "2026-03-01T10:00:00Z", False, RANGE_ORDER),
])
def test_moment_refusals(start, end, dates_only, refusal) -> None:
    with pytest.raises(OptionError) as refused:
        parse_moment_range(start, end, dates_only=dates_only)
    assert refused.value.template == refusal


@pytest.mark.parametrize("start, end, expected", [
    ("2026-01", "2026-03", (202601, 202603)),
    ("2026-01-01", "2026-03-31", (202601, 202603)),  # the same months, as days
    ("2026-02-01", "2026-02-28", (202602, 202602)),
    ("2024-02-01", "2024-02-29", (202402, 202402)),
    (None, None, ALL_TIME),
    ("2026-05", None, (202605, ALL_TIME[1])),
    ("2026-04", "2026-04", (202604, 202604)),
])
def test_month_ranges(start, end, expected) -> None:
    assert parse_month_range(start, end) == expected


@pytest.mark.parametrize("start, end, refusal", [
    ("2026-01-15", None, WHOLE_MONTHS),
    (None, "2026-02-27", WHOLE_MONTHS),
    (None, "2026-03-01", WHOLE_MONTHS),  # an end names the last day: March 1 is not a month's end
    ("2026-05", "2026-04", RANGE_ORDER),
    ("2026-13", None, NO_SUCH_MONTH),
    ("0000-01", None, NO_SUCH_MONTH),
    ("0000-01-01", None, NOT_A_DATE),
    ("2026-02-30", None, NOT_A_DATE),
    ("March", None, MONTH_INVALID),
])
def test_month_refusals(start, end, refusal) -> None:
    with pytest.raises(OptionError) as refused:
        parse_month_range(start, end)
    assert refused.value.template == refusal


def test_region_of_district() -> None:
    assert region_of_district("TJ-SU-KHUJAND") == "TJ-SU"
    assert all(region_of_district(code) == unit.region for code, unit in districts().items())
    assert region_of_district("TJ-KT-NEWPLACE") == "TJ-KT"  # not listed yet: its prefix
    assert region_of_district("nowhere") is None
