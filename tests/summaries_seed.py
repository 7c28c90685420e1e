"""Risk screenings for the summaries' tests: a project with the bundled risk_screening form,
random answer sets a respondent could give, and submitting them through OpenRosa."""

from __future__ import annotations

import random
import uuid
from pathlib import Path

from forms.compile import compile_xlsform
from forms.schema import parse_xform
from tests.instances import instance_xml

LIBRARY = Path(__file__).resolve().parents[1] / "forms" / "library"
OPENROSA = {"X-OpenRosa-Version": "1.0"}
DISTRICTS = {
    "TJ-DU": ["TJ-DU-SINO", "TJ-DU-FIRDAVSI"],
    "TJ-SU": ["TJ-SU-KHUJAND", "TJ-SU-ISFARA", "TJ-SU-ASHT"],
    "TJ-KT": ["TJ-KT-BOKHTAR", "TJ-KT-KULOB"],
    "TJ-GB": ["TJ-GB-KHORUGH"],
    "TJ-RA": ["TJ-RA-HISOR", "TJ-RA-RASHT"],
}
YES_NO = ["yes", "no", "no", "no", "refused"]
PART_A = ["no_income_3m", "voc_grad_no_work", "plans_work_abroad", "returned_deported",
          "prior_forced", "disability", "household_debt", "parents_abroad", "no_parental_care",
          "unsafe_home", "marriage_risk", "informal_job_offer", "travel_debt_offer",
          "holds_passport", "has_contract", "knows_hotline", "trusted_contact_abroad"]
MODULE = ["r1_deceived_job", "r2_deceived_conditions", "r3_forced_moved", "x1_excessive_hours",
          "x2_no_pay", "x3_dangerous", "c1_documents_taken", "c2_debt_bondage",
          "c3_movement_restricted", "c4_violence", "c5_threats", "c6_drugs", "c7_illegal_acts",
          "c8_wages_withheld", "l1_arranged_dependence", "v1_dependent", "v2_no_status",
          "v3_language"]
EXPLOITATION = ["domestic", "industrial", "agricultural", "criminal", "sexual", "other"]

_schema = None


def screening_schema():
    global _schema
    if _schema is None:
        compiled = compile_xlsform((LIBRARY / "risk_screening.xlsx").read_bytes(), validate=False)
        _schema = (compiled.xform, parse_xform(compiled.xform))
    return _schema


async def publish_now(pool, settings, project_id: int, now=None):
    """The project's due publication, made now (as the app's publisher or `fieldsurvey
    publish` would), for tests whose data is all in."""
    from api.services.publications import publish_due

    async with pool.acquire() as conn:
        return await publish_due(conn, project_id, settings, now)


async def screening_project(client, admin_headers, name: str | None = None) -> int:
    name = name or f"summaries-{uuid.uuid4().hex[:8]}"
    project = await client.post("/v1/projects", json={"name": name}, headers=admin_headers)
    assert project.status_code == 200, project.text
    pid = project.json()["id"]
    xform, _ = screening_schema()
    created = await client.post(
        f"/v1/projects/{pid}/forms?publish=true", content=xform.encode(),
        headers={**admin_headers, "Content-Type": "application/xml"},
    )
    assert created.status_code == 200, created.text
    return pid


def random_answers(rng: random.Random, *, region: str | None = None, year: int = 2026,
                   consent: str | None = None, district: str | None = None) -> dict:
    consent = consent or ("no" if rng.random() < 0.05 else "yes")
    if consent == "no":
        return {"consent": "no"}
    region = region or rng.choice(list(DISTRICTS))
    answers: dict = {
        "consent": "yes",
        "interview_date": f"{year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        "region": region,
        "district": district or rng.choice(DISTRICTS[region]),
        "site_type": rng.choice(["community", "school", "departure_point", "hotline"]),
        "sex": rng.choice(["female", "male", "male", "female", "refused"]),
        "age": str(rng.choice([9, 15, 16, 19, 23, 30, 41, 60])),
        "education": rng.choice(["none", "primary", "lower_secondary", "higher"]),
    }
    if rng.random() < 0.04:
        del answers["interview_date"]  # date unknown (no today/start either in these instances)
    for name in PART_A:
        answers[name] = rng.choice(YES_NO)
    if int(answers["age"]) >= 14 and rng.random() < 0.5:
        answers["worked_away"] = "yes"
        for name in MODULE:
            answers[name] = rng.choice(YES_NO)
        answers["situation_ongoing"] = rng.choice(YES_NO)
        answers["exploitation_type"] = rng.sample(EXPLOITATION, rng.randint(0, 2))
    return answers


def submission_xml(answers: dict, *, instance_id: str | None = None,
                   deprecated_id: str | None = None) -> bytes:
    _, schema = screening_schema()
    return instance_xml(schema, answers, instance_id=instance_id, deprecated_id=deprecated_id)


async def submit(client, headers, pid: int, xml: bytes) -> None:
    response = await client.post(
        f"/v1/projects/{pid}/submission",
        files={"xml_submission_file": ("submission.xml", xml, "text/xml")},
        headers={**headers, **OPENROSA},
    )
    assert response.status_code == 201, response.text
