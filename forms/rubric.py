"""The risk rubric of the `risk_screening` questionnaire: answers -> result.

The rule is /work/shared/spec/risk-screening.md (version 2026.1); where this module and the
spec disagree, the spec wins. Pure: it takes values and returns values, no I/O, and it
imports nothing of the project but the risk levels (forms/vocabulary.py).

The form previews the same result on the phone with XPath calculate fields, so every rule
here follows XPath semantics where the two could differ:
- a select value matches only when it is exactly the choice name (`refused` and unanswered
  are missing: never `yes`, never `no`);
- a number is read as XPath's number() reads it; anything else is NaN, and every comparison
  with NaN is false (an unknown age never satisfies "age >= 15", nor "age < 18");
- a weight, tag or module item counts only when its "asked when" condition holds, so values
  left behind in non-relevant questions never count.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import msgspec

from forms.vocabulary import RISK_LEVELS as LEVELS

RUBRIC_VERSION = "2026.1"

YES = "yes"
NO = "no"

_LEVEL_RANK = {level: rank for rank, level in enumerate(LEVELS)}


class RubricResult(msgspec.Struct, frozen=True, kw_only=True):
    rubric_version: str
    vulnerability_score: int
    vulnerability_level: str  # low|medium|high
    exploitation_status: str  # not_screened|possible_trafficking|forced_labour_indicated|incomplete|rights_violation|none
    urgent: bool
    risk_level: str  # low|medium|high
    risk_groups: tuple[str, ...]  # unique, sorted
    control_forms: tuple[str, ...]
    exploitation_types: tuple[str, ...]
    needs_review: bool


# --- reading answers ---------------------------------------------------------------------

# XPath 1.0 Number: optional minus, digits with an optional fraction; surrounding XML
# whitespace is allowed. No plus sign, no exponent, no "inf"/"nan".
_XPATH_NUMBER = re.compile(r"[ \t\r\n]*(-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))[ \t\r\n]*")


def _xpath_number(text: str | None) -> float | None:
    """XPath number() of a string; None stands for NaN."""
    if text is None:
        return None
    match = _XPATH_NUMBER.fullmatch(text)
    return float(match.group(1)) if match else None


def parse_age(text: str | None) -> float | None:
    """A screening's age, as the form's XPath reads it (number()); None when unknown. The one
    parse of the age: the rubric and the summaries' row (forms/screening.py) both use it."""
    return _xpath_number(text)


def flatten_answers(answers: Mapping[str, Any]) -> dict[str, str]:
    """Leaf name -> text value, wherever the form's groups put the leaf.

    Nested mappings are groups and are walked; lists are repeats and are skipped (the rubric
    reads no repeat). When a name occurs more than once, the first non-empty value wins.
    """
    flat: dict[str, str] = {}

    def walk(node: Mapping[str, Any]) -> None:
        for name, value in node.items():
            kind = value.__class__
            if kind is str:  # most leaves (parsed answers): no ABC check on the way
                text = value
            elif kind is dict or isinstance(value, Mapping):
                walk(value)
                continue
            elif isinstance(value, list | tuple):
                continue
            else:
                text = "" if value is None else str(value)
            current = flat.get(name)
            if current is None or (not current and text):
                flat[name] = text

    walk(answers)
    return flat


def age_band(age: float | None) -> str | None:
    """The summaries' age band: 0-13, 14-17, 18-24, 25-34, 35-49, 50+ (None when unknown);
    a fraction counts with the whole years below it (17.9 is 14-17, as "age < 18" holds)."""
    if age is None or age < 0:
        return None
    if age < 14:
        return "0-13"
    if age < 18:
        return "14-17"
    if age < 25:
        return "18-24"
    if age < 35:
        return "25-34"
    if age < 50:
        return "35-49"
    return "50+"


# --- Part A: vulnerability score -----------------------------------------------------------


@dataclass(frozen=True)
class _Respondent:
    age: float | None  # None: unknown (NaN in XPath)
    sex: str


def _always(_: _Respondent) -> bool:
    return True


def _age_at_least(years: int) -> Callable[[_Respondent], bool]:
    def condition(person: _Respondent) -> bool:
        return person.age is not None and person.age >= years

    return condition


def _age_below(years: int) -> Callable[[_Respondent], bool]:
    def condition(person: _Respondent) -> bool:
        return person.age is not None and person.age < years

    return condition


