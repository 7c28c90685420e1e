"""forms/vocabulary.py agrees with the data it names."""

from __future__ import annotations

import csv

from forms.vocabulary import (
    ADMIN_UNITS_CSV,
    ALL_TIME,
    COUNTED_REVIEW_STATES,
    REGION_LABELS,
    REGIONS,
    REVIEW_DECISIONS,
    REVIEW_STATE_LABELS,
    REVIEW_STATES,
    RISK_LEVEL_LABELS,
    RISK_LEVELS,
    districts,
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
