"""What the browser tests enter in each bundled form (forms/library/): a full plan that walks
through the form's branches, and a short one where the form has a short way through.
Dates are relative to today (the forms refuse dates in the future)."""

from __future__ import annotations

from datetime import date, timedelta


def full_plans(today: date) -> dict[str, list]:
    days = lambda n: (today - timedelta(days=n)).isoformat()  # noqa: E731
    return {
        "hotline_call": [
            ("operator_code", "DU07"), ("line", "trust_line"), ("call_direction", "incoming"),
            ("call_duration", "12"), ("caller_type", "migrant_abroad"), ("caller_sex", "female"),
            ("caller_location", "abroad"), ("country_abroad", "russia"),
            ("topics", ["unpaid_wages", "documents"]), ("suspected_trafficking", "unclear"),
            ("referral", ["iom", "consulate"]), ("outcome", "referred"),
            ("call_notes", "Called back twice"),
        ],
        "departure_point_consultation": [
            ("consultant_code", "KH03"), ("site_type", "airport"), ("site", "dyu_airport"),
            ("consultation_kind", "group"), ("group_size", "3"), ("traveller_sex", "male"),
            ("traveller_age_band", "age_18_24"), ("first_trip_abroad", "yes"),
            ("destination_country", "russia"), ("travel_purpose", "work"),
            ("job_found_through", "unlicensed_intermediary"), ("has_written_contract", "no"),
            ("costs_repaid_from_wages", "yes"),
            ("services_given", ["safe_migration_info", "hotline_info"]),
            ("materials_given", ["leaflet", "hotline_card"]), ("materials_count", "4"),
            ("risk_signs_seen", "yes"), ("risk_signs", ["no_contract", "debt"]),
            ("duration_minutes", "15"), ("consultation_notes", "Group of three"),
        ],
        "support_center_intake": [
            ("center", "khujand"), ("case_code", "SU-2026-014"), ("intake_date", days(10)),
            ("referral_source", "hotline"), ("client_sex", "male"), ("client_age", "17"),
            ("region", "TJ-SU"),
            ("case_type", "presumed_victim"), ("exploitation_forms", ["forced_labour"]),
            ("exploitation_country", "russia"), ("consent_services", "yes"),
            ("services", ["legal", "shelter"]), ("shelter_days", "14"),
            ("follow_up", [
                [("follow_up_date", days(6)), ("follow_up_type", "call"),
                 ("follow_up_service", "legal"), ("follow_up_notes", "Documents requested")],
                [("follow_up_date", days(2)), ("follow_up_type", "home_visit"),
                 ("follow_up_service", "shelter")],
            ]),
            ("case_status", "open"),
        ],
        "community_awareness": [
            ("enumerator_code", "SU12"), ("survey_round", "baseline"),
            ("campaign_id", "CA-2026-SU1"), ("region", "TJ-SU"), ("district", "TJ-SU-KHUJAND"),
            ("settlement_type", "urban"), ("consent", "yes"), ("resp_sex", "female"),
            ("resp_age", "34"), ("education", "vocational"), ("resp_worked_abroad", "no"),
            ("hh_size", "2"),  # the repeat has one entry per member (its count)
            ("household_member", [
                [("member_sex", "female"), ("member_age_band", "age_25_34"),
                 ("member_migration", "seasonal"), ("member_abroad_now", "yes"),
                 ("member_country", "kazakhstan")],
                [("member_sex", "male"), ("member_age_band", "age_0_13")],
            ]),
            ("heard_of_trafficking", "yes"), ("known_methods", ["false_job_offer", "debt_bondage"]),
            ("passport_retention_ok", "disagree"), ("debt_for_travel_ok", "dont_know"),
            ("safe_steps_known", ["written_contract", "registration"]),
            ("knows_license_check", "no"), ("knows_registration_rule", "yes"),
            ("info_sources", ["social_media", "ngo_session"]), ("knows_hotline", "yes"),
            ("knows_support_center", "no"), ("would_seek_help", "likely"),
            ("seen_campaign", "yes"), ("campaign_channels", ["school"]),
            ("interviewer_notes", "Quiet street"),
        ],
        # a 16-year-old whose documents were taken, still ongoing: high risk, urgent, referral
        "risk_screening": [
            ("consent", "yes"), ("interview_date", days(3)), ("region", "TJ-DU"),
            ("district", "TJ-DU-SINO"), ("site_type", "hotline"), ("sex", "female"),
            ("age", "16"), ("education", "lower_secondary"),
            ("no_income_3m", "yes"), ("voc_grad_no_work", "no"), ("plans_work_abroad", "yes"),
            ("returned_deported", "no"), ("prior_forced", "no"), ("disability", "no"),
            ("household_debt", "yes"), ("parents_abroad", "yes"), ("no_parental_care", "no"),
            ("unsafe_home", "no"), ("marriage_risk", "refused"), ("informal_job_offer", "yes"),
            ("travel_debt_offer", "no"), ("holds_passport", "no"), ("has_contract", "no"),
            ("knows_hotline", "no"), ("trusted_contact_abroad", "no"),
            ("worked_away", "yes"),
            ("r1_deceived_job", "yes"), ("r2_deceived_conditions", "no"),
            ("r3_forced_moved", "no"), ("x1_excessive_hours", "yes"), ("x2_no_pay", "no"),
            ("x3_dangerous", "no"), ("c1_documents_taken", "yes"), ("c2_debt_bondage", "no"),
            ("c3_movement_restricted", "no"), ("c4_violence", "no"), ("c5_threats", "no"),
            ("c6_drugs", "no"), ("c7_illegal_acts", "no"), ("c8_wages_withheld", "yes"),
            ("l1_arranged_dependence", "no"), ("v1_dependent", "no"), ("v2_no_status", "no"),
            ("v3_language", "no"), ("situation_ongoing", "yes"),
            ("exploitation_type", ["domestic"]),
        ],
    }


# Short ways through a form, sent in the languages the full plan does not use.
SHORT_PLANS: dict[str, list] = {
    "hotline_call": [("operator_code", "KT11"), ("line", "hotline"), ("call_direction", "silent"),
                     ("call_duration", "1"), ("outcome", "dropped")],
    "risk_screening": [("consent", "no")],
    "community_awareness": [
        ("enumerator_code", "DU01"), ("survey_round", "endline"), ("campaign_id", "CA-2026-DU2"),
        ("region", "TJ-DU"), ("district", "TJ-DU-FIRDAVSI"), ("settlement_type", "urban"),
        ("consent", "no"),
    ],
}
# The first answers of forms with no short way through (checked on screen, not sent).
FIRST_STEPS: dict[str, list] = {
    "support_center_intake": [("center", "dushanbe"), ("case_code", "DU-2026-001")],
    "departure_point_consultation": [("consultant_code", "DU02"), ("site_type", "border_point")],
}
# The language each form is filled in fully; the other two get the short plan or first steps.
FULL_LANGUAGE = {
    "hotline_call": "ru",
    "departure_point_consultation": "tg",
    "support_center_intake": "en",
    "community_awareness": "tg",
    "risk_screening": "ru",
}


def applicable(schema, plan: list) -> list:
    """The plan less the questions this version of the form does not ask (a form's later
    version may compute a value it used to ask, or move a repeat to another form)."""
    asked = {f.name: f for f in schema.walk() if f.kind in ("question", "repeat")
             and f.type != "note" and not f.calculate and not f.readonly}
    out = []
    for name, value in plan:
        if name not in asked:
            continue
        if asked[name].kind == "repeat":
            value = [applicable(schema, entry) for entry in value]
        out.append((name, value))
    return out
