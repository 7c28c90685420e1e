"""Every risk_screening submission is classified in the transaction that stores it; the
stored result is served as JSON; `fieldsurvey reclassify` restores it, idempotently."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from forms.compile import compile_xlsform
from forms.rubric import classify, flatten_answers
from forms.schema import parse_xform
from tests.instances import instance_xml
from tests.integration.test_cli import run_cli

LIBRARY = Path(__file__).resolve().parents[2] / "forms" / "library"
OPENROSA = {"X-OpenRosa-Version": "1.0"}


@pytest.fixture(scope="module")
def screening_schema():
    compiled = compile_xlsform((LIBRARY / "risk_screening.xlsx").read_bytes(), validate=False)
    return parse_xform(compiled.xform)


async def submit(client, headers, pid: int, xml: bytes):
    return await client.post(
        f"/v1/projects/{pid}/submission",
        files={"xml_submission_file": ("submission.xml", xml, "text/xml")},
        headers={**headers, **OPENROSA},
    )


BASE = {
    "consent": "yes", "interview_date": "2026-05-04", "region": "TJ-SU",
    "district": "TJ-SU-KHUJAND", "site_type": "school", "sex": "female", "age": "16",
    "education": "primary",
}


async def test_submission_is_classified_and_served(client, admin_headers, default_project_id, screening_schema, pool):
    pid = default_project_id
    answers = {**BASE, "worked_away": "yes", "x1_excessive_hours": "yes", "x2_no_pay": "yes",
               "c1_documents_taken": "yes", "situation_ongoing": "yes", "exploitation_type": ["domestic", "agricultural"]}
    for name in ("r1_deceived_job", "r2_deceived_conditions", "r3_forced_moved", "x3_dangerous",
                 "c2_debt_bondage", "c3_movement_restricted", "c4_violence", "c5_threats", "c6_drugs",
                 "c7_illegal_acts", "c8_wages_withheld", "l1_arranged_dependence", "v1_dependent",
                 "v2_no_status", "v3_language"):
        answers.setdefault(name, "no")
    instance = f"uuid:{uuid.uuid4()}"
    response = await submit(client, admin_headers, pid, instance_xml(screening_schema, answers, instance_id=instance))
    assert response.status_code == 201, response.text
    got = await client.get(
        f"/v1/projects/{pid}/forms/risk_screening/submissions/{instance}/classification", headers=admin_headers)
    assert got.status_code == 200, got.text
    body = got.json()
    # a minor with X+ (1 strong + 1 medium) is possible trafficking; documents taken + ongoing: urgent
    assert body["exploitationStatus"] == "possible_trafficking"
    assert body["urgent"] is True and body["riskLevel"] == "high"
    assert "POSSIBLE_VICTIM" in body["riskGroups"] and "CHILD" in body["riskGroups"]
    assert body["controlForms"] == ["economic", "legal_dependence"]
    assert body["exploitationTypes"] == ["agricultural", "domestic"]
    assert body["rubricVersion"] == "2026.1" and body["needsReview"] is False
    # the server's stored result is the rubric's, from the stored answers
    stored = await pool.fetchrow(
        "SELECT v.answers, sc.region, sc.district, sc.sex, sc.age_band, sc.interview_date "
        "FROM submissions s JOIN submission_versions v ON v.id = s.current_version_id "
        "JOIN screenings sc ON sc.submission_id = s.id WHERE s.instance_id = $1", instance)
    expected = classify(stored["answers"])
    assert body["vulnerabilityScore"] == expected.vulnerability_score
    assert (stored["region"], stored["district"], stored["sex"], stored["age_band"]) == ("TJ-SU", "TJ-SU-KHUJAND", "female", "14-17")
    assert str(stored["interview_date"]) == "2026-05-04"
    assert flatten_answers(stored["answers"])["age"] == "16"


async def test_refusal_is_stored_without_result(client, admin_headers, default_project_id, screening_schema):
    pid = default_project_id
    instance = f"uuid:{uuid.uuid4()}"
    response = await submit(client, admin_headers, pid, instance_xml(screening_schema, {"consent": "no"}, instance_id=instance))
    assert response.status_code == 201
    body = (await client.get(
        f"/v1/projects/{pid}/forms/risk_screening/submissions/{instance}/classification", headers=admin_headers)).json()
    assert body["consentRefused"] is True and body["riskLevel"] is None and body["rubricVersion"] is None


async def test_edit_reclassifies(client, admin_headers, default_project_id, screening_schema):
    pid = default_project_id
    first = f"uuid:{uuid.uuid4()}"
    await submit(client, admin_headers, pid, instance_xml(screening_schema, {**BASE, "age": "40", "education": "higher"}, instance_id=first))
    url = f"/v1/projects/{pid}/forms/risk_screening/submissions/{first}/classification"
    assert (await client.get(url, headers=admin_headers)).json()["riskLevel"] == "low"
    edited = instance_xml(screening_schema, {**BASE, "age": "40", "education": "higher", "prior_forced": "yes",
                                             "household_debt": "yes", "unsafe_home": "yes", "informal_job_offer": "yes"},
                          deprecated_id=first)
    assert (await submit(client, admin_headers, pid, edited)).status_code == 201
    body = (await client.get(url, headers=admin_headers)).json()
    assert body["vulnerabilityScore"] == 9 and body["riskLevel"] == "high"


async def test_classification_needs_microdata_rights(client, make_user, default_project_id):
    ministry = await make_user("ministry", default_project_id)
    url = f"/v1/projects/{default_project_id}/forms/risk_screening/submissions/uuid:x/classification"
    assert (await client.get(url, headers=ministry["headers"])).status_code == 403


async def test_reclassify_restores_and_is_idempotent(client, admin_headers, default_project_id, screening_schema, pool, database_url, data_dir):
    pid = default_project_id
    instance = f"uuid:{uuid.uuid4()}"
    await submit(client, admin_headers, pid, instance_xml(
        screening_schema, {**BASE, "age": "20", "plans_work_abroad": "yes", "household_debt": "yes"}, instance_id=instance))
    sid = await pool.fetchval("SELECT id FROM submissions WHERE instance_id = $1", instance)
    right = await pool.fetchrow("SELECT risk_level, vulnerability_score FROM screenings WHERE submission_id = $1", sid)
    # simulate an older rubric's result
    await pool.execute("UPDATE screenings SET risk_level = 'low', vulnerability_score = 0, rubric_version = '2025.9' WHERE submission_id = $1", sid)
    result = run_cli(["reclassify", "--project", str(pid), "--batch-size", "2"], database_url, data_dir)
    assert result.returncode == 0, result.stderr
    assert "re-classified" in result.stdout
    after = await pool.fetchrow("SELECT risk_level, vulnerability_score, rubric_version, classified_at FROM screenings WHERE submission_id = $1", sid)
    assert (after["risk_level"], after["vulnerability_score"]) == (right["risk_level"], right["vulnerability_score"])
    assert after["rubric_version"] == "2026.1"
    # a second run rewrites nothing
    in_project = ("SELECT sc.submission_id, sc.classified_at FROM screenings sc "
                  "JOIN forms f ON f.id = sc.form_id WHERE f.project_id = $1")
    before = {r["submission_id"]: r["classified_at"] for r in await pool.fetch(in_project, pid)}
    assert run_cli(["reclassify", "--project", str(pid)], database_url, data_dir).returncode == 0
    again = {r["submission_id"]: r["classified_at"] for r in await pool.fetch(in_project, pid)}
    assert again == before
    total = await pool.fetchval(
        "SELECT count(*) FROM submissions s JOIN forms f ON f.id = s.form_id "
        "WHERE f.xml_form_id = 'risk_screening' AND f.project_id = $1", pid)
    assert len(again) == total
