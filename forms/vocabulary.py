"""The words of the domain, one home each: review states, risk levels, regions and districts,
periods and the month keys of summaries. Pure (the district list is read from the bundled
forms/data/tajikistan-admin.csv when first asked for); everything that needs one of these
imports it from here, and tests/unit/test_layout.py keeps the literals from coming back.

Labels are catalogue texts (N_), translated where they are shown."""

from __future__ import annotations

import calendar
import csv
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import cache
from pathlib import Path

from forms.messages import N_, OptionError

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


def region_of_district(code: str) -> str | None:
    """The region of a district code: the admin list's, else the code's own prefix (codes start
    with their region's code: TJ-SU-KHUJAND is in TJ-SU), else None."""
    unit = districts().get(code)
    if unit is not None:
        return unit.region
    return code.rsplit("-", 1)[0] if code.count("-") >= 2 else None


# --- cases on phones -------------------------------------------------------------------------
#
# Support-centre cases are the entities of the list `cases`; the follow-up sets their `status`
# to `closed`. A closed case is kept on the server but leaves the phones (their `cases.csv`, and
# the integrity list tells Collect to drop it): a lost phone carries only the open cases.

CASE_LIST = "cases"
CASE_CLOSED = "closed"


def kept_on_phones(list_name: str, data: dict) -> bool:
    """Whether an entity of `list_name` with these properties is sent to phones."""
    return not (list_name == CASE_LIST and data.get("status") == CASE_CLOSED)


# --- support centres and the services a case is referred to --------------------------------
#
# A case is owned by a centre (the intake's `center` choices, "other" aside) and may be
# referred to another centre and/or a service, or transferred to another centre
# (forms/README.md; api/services/cases.py).

CENTRE_LABELS = {
    "dushanbe": N_("Dushanbe support centre"),
    "khujand": N_("Khujand support centre"),
}
CENTRES = tuple(CENTRE_LABELS)
REFERRAL_SERVICE_LABELS = {
    "legal": N_("Legal aid"),
    "medical": N_("Medical care"),
    "psychological": N_("Psychological support"),
    "shelter": N_("Shelter"),
    "reintegration": N_("Reintegration"),
    "education": N_("Education"),
    "employment": N_("Employment"),
}
REFERRAL_SERVICES = tuple(REFERRAL_SERVICE_LABELS)
REFERRAL_KIND_LABELS = {"referral": N_("Referral"), "transfer": N_("Transfer")}
REFERRAL_KINDS = tuple(REFERRAL_KIND_LABELS)
REFERRAL_STATE_LABELS = {"pending": N_("Waiting for an answer"), "accepted": N_("Accepted"),
                         "declined": N_("Declined")}
REFERRAL_STATES = tuple(REFERRAL_STATE_LABELS)
REFERRAL_ANSWERS = ("accepted", "declined")


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


# --- dates in query parameters -------------------------------------------------------------
#
# One meaning everywhere (exports' since/until, the audit log's start/end, the submissions
# table's from/to, summaries' and reports' from/to): a range includes its start and its end,
# and an END DATE NAMES THE LAST DAY INCLUDED: `until=2026-03-31` includes March 31 (up to the
# midnight that ends it). A date-time is the moment itself (an end moment is not included).
# Whole-month ranges (summaries, reports under disclosure control) take YYYY-MM, or a date
# that is the first day of a month (a start) or the last day of one (an end), so
# `until=2026-03-31` there is March too. The parsers raise OptionError with catalogue texts;
# each surface turns it into its own problem (slug) or notice.

DATE_INVALID = N_("%(name)s must be a date (YYYY-MM-DD).")
MOMENT_INVALID = N_("%(name)s=%(value)s is not an ISO date or date-time.")
OUT_OF_RANGE = N_("%(name)s=%(value)s is outside the years 1 to 9999 in UTC.")
RANGE_ORDER = N_("%(end)s must come after %(start)s.")
MONTH_INVALID = N_("%(value)s is not a date (YYYY-MM-DD) or a month (YYYY-MM).")
NOT_A_DATE = N_("%(value)s is not a date.")
NO_SUCH_MONTH = N_("%(value)s has no such month.")
WHOLE_MONTHS = N_("A range of whole months starts on the first day of a month and ends on the "
                  "last day of one (%(name)s=%(value)s).")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_DAY = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")


def parse_moment(
    text: str, name: str, *, end: bool = False, zone: tzinfo = UTC, dates_only: bool = False
) -> datetime:
    """An ISO date or date-time as an aware moment in UTC. A date alone is the midnight that
    starts it in `zone`, or, as an `end`, the midnight that ends it (the day is included); a
    date-time without an offset is UTC. `dates_only` refuses date-times."""
    text = text.strip()
    try:
        if len(text) == 10 or dates_only:
            day = date.fromisoformat(text) if _DAY.match(text) else None
            if day is None:
                raise ValueError(text)
            moment = datetime.combine(day, time(0), tzinfo=zone)
            return (moment + timedelta(days=1) if end else moment).astimezone(UTC)
        moment = datetime.fromisoformat(text)
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except OverflowError as exc:
        raise OptionError(OUT_OF_RANGE, {"name": name, "value": repr(text)}) from exc
    except ValueError as exc:
        if dates_only:
            raise OptionError(DATE_INVALID, {"name": name}) from exc
        raise OptionError(MOMENT_INVALID, {"name": name, "value": repr(text)}) from exc


