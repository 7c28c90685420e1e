"""The phone's preview agrees with the server's rubric on every answer set.

`forms/library/risk_screening.xlsx` previews the risk result with calculate fields; the
server classifies the submission with `forms.rubric.classify`. For generated answer sets
(hypothesis, derandomised so the run is reproducible), the form is filled in ODK Web
Forms' XForms engine the way an interviewer would: in document order, answering only
what the form asks at that point (the engine skips answers to questions that are not
relevant). The submitted instance is then parsed like any submission and classified, and
the four preview fields must agree with the result.
"""

from __future__ import annotations

import functools
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forms.compile import compile_xlsform
from forms.rubric import classify
from forms.submission import parse_submission
from tests.risk_spec import MODULE_ITEMS, PART_A_ITEMS

from .xforms_engine import XFormsEngine

FORM_PATH = Path(__file__).resolve().parents[2] / "forms" / "library" / "risk_screening.xlsx"

H = "{http://www.w3.org/1999/xhtml}"
XF = "{http://www.w3.org/2002/xforms}"

PREVIEW_FIELDS = (
    "preview_risk_level",
    "preview_vulnerability_score",
    "preview_exploitation_status",
    "preview_urgent",
)

# Part A yes/no items (spec: risk-screening.md, Part A).
# Part B module items (spec: Part B), asked when worked_away = yes.
MODULE_DIMENSIONS = {
    dimension: tuple(n for n in MODULE_ITEMS if n[0] in letters)
    for dimension, letters in (("R", "r"), ("X", "x"), ("C", "cl"), ("V", "v"))
}
SPEC_QUESTIONS = (
    ("consent", "region", "district", "site_type", "sex", "age", "education", "worked_away")
    + PART_A_ITEMS
    + MODULE_ITEMS
    + ("situation_ongoing", "exploitation_type")
)

# Unanswered (None) first, so that hypothesis shrinks towards unanswered questions.
YES_NO_REFUSED = (None, "no", "refused", "yes")
# Styles of answering a block of yes/no items: many `yes` (possible trafficking), many
# refusals (the 30 % incomplete rule), mostly `no`, or anything.
ANSWER_STYLES = {
    "mixed": YES_NO_REFUSED,
    "mostly_yes": ("yes", "yes", "yes", "no", "refused", None),
    "mostly_refused": ("refused", None, "refused", "no", "yes"),
    "mostly_no": ("no", "no", "no", "no", "yes", "refused"),
}
AGES = (0, 5, 13, 14, 15, 17, 18, 24, 25, 40, 120)


# -- what the compiled form says -----------------------------------------------------------


@dataclass(frozen=True)
class FormFacts:
    """Names, required questions and choices of the compiled XForm."""

    names: frozenset[str]
    required: frozenset[str]
    types: dict[str, str]  # leaf name -> bind type (string, int, date, ...)
    # question name -> its choices, each as {"name": ..., other columns of the choice row}
    choices: dict[str, tuple[dict[str, str], ...]]

    def choice_names(self, question: str) -> tuple[str, ...]:
        return tuple(choice["name"] for choice in self.choices[question])


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def read_form_facts(xform: str) -> FormFacts:
    root = ET.fromstring(xform)
    model = root.find(f"{H}head/{XF}model")
    assert model is not None
    instances = model.findall(f"{XF}instance")
    secondary = {
        inst.get("id"): [
            {_local(field.tag): (field.text or "") for field in item}
            for item in inst.iter()
            if _local(item.tag) == "item"
        ]
        for inst in instances
        if inst.get("id")
    }
    names = frozenset(_local(el.tag) for el in instances[0][0].iter() if len(el) == 0)
    binds = {
        bind.get("nodeset", "").rsplit("/", 1)[-1]: bind for bind in model.findall(f"{XF}bind")
    }
    required = frozenset(
        name
        for name, bind in binds.items()
        if bind.get("required", "").replace(" ", "") == "true()"
    )
    types = {name: bind.get("type", "string") for name, bind in binds.items()}
    choices: dict[str, tuple[dict[str, str], ...]] = {}
    body = root.find(f"{H}body")
    assert body is not None
    for control in body.iter():
        if _local(control.tag) not in ("select1", "select"):
            continue
        name = control.get("ref", "").rsplit("/", 1)[-1]
        itemset = control.find(f"{XF}itemset")
        if itemset is not None:
            instance_id = itemset.get("nodeset", "").split("'")[1]
            choices[name] = tuple(secondary[instance_id])
        else:
            choices[name] = tuple(
                {"name": item.findtext(f"{XF}value", "")} for item in control.findall(f"{XF}item")
            )
    return FormFacts(names=names, required=required, types=types, choices=choices)


