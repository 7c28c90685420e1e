"""A bundled form filled by ODK's own XForms engine (as Collect would), downloaded from and
submitted to the live server over OpenRosa, and found stored and classified."""

from __future__ import annotations

import csv
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import httpx

from forms.rubric import classify

HEADERS = {"X-OpenRosa-Version": "1.0", "User-Agent": "org.odk.collect.android/engine-test"}
NS = "{http://openrosa.org/xforms/xformsList}"
ADMIN_CSV = Path(__file__).resolve().parents[2] / "forms" / "data" / "tajikistan-admin.csv"


async def test_engine_filled_submission_round_trip(xforms_engine, live_server, client, admin_headers,
                                                   default_project_id, pool) -> None:
    pid = default_project_id
    app_user = (await client.post(f"/v1/projects/{pid}/app-users", json={"displayName": "engine phone"},
                                  headers=admin_headers)).json()
    await client.post(f"/v1/projects/{pid}/forms/risk_screening/assignments/app-user/{app_user['id']}",
                      headers=admin_headers)
    base = f"{live_server.base_url}/v1/key/{app_user['token']}/projects/{pid}"
    with httpx.Client(headers=HEADERS, timeout=30) as http:
        listing = ET.fromstring(http.get(f"{base}/formList").content)
        entry = next(x for x in listing.findall(f"{NS}xform") if x.findtext(f"{NS}formID") == "risk_screening")
        xform = http.get(entry.findtext(f"{NS}downloadUrl")).text

    answers = {
        "consent": "yes", "interview_date": "2026-03-15", "region": "TJ-KT", "site_type": "community",
        "sex": "male", "age": "19", "education": "lower_secondary", "no_income_3m": "yes",
        "voc_grad_no_work": "no", "plans_work_abroad": "yes", "returned_deported": "no",
        "prior_forced": "no", "disability": "no", "household_debt": "yes", "no_parental_care": "no",
        "unsafe_home": "no", "informal_job_offer": "yes", "travel_debt_offer": "refused",
        "holds_passport": "yes", "has_contract": "no", "knows_hotline": "no",
        "trusted_contact_abroad": "no", "worked_away": "no",
    }
    with ADMIN_CSV.open(encoding="utf-8") as fh:
        answers["district"] = next(
            r["district_code"] for r in csv.DictReader(fh) if r["region_code"] == "TJ-KT"
        )
    filled = xforms_engine.fill(
        xform, answers, read=["preview_risk_level", "preview_vulnerability_score"]
    )
    assert filled["errors"] == [], filled["errors"]
    assert filled["violations"] == [], filled["violations"]
    instance_xml = filled["instanceXML"].encode("utf-8")
    root = ET.fromstring(instance_xml)
    instance_id = root.find(".//{*}instanceID").text
    assert instance_id and instance_id.startswith("uuid:")

    with httpx.Client(headers=HEADERS, timeout=30) as http:
        device = f"engine:{uuid.uuid4().hex[:8]}"
        assert http.head(f"{base}/submission", params={"deviceID": device}).status_code == 204
        response = http.post(f"{base}/submission", params={"deviceID": device},
                             files=[("xml_submission_file", ("submission.xml", instance_xml, "text/xml"))])
        assert response.status_code == 201, response.text

    row = await pool.fetchrow(
        "SELECT v.xml, v.answers, s.device_id, sc.risk_level, sc.vulnerability_score, sc.region "
        "FROM submissions s JOIN submission_versions v ON v.id = s.current_version_id "
        "JOIN screenings sc ON sc.submission_id = s.id WHERE s.instance_id = $1", instance_id)
    assert row is not None
    assert bytes(row["xml"]) == instance_xml and row["device_id"] == device
    assert row["region"] == "TJ-KT" and row["answers"]["respondent"]["district"] == answers["district"]
    expected = classify(row["answers"])
    assert row["risk_level"] == expected.risk_level == filled["values"]["preview_risk_level"]
    assert str(row["vulnerability_score"]) == filled["values"]["preview_vulnerability_score"]