def _female_aged_15_or_more(person: _Respondent) -> bool:
    return person.sex == "female" and person.age is not None and person.age >= 15


@dataclass(frozen=True)
class VulnerabilityItem:
    name: str
    weight: int  # applied on `yes`
    tag: str | None
    asked_when: Callable[[_Respondent], bool]


VULNERABILITY_ITEMS: tuple[VulnerabilityItem, ...] = (
    VulnerabilityItem("no_income_3m", 2, "UNEMPLOYED", _age_at_least(15)),
    VulnerabilityItem("voc_grad_no_work", 1, "VOC_GRAD", _age_at_least(15)),
    VulnerabilityItem("plans_work_abroad", 2, "LABOUR_MIGRANT", _age_at_least(14)),
    VulnerabilityItem("returned_deported", 2, "RETURNEE", _age_at_least(14)),
    VulnerabilityItem("prior_forced", 3, "PRIOR_VICTIM", _always),
    VulnerabilityItem("disability", 1, None, _always),
    VulnerabilityItem("household_debt", 2, None, _always),
    VulnerabilityItem("parents_abroad", 2, "CHILD_LEFT_BEHIND", _age_below(18)),
    VulnerabilityItem("no_parental_care", 3, "NO_PARENTAL_CARE", _age_below(25)),
    VulnerabilityItem("unsafe_home", 2, None, _always),
    VulnerabilityItem("marriage_risk", 2, "MARRIAGE_RISK", _female_aged_15_or_more),
    VulnerabilityItem("informal_job_offer", 2, "INTERMEDIARY_EXPOSED", _always),
    VulnerabilityItem("travel_debt_offer", 2, "INTERMEDIARY_EXPOSED", _always),
    VulnerabilityItem("holds_passport", -1, None, _age_at_least(14)),
    VulnerabilityItem("has_contract", -1, None, _age_at_least(14)),
    VulnerabilityItem("knows_hotline", -1, None, _always),
    VulnerabilityItem("trusted_contact_abroad", -1, None, _age_at_least(14)),
)

_EDUCATION_WEIGHTS = {"none": 2, "primary": 2, "lower_secondary": 1}


def vulnerability_level(score: int) -> str:
    if score <= 3:
        return "low"
    if score <= 7:
        return "medium"
    return "high"


def _part_a(answers: Mapping[str, str], person: _Respondent) -> tuple[int, set[str]]:
    total = 0
    tags: set[str] = set()
    if person.age is not None:
        if person.age < 18:
            total += 2
            tags.add("CHILD")
        if 18 <= person.age <= 24:
            total += 1
            tags.add("YOUTH")
    education_weight = _EDUCATION_WEIGHTS.get(answers.get("education", ""), 0)
    if education_weight:
        total += education_weight
        tags.add("UNDER_EDUCATED")
    for item in VULNERABILITY_ITEMS:
        if answers.get(item.name) == YES and item.asked_when(person):
            total += item.weight
            if item.tag:
                tags.add(item.tag)
    return max(0, total), tags


# --- Part B: exploitation screen (ILO-EC Delphi) --------------------------------------------


@dataclass(frozen=True)
class ScreenItem:
    name: str
    dimension: str  # R, X, C, V
    strong: bool  # strong indicator (else medium)
    control_form: str | None


SCREEN_ITEMS: tuple[ScreenItem, ...] = (
    ScreenItem("r1_deceived_job", "R", True, "psychological"),
    ScreenItem("r2_deceived_conditions", "R", False, "psychological"),
    ScreenItem("r3_forced_moved", "R", True, "physical"),
    ScreenItem("x1_excessive_hours", "X", True, None),
    ScreenItem("x2_no_pay", "X", False, "economic"),
    ScreenItem("x3_dangerous", "X", False, None),
    ScreenItem("c1_documents_taken", "C", True, "legal_dependence"),
    ScreenItem("c2_debt_bondage", "C", True, "economic"),
    ScreenItem("c3_movement_restricted", "C", True, "physical"),
    ScreenItem("c4_violence", "C", True, "physical"),
    ScreenItem("c5_threats", "C", False, "psychological"),
    ScreenItem("c6_drugs", "C", False, "physical"),
    ScreenItem("c7_illegal_acts", "C", False, None),
    ScreenItem("c8_wages_withheld", "C", False, "economic"),
    ScreenItem("l1_arranged_dependence", "C", False, "legal_dependence"),
    ScreenItem("v1_dependent", "V", False, None),
    ScreenItem("v2_no_status", "V", False, None),
    ScreenItem("v3_language", "V", False, None),
)