def parse_moment_range(
    start: str | None, end: str | None, names: tuple[str, str] = ("since", "until"), *,
    zone: tzinfo = UTC, dates_only: bool = False,
) -> tuple[datetime | None, datetime | None]:
    """[start, end) in UTC from two optional parameters (empty: open); an end date is
    included whole. A range that ends before it starts is refused."""
    begin = parse_moment(start, names[0], zone=zone, dates_only=dates_only) if start else None
    stop = (parse_moment(end, names[1], end=True, zone=zone, dates_only=dates_only)
            if end else None)
    if begin and stop and stop <= begin:
        raise OptionError(RANGE_ORDER, {"start": names[0], "end": names[1]})
    return begin, stop


def parse_month(text: str, name: str, *, end: bool) -> int:
    """A whole-month bound as a month key: YYYY-MM, or the first day of a month (a start) or
    the last day of one (an end). Ranges are whole months: the aggregates keep months, and
    day-level ranges would let two overlapping tables be subtracted to count the people of
    one day."""
    text = text.strip()
    match = _MONTH.match(text)
    if match:
        year, month = int(match.group(1)), int(match.group(2))
    else:
        match = _DAY.match(text)
        if not match:
            raise OptionError(MONTH_INVALID, {"value": text})
        year, month, day = (int(g) for g in match.groups())
        try:
            date(year, month, day)
        except ValueError as exc:
            raise OptionError(NOT_A_DATE, {"value": text}) from exc
        if day != (calendar.monthrange(year, month)[1] if end else 1):
            raise OptionError(WHOLE_MONTHS, {"name": name, "value": text})
    if not 1 <= month <= 12 or not 1 <= year <= 9999:
        raise OptionError(NO_SUCH_MONTH, {"value": text})
    return month_key(year, month)


def parse_month_range(
    start: str | None, end: str | None, names: tuple[str, str] = ("from", "to")
) -> tuple[int, int]:
    """[from, to] as month keys (both included; empty: open, FIRST_MONTH or LAST_MONTH)."""
    month_from = parse_month(start, names[0], end=False) if start else FIRST_MONTH
    month_to = parse_month(end, names[1], end=True) if end else LAST_MONTH
    if month_from > month_to:
        raise OptionError(RANGE_ORDER, {"start": names[0], "end": names[1]})
    return month_from, month_to


# --- the rubric's names (forms/rubric.py; the spec's risk-screening.md): pages and exports -----

RISK_GROUPS = {
    "CHILD": N_("Child (under 18)"),
    "YOUTH": N_("Young person (18–24)"),
    "UNDER_EDUCATED": N_("Little schooling"),
    "UNEMPLOYED": N_("No regular income or job"),
    "VOC_GRAD": N_("Vocational graduate without work"),
    "LABOUR_MIGRANT": N_("Labour migrant"),
    "RETURNEE": N_("Returned after deportation or an entry ban"),
    "PRIOR_VICTIM": N_("Forced to work or stay before"),
    "CHILD_LEFT_BEHIND": N_("Child whose parents work abroad"),
    "NO_PARENTAL_CARE": N_("Without parental care"),
    "MARRIAGE_RISK": N_("Marriage risk"),
    "INTERMEDIARY_EXPOSED": N_("Offered work or travel by an intermediary"),
    "POSSIBLE_VICTIM": N_("Possible victim of trafficking"),
}
CONTROL_FORMS = {
    "physical": N_("Physical control"),
    "economic": N_("Economic control"),
    "psychological": N_("Psychological control"),
    "legal_dependence": N_("Legal dependence"),
}
EXPLOITATION_TYPES = {
    "domestic": N_("Domestic work"),
    "industrial": N_("Industrial work"),
    "agricultural": N_("Agricultural work"),
    "criminal": N_("Forced criminal activity"),
    "sexual": N_("Sexual exploitation"),
    "organs": N_("Organ removal"),
    "surrogacy": N_("Forced surrogacy"),
    "armed_conflict": N_("Armed conflict"),
    "other": N_("Other"),
}
EXPLOITATION_STATUS = {
    "not_screened": N_("Not screened"),
    "possible_trafficking": N_("Possible trafficking"),
    "forced_labour_indicated": N_("Forced labour indicated"),
    "incomplete": N_("Incomplete answers"),
    "rights_violation": N_("Labour rights violation"),
    "none": N_("No indication"),
}

# Metadata questions (XLSForm's start, end, today...) have no label: their names.
METADATA_NAMES = {
    "start": N_("Start time"),
    "end": N_("End time"),
    "today": N_("Day of the interview"),
    "deviceid": N_("Device ID"),
    "phonenumber": N_("Phone number"),
    "username": N_("User name"),
    "email": N_("Email"),
    "audit": N_("Audit log of the form"),
    "instanceID": N_("Instance ID"),
    "instanceName": N_("Instance name"),
    "deprecatedID": N_("Previous instance ID"),
}