@functools.cache
def risk_form() -> tuple[str, FormFacts]:
    if not FORM_PATH.is_file():
        pytest.fail(f"{FORM_PATH} is missing")
    xform = compile_xlsform(FORM_PATH.read_bytes()).xform
    return xform, read_form_facts(xform)


# -- answer sets ---------------------------------------------------------------------------


def _yes_no(draw: st.DrawFn, facts: FormFacts, name: str, values=YES_NO_REFUSED) -> str | None:
    if name in facts.required:
        values = tuple(v for v in values if v is not None)
    return draw(st.sampled_from(values))


@st.composite
def yes_no_items(draw: st.DrawFn, facts: FormFacts, names: tuple[str, ...]) -> dict[str, Any]:
    """Answers to a block of yes/no items, in one of a few styles of interview: a few `yes`
    among `no` (each item's own effect), or mostly one answer throughout."""
    style = draw(st.sampled_from(("few_yes", *ANSWER_STYLES)))
    if style == "few_yes":
        chosen = draw(st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True))
        rest = ("no", "no", "no", "refused")
        return {n: "yes" if n in chosen else _yes_no(draw, facts, n, rest) for n in names}
    return {n: _yes_no(draw, facts, n, ANSWER_STYLES[style]) for n in names}


@st.composite
def module_items(draw: st.DrawFn, facts: FormFacts) -> dict[str, Any]:
    """Module answers; half of the interviews choose the `yes` items dimension by dimension,
    so that every combination of positive and negative dimensions comes up."""
    if not draw(st.booleans()):
        return draw(yes_no_items(facts, MODULE_ITEMS))
    chosen: set[str] = set()
    for items in MODULE_DIMENSIONS.values():
        chosen.update(draw(st.lists(st.sampled_from(items), max_size=len(items), unique=True)))
    rest = ("no", "no", "refused")
    return {n: "yes" if n in chosen else _yes_no(draw, facts, n, rest) for n in MODULE_ITEMS}


@st.composite
def answer_sets(draw: st.DrawFn, facts: FormFacts) -> dict[str, Any]:
    """What an interviewee would answer if every question were asked; the form decides
    which of these are asked."""
    answers: dict[str, Any] = {"consent": draw(st.sampled_from(("yes",) * 7 + ("no",)))}
    region = draw(st.sampled_from(facts.choice_names("region")))
    answers["region"] = region
    districts = [
        c["name"]
        for c in facts.choices["district"]
        if any(value == region for column, value in c.items() if column != "name")
    ]
    answers["district"] = draw(st.sampled_from(districts))
    answers["site_type"] = draw(st.sampled_from(facts.choice_names("site_type")))
    sexes = facts.choice_names("sex")
    answers["sex"] = draw(st.sampled_from(("female", "male") * 3 + sexes))
    answers["age"] = draw(st.one_of(st.sampled_from(AGES), st.integers(0, 120)))
    answers["education"] = draw(st.sampled_from(facts.choice_names("education")))
    answers.update(draw(yes_no_items(facts, PART_A_ITEMS)))
    answers["worked_away"] = _yes_no(draw, facts, "worked_away", ("yes",) * 4 + YES_NO_REFUSED)
    answers.update(draw(module_items(facts)))
    answers["situation_ongoing"] = _yes_no(draw, facts, "situation_ongoing")
    kinds = facts.choice_names("exploitation_type")
    minimum = 1 if "exploitation_type" in facts.required else 0
    answers["exploitation_type"] = draw(
        st.lists(st.sampled_from(kinds), min_size=minimum, max_size=3, unique=True)
    )
    answers.update(other_required_answers(facts))
    return {name: value for name, value in answers.items() if value is not None}


