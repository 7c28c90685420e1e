"""A risk_screening submission's answers -> the row stored for aggregation: the rubric's
result beside the dimensions summaries group by. Pure."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import date
from typing import Any

from forms.rubric import age_band, classify_flat, flatten_answers, parse_age

RISK_SCREENING_FORM_ID = "risk_screening"
_DATE = re.compile(r"\s*(\d{4})-(\d{2})-(\d{2})")


def _date_of(text: str | None) -> date | None:
    if not text:
        return None
    match = _DATE.match(text)
    if not match:
        return None
    try:
        return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return None


_MAX_STORED_AGE = 2**31 - 1  # screenings.age is an integer column


def _whole_years(age: float | None) -> int | None:
    """The age stored beside the result: its whole years (None beyond an integer column)."""
    if age is None or not -_MAX_STORED_AGE <= age <= _MAX_STORED_AGE:
        return None
    return math.floor(age)


def record_region(answers: Mapping[str, Any]) -> str | None:
    """The region a record carries (what row scopes read): the answer of the question named
    `region`, wherever the form's groups put it (not in a repeat), as a screening's region."""
    return flatten_answers(answers).get("region") or None


def screening_row(answers: Mapping[str, Any]) -> dict[str, Any]:
    """Columns of the `screenings` table (without ids) for one submission's answers."""
    flat = flatten_answers(answers)
    result = classify_flat(flat)
    age = parse_age(flat.get("age"))
    row: dict[str, Any] = {
        "consent_refused": result is None,
        "rubric_version": None,
        "vulnerability_score": None,
        "vulnerability_level": None,
        "exploitation_status": None,
        "urgent": None,
        "risk_level": None,
        "risk_groups": [],
        "control_forms": [],
        "exploitation_types": [],
        "needs_review": None,
        "region": flat.get("region") or None,
        "district": flat.get("district") or None,
        "sex": flat.get("sex") or None,
        "age": _whole_years(age),
        "age_band": age_band(age),
        "site_type": flat.get("site_type") or None,
        # the interview's date, not the upload's: the form's date, else today, else start
        "interview_date": _date_of(flat.get("interview_date"))
        or _date_of(flat.get("today"))
        or _date_of(flat.get("start")),
    }
    if result is not None:
        row.update(
            rubric_version=result.rubric_version,
            vulnerability_score=result.vulnerability_score,
            vulnerability_level=result.vulnerability_level,
            exploitation_status=result.exploitation_status,
            urgent=result.urgent,
            risk_level=result.risk_level,
            risk_groups=list(result.risk_groups),
            control_forms=list(result.control_forms),
            exploitation_types=list(result.exploitation_types),
            needs_review=result.needs_review,
        )
    return row


SCREENING_COLUMNS = (
    "consent_refused",
    "rubric_version",
    "vulnerability_score",
    "vulnerability_level",
    "exploitation_status",
    "urgent",
    "risk_level",
    "risk_groups",
    "control_forms",
    "exploitation_types",
    "needs_review",
    "region",
    "district",
    "sex",
    "age",
    "age_band",
    "site_type",
    "interview_date",
)
