"""What the browser tests enter in each bundled form (forms/library/), in each of its three
languages: three different ways through each form, so that the three fills test different
branches (a screening is low risk in one language, medium in another and high in the third;
other forms take their "other, say which" texts, skipped groups and repeats in turn).
Dates are relative to today (the forms refuse dates in the future)."""

from __future__ import annotations

from datetime import date, timedelta

_NO_EXPLOITATION = [(name, "no") for name in (
    "r1_deceived_job", "r2_deceived_conditions", "r3_forced_moved", "x1_excessive_hours",
    "x2_no_pay", "x3_dangerous", "c1_documents_taken", "c2_debt_bondage",
    "c3_movement_restricted", "c4_violence", "c5_threats", "c6_drugs", "c7_illegal_acts",
    "c8_wages_withheld", "l1_arranged_dependence", "v1_dependent", "v2_no_status", "v3_language",
)]

# The risk level forms/rubric.py gives for each language's risk_screening plan (the test also
# checks the stored classification against classify() of the stored answers).
RISK_LEVELS = {"en": "low", "ru": "high", "tg": "medium"}


def plans(today: date) -> dict[str, dict[str, list]]:
    """form id -> language code -> plan (an ordered list of (field name, value))."""
    days = lambda n: (today - timedelta(days=n)).isoformat()  # noqa: E731
    return {
        "hotline_call": {
            "en": [
                ("operator_code", "KT11"), ("line", "hotline"), ("call_direction", "outgoing"),
                ("call_duration", "25"), ("caller_type", "other"),
                ("caller_type_other", "Teacher"), ("caller_sex", "male"),
                ("caller_location", "tajikistan"), ("region", "TJ-KT"),
                ("topics", ["forced_labour", "other"]), ("topics_other", "Visa fraud"),
                ("suspected_trafficking", "yes"), ("referral", ["support_center", "police"]),
                ("outcome", "case_opened"), ("call_notes", "Case opened"),
            ],
            "ru": [
                ("operator_code", "DU07"), ("line", "trust_line"), ("call_direction", "incoming"),
                ("call_duration", "12"), ("caller_type", "migrant_abroad"),
                ("caller_sex", "female"), ("caller_location", "abroad"),
                ("country_abroad", "russia"), ("topics", ["unpaid_wages", "documents"]),
                ("suspected_trafficking", "unclear"), ("referral", ["iom", "consulate"]),
                ("outcome", "referred"), ("call_notes", "Перезвонили дважды"),
            ],
            # a silent call: the caller and content groups are skipped
            "tg": [
                ("operator_code", "SU03"), ("line", "hotline"), ("call_direction", "silent"),
                ("call_duration", "1"), ("outcome", "dropped"), ("call_notes", "Занги хомӯш"),
            ],
        },
        "departure_point_consultation": {
            "en": [
                ("consultant_code", "HT04"), ("site_type", "other"), ("site", "other"),
                ("site_other", "Bus station"), ("consultation_kind", "individual"),
                ("traveller_sex", "female"), ("traveller_age_band", "under_18"),
                ("first_trip_abroad", "yes"), ("destination_country", "other"),
                ("destination_other", "Poland"), ("travel_purpose", "study"),
                ("services_given", ["rights_info", "other"]),
                ("services_given_other", "Phone numbers"), ("materials_given", ["none"]),
                ("risk_signs_seen", "yes"), ("risk_signs", ["minor_alone"]),
                ("duration_minutes", "5"),
            ],
            "ru": [
                ("consultant_code", "DU02"), ("site_type", "border_point"),
                ("site", "fotehobod_border"), ("consultation_kind", "individual"),
                ("traveller_sex", "refused"), ("traveller_age_band", "age_35_49"),
                ("first_trip_abroad", "no"), ("destination_country", "kazakhstan"),
                ("travel_purpose", "work"), ("job_found_through", "online"),
                ("has_written_contract", "dont_know"), ("costs_repaid_from_wages", "no"),
                ("services_given", ["document_check", "referral_support_center"]),
                ("materials_given", ["booklet"]), ("materials_count", "1"),
                ("risk_signs_seen", "no"), ("duration_minutes", "30"),
                ("consultation_notes", "Паспорт проверен"),
            ],
            "tg": [
                ("consultant_code", "KH03"), ("site_type", "airport"), ("site", "dyu_airport"),
                ("consultation_kind", "group"), ("group_size", "3"), ("traveller_sex", "male"),
                ("traveller_age_band", "age_18_24"), ("first_trip_abroad", "yes"),
                ("destination_country", "russia"), ("travel_purpose", "work"),
                ("job_found_through", "unlicensed_intermediary"),
                ("has_written_contract", "no"), ("costs_repaid_from_wages", "yes"),
                ("services_given", ["safe_migration_info", "hotline_info"]),
                ("materials_given", ["leaflet", "hotline_card"]), ("materials_count", "4"),
                ("risk_signs_seen", "yes"), ("risk_signs", ["no_contract", "debt"]),
                ("duration_minutes", "15"), ("consultation_notes", "Гурӯҳи се нафара"),
            ],
        },
        "support_center_intake": {
            "en": [
                ("center", "khujand"), ("intake_date", days(10)),
                ("referral_source", "hotline"), ("client_sex", "male"), ("client_age", "17"),
                ("region", "TJ-SU"), ("case_type", "presumed_victim"),
                ("exploitation_forms", ["forced_labour"]), ("exploitation_country", "russia"),
                ("consent_services", "yes"), ("consent_share", "yes"),
                ("services", ["legal", "shelter"]), ("shelter_days", "14"),
            ],
            # a returnee who declines services: no services group
            "ru": [
                ("center", "other"), ("center_other", "Бохтар"), ("intake_date", days(40)),
                ("referral_source", "other"), ("referral_source_other", "Школа"),
                ("client_sex", "female"), ("client_age", "29"), ("region", "TJ-KT"),
                ("case_type", "returnee_distress"), ("exploitation_country", "other"),
                ("exploitation_country_other", "Польша"), ("consent_services", "no"),
                ("consent_share", "no"),
            ],
            "tg": [
                ("center", "dushanbe"), ("intake_date", days(1)), ("referral_source", "police"),
                ("client_sex", "female"), ("client_age", "15"), ("region", "TJ-DU"),
                ("case_type", "at_risk"), ("consent_services", "yes"),
                ("consent_share", "yes"), ("services", ["psychological", "other"]), ("services_other", "Маслиҳат"),
            ],
        },
        "community_awareness": {
            "en": [
                ("enumerator_code", "DU01"), ("survey_round", "other"),
                ("survey_round_other", "Midline"), ("campaign_id", "CA-2026-DU2"),
                ("region", "TJ-RA"), ("district", "TJ-RA-RUDAKI"),
                ("settlement_type", "rural"), ("consent", "yes"), ("resp_sex", "male"),
                ("resp_age", "67"), ("education", "none"), ("resp_worked_abroad", "yes"),
                ("hh_size", "1"),
                ("household_member", [
                    [("member_sex", "male"), ("member_age_band", "age_50_plus"),
                     ("member_migration", "returned_banned")],
                ]),
                ("heard_of_trafficking", "no"), ("known_methods", ["none_known"]),
                ("passport_retention_ok", "agree"), ("debt_for_travel_ok", "agree"),
                ("safe_steps_known", ["none_known"]), ("knows_license_check", "dont_know"),
                ("knows_registration_rule", "no"), ("info_sources", ["none"]),
                ("knows_hotline", "no"), ("knows_support_center", "dont_know"),
                ("would_seek_help", "unlikely"), ("seen_campaign", "no"),
            ],
            # no consent: only the survey context and the notes
            "ru": [
                ("enumerator_code", "KT05"), ("survey_round", "endline"),
                ("campaign_id", "CA-2026-KT3"), ("region", "TJ-KT"),
                ("district", "TJ-KT-BOKHTAR"), ("settlement_type", "urban"), ("consent", "no"),
                ("interviewer_notes", "Отказ от интервью"),
            ],
            "tg": [
                ("enumerator_code", "SU12"), ("survey_round", "baseline"),
                ("campaign_id", "CA-2026-SU1"), ("region", "TJ-SU"),
                ("district", "TJ-SU-KHUJAND"), ("settlement_type", "urban"), ("consent", "yes"),
                ("resp_sex", "female"), ("resp_age", "34"), ("education", "vocational"),
                ("resp_worked_abroad", "no"),
                ("hh_size", "2"),  # the repeat has one entry per member (its count)
                ("household_member", [
                    [("member_sex", "female"), ("member_age_band", "age_25_34"),
                     ("member_migration", "seasonal"), ("member_abroad_now", "yes"),
                     ("member_country", "kazakhstan")],
                    [("member_sex", "male"), ("member_age_band", "age_0_13")],
                ]),
                ("heard_of_trafficking", "yes"),
                ("known_methods", ["false_job_offer", "debt_bondage"]),
                ("passport_retention_ok", "disagree"), ("debt_for_travel_ok", "dont_know"),
                ("safe_steps_known", ["written_contract", "registration"]),
                ("knows_license_check", "no"), ("knows_registration_rule", "yes"),
                ("info_sources", ["social_media", "ngo_session"]), ("knows_hotline", "yes"),
                ("knows_support_center", "no"), ("would_seek_help", "likely"),
                ("seen_campaign", "yes"), ("campaign_channels", ["school"]),
                ("interviewer_notes", "Кӯчаи ором"),
            ],
        },
        "risk_screening": {
            # a 41-year-old with a passport who never worked away: low
            "en": [
                ("consent", "yes"), ("interview_date", days(1)), ("region", "TJ-SU"),
                ("district", "TJ-SU-ISTARAVS"), ("site_type", "community"), ("sex", "male"),
                ("age", "41"), ("education", "higher"), ("no_income_3m", "no"),
                ("voc_grad_no_work", "no"), ("plans_work_abroad", "no"),
                ("returned_deported", "no"), ("prior_forced", "no"), ("disability", "no"),
                ("household_debt", "no"), ("unsafe_home", "no"), ("informal_job_offer", "no"),
                ("travel_debt_offer", "no"), ("holds_passport", "yes"),
                ("has_contract", "refused"), ("knows_hotline", "yes"),
                ("trusted_contact_abroad", "yes"), ("worked_away", "no"),
            ],
            # a 16-year-old whose documents were taken, still ongoing: high, urgent, referral
            "ru": [
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
            # a 20-year-old out of work who plans to go abroad, worked away with no
            # exploitation: medium
            "tg": [
                ("consent", "yes"), ("interview_date", days(20)), ("region", "TJ-KT"),
                ("district", "TJ-KT-KULOB"), ("site_type", "departure_point"), ("sex", "male"),
                ("age", "20"), ("education", "upper_secondary"), ("no_income_3m", "yes"),
                ("voc_grad_no_work", "yes"), ("plans_work_abroad", "yes"),
                ("returned_deported", "no"), ("prior_forced", "no"), ("disability", "no"),
                ("household_debt", "no"), ("no_parental_care", "no"), ("unsafe_home", "no"),
                ("informal_job_offer", "no"), ("travel_debt_offer", "no"),
                ("holds_passport", "yes"), ("has_contract", "no"), ("knows_hotline", "no"),
                ("trusted_contact_abroad", "no"), ("worked_away", "yes"), *_NO_EXPLOITATION,
            ],
        },
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