# Answers to required questions the rubric does not read (interview date and the like).
OTHER_ANSWER_BY_TYPE = {"date": "2026-03-02", "int": "1", "decimal": "1", "string": "x"}


def other_required_answers(facts: FormFacts) -> dict[str, str]:
    answers = {}
    for name in sorted(facts.required - set(SPEC_QUESTIONS)):
        if name in facts.choices:
            answers[name] = facts.choice_names(name)[0]
        else:
            answers[name] = OTHER_ANSWER_BY_TYPE[facts.types[name]]
    return answers


# -- the comparison ------------------------------------------------------------------------


def expected_preview(answers: dict[str, Any], fields: tuple[str, ...]) -> dict[str, str] | None:
    result = classify(answers)
    if result is None:
        return None
    expected = {
        "preview_risk_level": result.risk_level,
        "preview_vulnerability_score": str(result.vulnerability_score),
        "preview_vulnerability_level": result.vulnerability_level,
        "preview_exploitation_status": result.exploitation_status,
        "preview_urgent": "true" if result.urgent else "false",
    }
    return {field: expected[field] for field in fields}


def preview_fields(facts: FormFacts) -> tuple[str, ...]:
    # The level is not required of the preview, but compared when the form shows it.
    optional = tuple(f for f in ("preview_vulnerability_level",) if f in facts.names)
    return PREVIEW_FIELDS + optional


def fill_and_compare(
    engine: XFormsEngine, xform: str, facts: FormFacts, intended: dict[str, Any]
) -> dict[str, str] | None:
    """Fill the form, classify what it submits; assert the preview agrees. Returns the
    expected preview (None without consent)."""
    fields = preview_fields(facts)
    filled = engine.fill(xform, intended, read=fields)
    assert filled["errors"] == [], filled["errors"]
    assert filled["violations"] == [], filled["violations"]
    submitted = parse_submission(filled["instanceXML"].encode("utf-8")).answers
    expected = expected_preview(submitted, fields)
    preview = filled["values"]
    if expected is None:
        # No consent: nothing is classified, and the phone shows no risk either.
        assert all(not preview[field] for field in fields), preview
        return None
    differing = {
        f: {"form": preview[f], "rubric": expected[f]} for f in fields if preview[f] != expected[f]
    }
    assert not differing, {"differing": differing, "submitted": submitted}
    return expected


def test_form_asks_every_question_of_the_spec() -> None:
    _, facts = risk_form()
    missing = [name for name in SPEC_QUESTIONS + PREVIEW_FIELDS if name not in facts.names]
    assert missing == []


