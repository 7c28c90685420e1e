"""The words of the domain, one home each: review states, risk levels, regions and districts,
periods and the month keys of summaries. Pure (the district list is read from the bundled
forms/data/tajikistan-admin.csv when first asked for); everything that needs one of these
imports it from here, and tests/unit/test_layout.py keeps the literals from coming back.

Labels are catalogue texts (N_), translated where they are shown."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from forms.messages import N_

# --- review states (ODK Central's) ---------------------------------------------------------

REVIEW_STATES = ("received", "hasIssues", "edited", "approved", "rejected")
# what a reviewer may set (received and edited come from submissions themselves)
REVIEW_DECISIONS = ("hasIssues", "approved", "rejected")
# what summaries, reports and publications count by default: everything not rejected
COUNTED_REVIEW_STATES = tuple(s for s in REVIEW_STATES if s != "rejected")
REVIEW_STATE_LABELS = {
    "received": N_("Received"),
    "hasIssues": N_("Has issues"),
    "edited": N_("Edited"),
    "approved": N_("Approved"),
    "rejected": N_("Rejected"),
}

# --- risk levels (forms/rubric.py decides them; also the vulnerability level) ----------------

RISK_LEVELS = ("low", "medium", "high")
RISK_LEVEL_LABELS = {"low": N_("Low"), "medium": N_("Medium"), "high": N_("High")}

# --- regions (ISO 3166-2:TJ) and districts (forms/data/tajikistan-admin.csv) ----------------

REGION_LABELS = {
    "TJ-DU": N_("Dushanbe"),
    "TJ-SU": N_("Sughd"),
    "TJ-KT": N_("Khatlon"),
    "TJ-GB": N_("Gorno-Badakhshan"),
    "TJ-RA": N_("Districts of Republican Subordination"),
}
REGIONS = tuple(REGION_LABELS)
ADMIN_UNITS_CSV = Path(__file__).resolve().parent / "data" / "tajikistan-admin.csv"


@dataclass(frozen=True)
class District:
    code: str  # e.g. TJ-SU-KHUJAND: it starts with its region's code
    name: str
    region: str
    kind: str  # "district" or "city"
    former_name: str | None = None


@cache
def districts() -> dict[str, District]:
    """Every district and city of regional subordination, by code, in the file's order."""
    with ADMIN_UNITS_CSV.open(encoding="utf-8", newline="") as source:
        return {
            row["district_code"]: District(
                row["district_code"], row["district_name"], row["region_code"], row["kind"],
                row["former_name"] or None,
            )
            for row in csv.DictReader(source)
        }


# --- periods and month keys ----------------------------------------------------------------

PERIODS = ("month", "quarter", "year")
PERIOD_LABELS = {"month": N_("Month"), "quarter": N_("Quarter"), "year": N_("Year")}

# Summaries and publications key a month as year * 100 + month (202603 is March 2026); a
# range of months [from, to] is inclusive, and everything is (FIRST_MONTH, LAST_MONTH).
FIRST_MONTH = 0
LAST_MONTH = 999_912
ALL_TIME = (FIRST_MONTH, LAST_MONTH)


def month_key(year: int, month: int) -> int:
    return year * 100 + month


def whole_period(month_from: int, month_to: int) -> bool:
    """Whether [from, to] is everything, or exactly one month, quarter or year."""
    if (month_from, month_to) == ALL_TIME:
        return True
    if month_from == FIRST_MONTH or month_to == LAST_MONTH:
        return False
    (y1, m1), (y2, m2) = divmod(month_from, 100), divmod(month_to, 100)
    if y1 != y2:
        return False
    return m1 == m2 or (m1 % 3 == 1 and m2 == m1 + 2) or (m1, m2) == (1, 12)