URGENT_ITEMS = (
    "c1_documents_taken",
    "c2_debt_bondage",
    "c3_movement_restricted",
    "c4_violence",
)

POSSIBLE_VICTIM = "POSSIBLE_VICTIM"


def dimension_positive(strong_yes: int, medium_yes: int) -> bool:
    """Delphi: at least two strong; or one strong and at least one medium; or three medium."""
    return strong_yes >= 2 or (strong_yes >= 1 and medium_yes >= 1) or medium_yes >= 3


@dataclass(frozen=True)
class _Screen:
    status: str
    urgent: bool
    control_forms: tuple[str, ...]
    exploitation_types: tuple[str, ...]


def _part_b(answers: Mapping[str, str], person: _Respondent) -> _Screen:
    screened = _age_at_least(14)(person) and answers.get("worked_away") == YES
    if not screened:
        return _Screen("not_screened", False, (), ())

    yes_items = [item for item in SCREEN_ITEMS if answers.get(item.name) == YES]
    answered = sum(1 for item in SCREEN_ITEMS if answers.get(item.name) in (YES, NO))
    missing = len(SCREEN_ITEMS) - answered

    positive: dict[str, bool] = {}
    for dimension in ("R", "X", "C", "V"):
        strong = sum(1 for item in yes_items if item.dimension == dimension and item.strong)
        medium = sum(1 for item in yes_items if item.dimension == dimension and not item.strong)
        positive[dimension] = dimension_positive(strong, medium)
    r, x, c, v = positive["R"], positive["X"], positive["C"], positive["V"]
    minor = person.age is not None and person.age < 18

    if (r and x and (c or v)) or (minor and x):
        status = "possible_trafficking"
    elif x and (c or v):
        status = "forced_labour_indicated"
    elif missing * 10 > len(SCREEN_ITEMS) * 3:  # more than 30 %, in integers: 6 of 18 or more
        status = "incomplete"
    elif r or x:
        status = "rights_violation"
    else:
        status = "none"

    yes_names = {item.name for item in yes_items}
    coercion_yes = any(name in yes_names for name in URGENT_ITEMS)
    urgent = coercion_yes and answers.get("situation_ongoing") == YES

    control_forms = tuple(sorted({i.control_form for i in yes_items if i.control_form}))
    # exploitation_type is asked only when some module item is `yes`.
    exploitation_types: tuple[str, ...] = ()
    if yes_items:
        exploitation_types = tuple(sorted(set(answers.get("exploitation_type", "").split())))
    return _Screen(status, urgent, control_forms, exploitation_types)


# --- the result ----------------------------------------------------------------------------


def _highest(*levels: str) -> str:
    return max(levels, key=_LEVEL_RANK.__getitem__)


def classify(answers: Mapping[str, Any]) -> RubricResult | None:
    """Classify one submission's main instance (nested groups allowed).

    Returns None when `consent` is not `yes`: a refusal is stored and counted, but gets no
    result.
    """
    return classify_flat(flatten_answers(answers))


def classify_flat(flat: Mapping[str, str]) -> RubricResult | None:
    """`classify` of answers already flattened by `flatten_answers`."""
    if flat.get("consent") != YES:
        return None
    person = _Respondent(age=parse_age(flat.get("age")), sex=flat.get("sex", ""))

    score, tags = _part_a(flat, person)
    level = vulnerability_level(score)
    screen = _part_b(flat, person)

    levels = [level]
    if screen.status in ("possible_trafficking", "forced_labour_indicated"):
        levels.append("high")
        tags.add(POSSIBLE_VICTIM)
    elif screen.status == "rights_violation":
        levels.append("medium")
    if screen.urgent:
        levels.append("high")

    return RubricResult(
        rubric_version=RUBRIC_VERSION,
        vulnerability_score=score,
        vulnerability_level=level,
        exploitation_status=screen.status,
        urgent=screen.urgent,
        risk_level=_highest(*levels),
        risk_groups=tuple(sorted(tags)),
        control_forms=screen.control_forms,
        exploitation_types=screen.exploitation_types,
        needs_review=screen.status == "incomplete",
    )