def test_preview_agrees_with_rubric(xforms_engine: XFormsEngine) -> None:
    xform, facts = risk_form()
    seen: Counter[str] = Counter()

    @settings(
        max_examples=200,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(answer_sets(facts))
    def check(intended: dict[str, Any]) -> None:
        expected = fill_and_compare(xforms_engine, xform, facts, intended)
        if expected is None:
            seen["no result"] += 1
        else:
            seen[expected["preview_exploitation_status"]] += 1
            seen[f"risk {expected['preview_risk_level']}"] += 1
            seen[f"urgent {expected['preview_urgent']}"] += 1

    check()

    # The answer sets reached every outcome of the rubric.
    outcomes = {
        "no result",
        "not_screened",
        "possible_trafficking",
        "forced_labour_indicated",
        "incomplete",
        "rights_violation",
        "none",
        "risk low",
        "risk medium",
        "risk high",
        "urgent true",
        "urgent false",
    }
    assert outcomes <= set(seen), sorted(outcomes - set(seen))


# -- boundaries of Part B, one decisive dimension at a time ----------------------------------

# Strength of the module items (spec: Part B); the other items are medium.
STRONG_ITEMS = frozenset(
    {
        "r1_deceived_job",
        "r3_forced_moved",
        "x1_excessive_hours",
        "c1_documents_taken",
        "c2_debt_bondage",
        "c3_movement_restricted",
        "c4_violence",
    }
)
X_POSITIVE = ("x1_excessive_hours", "x2_no_pay")
C_POSITIVE = ("c1_documents_taken", "c2_debt_bondage")
R_POSITIVE = ("r1_deceived_job", "r3_forced_moved")


def base_answers(facts: FormFacts) -> dict[str, Any]:
    """An adult man who worked away and answered `no` to everything."""
    region = facts.choice_names("region")[0]
    district = next(
        c["name"]
        for c in facts.choices["district"]
        if any(value == region for column, value in c.items() if column != "name")
    )
    answers: dict[str, Any] = {
        "consent": "yes",
        "region": region,
        "district": district,
        "site_type": facts.choice_names("site_type")[0],
        "sex": "male",
        "age": "30",
        "education": "higher",
        "worked_away": "yes",
        "situation_ongoing": "no",
        "exploitation_type": [facts.choice_names("exploitation_type")[0]],
    }
    answers.update({name: "no" for name in PART_A_ITEMS + MODULE_ITEMS})
    answers.update(other_required_answers(facts))
    return answers


def boundary_cases() -> list[tuple[str, dict[str, Any]]]:
    """(id, changes to base_answers): every count of strong and medium `yes` of one
    dimension, in a context where that dimension decides the status; the 30 % rule around
    its threshold; urgency; the under-18 rule."""
    contexts = {  # the dimension under test decides between two statuses
        "R": X_POSITIVE + C_POSITIVE,  # possible_trafficking or forced_labour_indicated
        "X": C_POSITIVE,  # forced_labour_indicated or none
        "C": X_POSITIVE,  # forced_labour_indicated or rights_violation
        "V": X_POSITIVE,  # forced_labour_indicated or rights_violation
    }
    cases: list[tuple[str, dict[str, Any]]] = []
    for dimension, items in MODULE_DIMENSIONS.items():
        strong = [n for n in items if n in STRONG_ITEMS]
        medium = [n for n in items if n not in STRONG_ITEMS]
        for k in range(len(strong) + 1):
            for j in range(len(medium) + 1):
                yes = set(contexts[dimension]) | set(strong[:k]) | set(medium[:j])
                cases.append((f"{dimension}-strong{k}-medium{j}", dict.fromkeys(yes, "yes")))
    for context, yes in (("none", ()), ("R+", R_POSITIVE), ("X+C+", X_POSITIVE + C_POSITIVE)):
        for refused in (5, 6, 7, 10):
            others = [n for n in MODULE_ITEMS if n not in yes][:refused]
            changes = dict.fromkeys(yes, "yes") | dict.fromkeys(others, "refused")
            cases.append((f"{context}-refused{refused}", changes))
    for item in C_POSITIVE + ("c3_movement_restricted", "c4_violence"):
        for ongoing in ("yes", "no", "refused"):
            cases.append((f"{item}-ongoing-{ongoing}", {item: "yes", "situation_ongoing": ongoing}))
    for age in ("14", "17", "18"):
        cases.append((f"X+-age{age}", dict.fromkeys(X_POSITIVE, "yes") | {"age": age}))
    return cases


@pytest.mark.parametrize(
    ("changes"), [c for _, c in boundary_cases()], ids=[i for i, _ in boundary_cases()]
)
def test_preview_agrees_with_rubric_at_boundaries(
    xforms_engine: XFormsEngine, changes: dict[str, Any]
) -> None:
    xform, facts = risk_form()
    intended = base_answers(facts) | changes
    expected = fill_and_compare(xforms_engine, xform, facts, intended)
    assert expected is not None
