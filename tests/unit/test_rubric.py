"""The risk rubric (spec: risk-screening.md, version 2026.1), row by row.

Expectations are written out by hand from the spec, not derived from the module's tables.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forms.rubric import RUBRIC_VERSION, RubricResult, age_band, classify, flatten_answers
from tests.risk_spec import MODULE_ITEMS
from tests.risk_spec import PART_A_ITEMS as SPEC_PART_A_ITEMS

RANK = {"low": 0, "medium": 1, "high": 2}

SCREEN_ITEMS = list(MODULE_ITEMS)
PART_A_ITEMS = list(SPEC_PART_A_ITEMS)


def person(**answers: Any) -> dict[str, Any]:
    """A consenting adult man with higher education and no other answer (V = 0)."""
    base: dict[str, Any] = {"consent": "yes", "age": "30", "sex": "male", "education": "higher"}
    base.update(answers)
    return {k: v for k, v in base.items() if v is not None}


def screened(yes: tuple[str, ...] = (), missing: tuple[str, ...] = (), **answers: Any):
    """A person who worked away; module items answered `no` unless listed as `yes` or
    missing (missing items alternate between `refused` and unanswered)."""
    base = person(**{"worked_away": "yes", **answers})
    for index, name in enumerate(SCREEN_ITEMS):
        if name in missing:
            if index % 2 == 0:
                base[name] = "refused"
        else:
            base[name] = "yes" if name in yes else "no"
    return base


def result(answers: dict[str, Any]) -> RubricResult:
    outcome = classify(answers)
    assert outcome is not None
    return outcome


# --- Part A: each weight alone ----------------------------------------------------------

# (answers, expected V, expected tags)
PART_A_CASES: list[tuple[str, dict[str, Any], int, tuple[str, ...]]] = [
    ("baseline", person(), 0, ()),
    ("age 17 child", person(age="17"), 2, ("CHILD",)),
    ("age 0 child", person(age="0"), 2, ("CHILD",)),
    ("age 18 youth", person(age="18"), 1, ("YOUTH",)),
    ("age 24 youth", person(age="24"), 1, ("YOUTH",)),
    ("age 25 nothing", person(age="25"), 0, ()),
    ("age unknown", person(age=None), 0, ()),
    ("education none", person(education="none"), 2, ("UNDER_EDUCATED",)),
    ("education primary", person(education="primary"), 2, ("UNDER_EDUCATED",)),
    ("education lower_secondary", person(education="lower_secondary"), 1, ("UNDER_EDUCATED",)),
    ("education upper_secondary", person(education="upper_secondary"), 0, ()),
    ("education vocational", person(education="vocational"), 0, ()),
    ("education refused", person(education="refused"), 0, ()),
    ("no_income_3m", person(no_income_3m="yes"), 2, ("UNEMPLOYED",)),
    ("no_income_3m at 15", person(age="15", no_income_3m="yes"), 4, ("CHILD", "UNEMPLOYED")),
    ("no_income_3m at 14: not asked", person(age="14", no_income_3m="yes"), 2, ("CHILD",)),
    ("voc_grad_no_work", person(voc_grad_no_work="yes"), 1, ("VOC_GRAD",)),
    ("voc_grad_no_work at 14: not asked", person(age="14", voc_grad_no_work="yes"), 2, ("CHILD",)),
    ("plans_work_abroad", person(plans_work_abroad="yes"), 2, ("LABOUR_MIGRANT",)),
    (
        "plans_work_abroad at 14",
        person(age="14", plans_work_abroad="yes"),
        4,
        ("CHILD", "LABOUR_MIGRANT"),
    ),
    (
        "plans_work_abroad at 13: not asked",
        person(age="13", plans_work_abroad="yes"),
        2,
        ("CHILD",),
    ),
    ("returned_deported", person(returned_deported="yes"), 2, ("RETURNEE",)),
    (
        "returned_deported at 13: not asked",
        person(age="13", returned_deported="yes"),
        2,
        ("CHILD",),
    ),
    ("prior_forced", person(prior_forced="yes"), 3, ("PRIOR_VICTIM",)),
    ("prior_forced at 10", person(age="10", prior_forced="yes"), 5, ("CHILD", "PRIOR_VICTIM")),
    ("disability", person(disability="yes"), 1, ()),
    ("household_debt", person(household_debt="yes"), 2, ()),
    (
        "parents_abroad at 17",
        person(age="17", parents_abroad="yes"),
        4,
        ("CHILD", "CHILD_LEFT_BEHIND"),
    ),
    ("parents_abroad at 18: not asked", person(age="18", parents_abroad="yes"), 1, ("YOUTH",)),
    (
        "no_parental_care at 24",
        person(age="24", no_parental_care="yes"),
        4,
        ("NO_PARENTAL_CARE", "YOUTH"),
    ),
    ("no_parental_care at 25: not asked", person(age="25", no_parental_care="yes"), 0, ()),
    ("unsafe_home", person(unsafe_home="yes"), 2, ()),
    ("marriage_risk woman", person(sex="female", marriage_risk="yes"), 2, ("MARRIAGE_RISK",)),
    (
        "marriage_risk girl 15",
        person(sex="female", age="15", marriage_risk="yes"),
        4,
        ("CHILD", "MARRIAGE_RISK"),
    ),
    (
        "marriage_risk girl 14: not asked",
        person(sex="female", age="14", marriage_risk="yes"),
        2,
        ("CHILD",),
    ),
    ("marriage_risk man: not asked", person(marriage_risk="yes"), 0, ()),
    ("marriage_risk sex refused: not asked", person(sex="refused", marriage_risk="yes"), 0, ()),
    ("informal_job_offer", person(informal_job_offer="yes"), 2, ("INTERMEDIARY_EXPOSED",)),
    ("travel_debt_offer", person(travel_debt_offer="yes"), 2, ("INTERMEDIARY_EXPOSED",)),
    (
        "both intermediary items, one tag",
        person(informal_job_offer="yes", travel_debt_offer="yes"),
        4,
        ("INTERMEDIARY_EXPOSED",),
    ),
    # Protective items: -1 each, shown against household_debt (+2); V never below 0.
    ("holds_passport", person(household_debt="yes", holds_passport="yes"), 1, ()),
    ("has_contract", person(household_debt="yes", has_contract="yes"), 1, ()),
    ("knows_hotline", person(household_debt="yes", knows_hotline="yes"), 1, ()),
    ("trusted_contact_abroad", person(household_debt="yes", trusted_contact_abroad="yes"), 1, ()),
    ("holds_passport alone: floor 0", person(holds_passport="yes"), 0, ()),
    (
        "all protective: floor 0",
        person(
            holds_passport="yes",
            has_contract="yes",
            knows_hotline="yes",
            trusted_contact_abroad="yes",
        ),
        0,
        (),
    ),
    (
        "holds_passport at 13: not asked",
        person(age="13", holds_passport="yes"),
        2,
        ("CHILD",),
    ),
    ("knows_hotline at 13: asked", person(age="13", knows_hotline="yes"), 1, ("CHILD",)),
    (
        "trusted_contact_abroad at 13: not asked",
        person(age="13", trusted_contact_abroad="yes"),
        2,
        ("CHILD",),
    ),
    ("has_contract at 13: not asked", person(age="13", has_contract="yes"), 2, ("CHILD",)),
    ("refused counts as missing", person(prior_forced="refused", knows_hotline="refused"), 0, ()),
    ("no is no weight", person(prior_forced="no", household_debt="no"), 0, ()),
]


@pytest.mark.parametrize(
    ("answers", "score", "tags"),
    [pytest.param(a, s, t, id=name) for name, a, s, t in PART_A_CASES],
)
def test_part_a_weights_and_tags(answers, score, tags):
    outcome = result(answers)
    assert outcome.vulnerability_score == score
    assert outcome.risk_groups == tags
    assert outcome.exploitation_status == "not_screened"


@pytest.mark.parametrize(
    ("answers", "score", "level"),
    [
        pytest.param(person(prior_forced="yes"), 3, "low", id="V=3 low"),
        pytest.param(person(prior_forced="yes", disability="yes"), 4, "medium", id="V=4 medium"),
        pytest.param(
            person(prior_forced="yes", household_debt="yes", unsafe_home="yes"),
            7,
            "medium",
            id="V=7 medium",
        ),
        pytest.param(
            person(prior_forced="yes", household_debt="yes", unsafe_home="yes", disability="yes"),
            8,
            "high",
            id="V=8 high",
        ),
        pytest.param(
            person(
                prior_forced="yes",
                household_debt="yes",
                unsafe_home="yes",
                disability="yes",
                knows_hotline="yes",
            ),
            7,
            "medium",
            id="V=8-1 medium",
        ),
    ],
)
def test_vulnerability_level_thresholds(answers, score, level):
    outcome = result(answers)
    assert (outcome.vulnerability_score, outcome.vulnerability_level) == (score, level)
    assert outcome.risk_level == level


# --- Part B: Delphi dimensions --------------------------------------------------------------

# A dimension on its own: R+ or X+ -> rights_violation; C+ and V+ need X+ to show, so they are
# paired with X+ (x1 + x2) and read as forced_labour_indicated (adult, no R).
X_POSITIVE = ("x1_excessive_hours", "x2_no_pay")

DELPHI_CASES: list[tuple[str, tuple[str, ...], str]] = [
    ("R 2 strong", ("r1_deceived_job", "r3_forced_moved"), "rights_violation"),
    ("R 1 strong + 1 medium", ("r1_deceived_job", "r2_deceived_conditions"), "rights_violation"),
    ("R 1 strong alone", ("r3_forced_moved",), "none"),
    ("R 1 medium alone", ("r2_deceived_conditions",), "none"),
    ("X 1 strong + 1 medium", ("x1_excessive_hours", "x3_dangerous"), "rights_violation"),
    ("X 1 strong alone", ("x1_excessive_hours",), "none"),
    ("X 2 medium", ("x2_no_pay", "x3_dangerous"), "none"),
    ("C 2 strong", X_POSITIVE + ("c1_documents_taken", "c4_violence"), "forced_labour_indicated"),
    (
        "C 1 strong + 1 medium",
        X_POSITIVE + ("c2_debt_bondage", "c5_threats"),
        "forced_labour_indicated",
    ),
    (
        "C 3 medium",
        X_POSITIVE + ("c6_drugs", "c7_illegal_acts", "c8_wages_withheld"),
        "forced_labour_indicated",
    ),
    (
        "C 3 medium incl. l1",
        X_POSITIVE + ("c5_threats", "c8_wages_withheld", "l1_arranged_dependence"),
        "forced_labour_indicated",
    ),
    ("C 1 strong alone", X_POSITIVE + ("c3_movement_restricted",), "rights_violation"),
    ("C 2 medium", X_POSITIVE + ("c5_threats", "l1_arranged_dependence"), "rights_violation"),
    (
        "V 3 medium",
        X_POSITIVE + ("v1_dependent", "v2_no_status", "v3_language"),
        "forced_labour_indicated",
    ),
    ("V 2 medium", X_POSITIVE + ("v1_dependent", "v3_language"), "rights_violation"),
    ("C positive without X", ("c1_documents_taken", "c2_debt_bondage"), "none"),
    ("V positive without X", ("v1_dependent", "v2_no_status", "v3_language"), "none"),
]


@pytest.mark.parametrize(
    ("yes", "status"), [pytest.param(y, s, id=name) for name, y, s in DELPHI_CASES]
)
def test_delphi_dimensions(yes, status):
    assert result(screened(yes)).exploitation_status == status


# --- exploitation_status, in its order -------------------------------------------------------

R_POS = ("r1_deceived_job", "r3_forced_moved")
X_POS = ("x1_excessive_hours", "x3_dangerous")
C_POS = ("c1_documents_taken", "c2_debt_bondage")
V_POS = ("v1_dependent", "v2_no_status", "v3_language")
SIX_MISSING = (
    "r2_deceived_conditions",
    "c5_threats",
    "c6_drugs",
    "c7_illegal_acts",
    "c8_wages_withheld",
    "l1_arranged_dependence",
)

STATUS_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("module not asked: worked_away no", person(worked_away="no"), "not_screened"),
    ("module not asked: worked_away refused", person(worked_away="refused"), "not_screened"),
    ("module not asked: unanswered", person(), "not_screened"),
    ("module not asked: age 13", screened(R_POS + X_POS + C_POS, age="13"), "not_screened"),
    ("module not asked: age unknown", screened(R_POS + X_POS + C_POS, age=None), "not_screened"),
    ("R+ X+ C+", screened(R_POS + X_POS + C_POS), "possible_trafficking"),
    ("R+ X+ V+", screened(R_POS + X_POS + V_POS), "possible_trafficking"),
    ("R+ X+ alone (adult)", screened(R_POS + X_POS), "rights_violation"),
    ("minor X+ (17)", screened(X_POS, age="17"), "possible_trafficking"),
    ("minor X+ (14)", screened(X_POS, age="14"), "possible_trafficking"),
    ("minor R+ only (17)", screened(R_POS, age="17"), "rights_violation"),
    ("adult 18 X+", screened(X_POS, age="18"), "rights_violation"),
    ("X+ C+", screened(X_POS + C_POS), "forced_labour_indicated"),
    ("X+ V+", screened(X_POS + V_POS), "forced_labour_indicated"),
    ("5 missing: not incomplete", screened(missing=SIX_MISSING[:5]), "none"),
    ("6 missing: incomplete", screened(missing=SIX_MISSING), "incomplete"),
    ("all 18 missing: incomplete", screened(missing=tuple(SCREEN_ITEMS)), "incomplete"),
    ("6 missing with R+: incomplete first", screened(R_POS, missing=SIX_MISSING), "incomplete"),
    (
        "5 missing with R+: rights_violation",
        screened(R_POS, missing=SIX_MISSING[:5]),
        "rights_violation",
    ),
    (
        "6 missing with X+ C+: forced labour first",
        screened(X_POS + C_POS, missing=SIX_MISSING),
        "forced_labour_indicated",
    ),
    ("R+ only", screened(R_POS), "rights_violation"),
    ("X+ only", screened(X_POS), "rights_violation"),
    ("all no", screened(), "none"),
]


@pytest.mark.parametrize(
    ("answers", "status"), [pytest.param(a, s, id=name) for name, a, s in STATUS_CASES]
)
def test_exploitation_status(answers, status):
    outcome = result(answers)
    assert outcome.exploitation_status == status
    assert outcome.needs_review is (status == "incomplete")


def test_refused_and_unanswered_both_count_as_missing():
    six = SIX_MISSING
    all_refused = screened()
    all_blank = screened()
    for name in six:
        all_refused[name] = "refused"
        all_blank[name] = ""
    assert result(all_refused).exploitation_status == "incomplete"
    assert result(all_blank).exploitation_status == "incomplete"


# --- urgent, risk level, groups, control forms, types ---------------------------------------


@pytest.mark.parametrize(
    "item", ["c1_documents_taken", "c2_debt_bondage", "c3_movement_restricted", "c4_violence"]
)
def test_urgent_when_coercion_and_ongoing(item):
    outcome = result(screened((item,), situation_ongoing="yes"))
    assert outcome.urgent is True
    assert outcome.risk_level == "high"
    # One strong C item alone is not C+; the status stays `none`.
    assert outcome.exploitation_status == "none"
    assert "POSSIBLE_VICTIM" not in outcome.risk_groups


@pytest.mark.parametrize(
    ("yes", "ongoing"),
    [
        pytest.param(("c1_documents_taken",), "no", id="not ongoing"),
        pytest.param(("c1_documents_taken",), "refused", id="ongoing refused"),
        pytest.param(("c1_documents_taken",), None, id="ongoing unanswered"),
        pytest.param(("c5_threats",), "yes", id="medium C item only"),
        pytest.param((), "yes", id="no C item: ongoing not asked"),
    ],
)
def test_not_urgent(yes, ongoing):
    outcome = result(screened(yes, situation_ongoing=ongoing))
    assert outcome.urgent is False
    assert outcome.risk_level == "low"


def test_not_urgent_when_module_not_asked():
    answers = screened(("c1_documents_taken",), situation_ongoing="yes", age="13")
    assert result(answers).urgent is False


@pytest.mark.parametrize(
    ("answers", "risk_level"),
    [
        pytest.param(screened(R_POS), "medium", id="rights_violation -> medium"),
        pytest.param(screened(X_POS + C_POS), "high", id="forced labour -> high"),
        pytest.param(screened(X_POS, age="16"), "high", id="possible trafficking -> high"),
        pytest.param(screened(missing=SIX_MISSING), "low", id="incomplete -> V level"),
        pytest.param(
            screened(
                R_POS, prior_forced="yes", household_debt="yes", unsafe_home="yes", disability="yes"
            ),
            "high",
            id="V high beats rights_violation",
        ),
        pytest.param(
            screened((), prior_forced="yes", disability="yes"), "medium", id="V medium, status none"
        ),
    ],
)
def test_risk_level(answers, risk_level):
    assert result(answers).risk_level == risk_level


def test_possible_victim_group_and_control_forms_and_types():
    answers = screened(
        (
            "r1_deceived_job",
            "r2_deceived_conditions",
            "x1_excessive_hours",
            "x3_dangerous",
            "c1_documents_taken",
            "c8_wages_withheld",
            "c7_illegal_acts",
        ),
        age="16",
        plans_work_abroad="yes",
        exploitation_type="sexual domestic  sexual",
    )
    outcome = result(answers)
    assert outcome.exploitation_status == "possible_trafficking"
    assert outcome.risk_groups == ("CHILD", "LABOUR_MIGRANT", "POSSIBLE_VICTIM")
    assert outcome.control_forms == ("economic", "legal_dependence", "psychological")
    assert outcome.exploitation_types == ("domestic", "sexual")
    assert outcome.rubric_version == RUBRIC_VERSION == "2026.1"


@pytest.mark.parametrize(
    ("item", "forms"),
    [
        ("r1_deceived_job", ("psychological",)),
        ("r2_deceived_conditions", ("psychological",)),
        ("r3_forced_moved", ("physical",)),
        ("x1_excessive_hours", ()),
        ("x2_no_pay", ("economic",)),
        ("x3_dangerous", ()),
        ("c1_documents_taken", ("legal_dependence",)),
        ("c2_debt_bondage", ("economic",)),
        ("c3_movement_restricted", ("physical",)),
        ("c4_violence", ("physical",)),
        ("c5_threats", ("psychological",)),
        ("c6_drugs", ("physical",)),
        ("c7_illegal_acts", ()),
        ("c8_wages_withheld", ("economic",)),
        ("l1_arranged_dependence", ("legal_dependence",)),
        ("v1_dependent", ()),
        ("v2_no_status", ()),
        ("v3_language", ()),
    ],
)
def test_control_form_of_each_item(item, forms):
    assert result(screened((item,))).control_forms == forms


def test_exploitation_type_ignored_when_not_asked():
    # No module item is `yes`: exploitation_type is not asked, a leftover value is ignored.
    assert result(screened((), exploitation_type="domestic")).exploitation_types == ()
    # Module not asked at all.
    assert result(person(worked_away="no", exploitation_type="organs")).exploitation_types == ()


def test_module_values_ignored_when_module_not_asked():
    outcome = result(screened(R_POS + X_POS + C_POS, worked_away="no", situation_ongoing="yes"))
    assert outcome.exploitation_status == "not_screened"
    assert outcome.control_forms == ()
    assert outcome.urgent is False


# --- consent, nesting, reading values --------------------------------------------------------


@pytest.mark.parametrize("consent", ["no", "refused", "", None])
def test_no_result_without_consent(consent):
    answers = person(consent=consent, prior_forced="yes")
    assert classify(answers) is None


def test_answers_nested_in_groups():
    nested = {
        "consent": "yes",
        "respondent": {"age": "16", "sex": "female", "education": "primary"},
        "vulnerability": {"prior_forced": "yes", "marriage_risk": "yes"},
        "work_history": {
            "worked_away": "yes",
            "exploitation_screen": {
                **{name: "no" for name in SCREEN_ITEMS},
                "x1_excessive_hours": "yes",
                "x2_no_pay": "yes",
                "c4_violence": "yes",
                "situation_ongoing": "yes",
                "exploitation_type": "agricultural",
                # A repeat: its contents are not read by the rubric.
                "places": [{"prior_forced": "no", "c1_documents_taken": "yes"}],
            },
        },
        "meta": {"instanceID": "uuid:1"},
    }
    outcome = result(nested)
    # age 16 (+2), primary (+2), prior_forced (+3), marriage_risk (+2) = 9
    assert outcome.vulnerability_score == 9
    assert outcome.vulnerability_level == "high"
    assert outcome.exploitation_status == "possible_trafficking"
    assert outcome.urgent is True
    assert outcome.risk_groups == (
        "CHILD",
        "MARRIAGE_RISK",
        "POSSIBLE_VICTIM",
        "PRIOR_VICTIM",
        "UNDER_EDUCATED",
    )
    assert outcome.control_forms == ("economic", "physical")
    assert outcome.exploitation_types == ("agricultural",)
    assert outcome.needs_review is False


def test_flatten_answers():
    flat = flatten_answers(
        {"a": "1", "g": {"b": "2", "h": {"c": "3"}}, "r": [{"d": "4"}], "e": None, "f": 5}
    )
    assert flat == {"a": "1", "b": "2", "c": "3", "e": "", "f": "5"}
    # A name that occurs twice: the first non-empty value wins.
    assert flatten_answers({"g1": {"x": ""}, "g2": {"x": "yes"}, "g3": {"x": "no"}}) == {"x": "yes"}


@pytest.mark.parametrize(
    ("age", "score"),
    [("17", 2), (" 17 ", 2), ("17.0", 2), ("abc", 0), ("", 0), ("1e1", 0), ("+5", 0), ("-1", 2)],
)
def test_age_read_as_xpath_number(age, score):
    assert result(person(age=age)).vulnerability_score == score


@pytest.mark.parametrize(
    ("age", "band"),
    [
        (None, None),
        (-1, None),
        (0, "0-13"),
        (13, "0-13"),
        (14, "14-17"),
        (17, "14-17"),
        (18, "18-24"),
        (24, "18-24"),
        (25, "25-34"),
        (34, "25-34"),
        (35, "35-49"),
        (49, "35-49"),
        (50, "50+"),
        (120, "50+"),
    ],
)
def test_age_band(age, band):
    assert age_band(age) == band


# --- properties ------------------------------------------------------------------------------

YES_NO_MISSING = st.sampled_from(["yes", "no", "refused", None])


@st.composite
def answer_sets(draw) -> dict[str, Any]:
    answers: dict[str, Any] = {
        "consent": "yes",
        "age": draw(st.one_of(st.none(), st.integers(0, 120).map(str))),
        "sex": draw(st.sampled_from(["female", "male", "other", "refused", None])),
        "education": draw(
            st.sampled_from(
                [
                    "none",
                    "primary",
                    "lower_secondary",
                    "upper_secondary",
                    "vocational",
                    "higher",
                    "refused",
                    None,
                ]
            )
        ),
        "worked_away": draw(YES_NO_MISSING),
        "situation_ongoing": draw(YES_NO_MISSING),
        "exploitation_type": " ".join(
            draw(st.lists(st.sampled_from(["domestic", "sexual", "organs", "other"]), max_size=3))
        ),
    }
    for name in PART_A_ITEMS + SCREEN_ITEMS:
        answers[name] = draw(YES_NO_MISSING)
    return {k: v for k, v in answers.items() if v is not None}


@settings(max_examples=300)
@given(answer_sets())
def test_score_never_negative(answers):
    assert result(answers).vulnerability_score >= 0


@settings(max_examples=300)
@given(answer_sets(), answer_sets())
def test_level_monotone_in_score(first, second):
    a, b = result(first), result(second)
    if a.vulnerability_score <= b.vulnerability_score:
        assert RANK[a.vulnerability_level] <= RANK[b.vulnerability_level]
    else:
        assert RANK[a.vulnerability_level] >= RANK[b.vulnerability_level]


@settings(max_examples=300)
@given(answer_sets())
def test_adding_a_risk_factor_never_lowers_the_levels(answers):
    before = result({**answers, "prior_forced": "no"})
    after = result({**answers, "prior_forced": "yes"})
    # +3, except where the floor at 0 absorbs part of it.
    assert before.vulnerability_score <= after.vulnerability_score <= before.vulnerability_score + 3
    assert RANK[after.vulnerability_level] >= RANK[before.vulnerability_level]
    assert RANK[after.risk_level] >= RANK[before.risk_level]


@settings(max_examples=300)
@given(answer_sets())
def test_possible_victim_exactly_when_trafficking_or_forced_labour(answers):
    outcome = result(answers)
    assert ("POSSIBLE_VICTIM" in outcome.risk_groups) == (
        outcome.exploitation_status in ("possible_trafficking", "forced_labour_indicated")
    )


@settings(max_examples=300)
@given(answer_sets())
def test_risk_level_at_least_vulnerability_level(answers):
    outcome = result(answers)
    assert RANK[outcome.risk_level] >= RANK[outcome.vulnerability_level]
    assert list(outcome.risk_groups) == sorted(set(outcome.risk_groups))
    assert list(outcome.control_forms) == sorted(set(outcome.control_forms))
    assert outcome.needs_review == (outcome.exploitation_status == "incomplete")
