"""Names of ../shared/spec/risk-screening.md (rubric 2026.1), transcribed once for the tests
and benchmarks, independently of forms/rubric.py (the code they check)."""

from __future__ import annotations

# Part A: the yes/no items of the vulnerability score, in the spec's order.
PART_A_ITEMS = (
    "no_income_3m",
    "voc_grad_no_work",
    "plans_work_abroad",
    "returned_deported",
    "prior_forced",
    "disability",
    "household_debt",
    "parents_abroad",
    "no_parental_care",
    "unsafe_home",
    "marriage_risk",
    "informal_job_offer",
    "travel_debt_offer",
    "holds_passport",
    "has_contract",
    "knows_hotline",
    "trusted_contact_abroad",
)

# Part B: the 18 items of the exploitation screen, asked when worked_away = yes.
MODULE_ITEMS = (
    "r1_deceived_job",
    "r2_deceived_conditions",
    "r3_forced_moved",
    "x1_excessive_hours",
    "x2_no_pay",
    "x3_dangerous",
    "c1_documents_taken",
    "c2_debt_bondage",
    "c3_movement_restricted",
    "c4_violence",
    "c5_threats",
    "c6_drugs",
    "c7_illegal_acts",
    "c8_wages_withheld",
    "l1_arranged_dependence",
    "v1_dependent",
    "v2_no_status",
    "v3_language",
)
