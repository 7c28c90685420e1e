"""A support-centre case through ODK's XForms engine, as Collect would do it: phones download
the forms and the `cases.csv` the manifest lists, fill the intake and the follow-ups offline in
the engine, and send them over OpenRosa. The case entity's versions and its timeline follow;
a follow-up made from a stale copy of the list is recorded as a conflict, not lost."""

from __future__ import annotations

import csv
import io
import re
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.xlsforms import XLSX

from .xforms_engine import XFormsEngine

LIBRARY = Path(__file__).resolve().parents[2] / "forms" / "library"
OR = {"X-OpenRosa-Version": "1.0"}
NS = {"l": "http://openrosa.org/xforms/xformsList",
      "m": "http://openrosa.org/xforms/xformsManifest"}


class Phone:
    """An app user's Collect: form list, form and media download, submission."""

    def __init__(self, client, token: str, pid: int):
        self.client = client
        self.base = f"/v1/key/{token}/projects/{pid}"

    async def get(self, url: str):
        response = await self.client.get(urlsplit(url).path or url, headers=OR)
        assert response.status_code == 200, (url, response.text)
        return response

    async def form(self, form_id: str) -> tuple[str, dict[str, str], dict[str, str]]:
        """(XForm, media file name -> text, media file name -> manifest hash)."""
        listing = ET.fromstring((await self.get(f"{self.base}/formList")).content)
        entry = next(x for x in listing.findall("l:xform", NS)
                     if x.findtext("l:formID", namespaces=NS) == form_id)
        xform = (await self.get(entry.findtext("l:downloadUrl", namespaces=NS))).text
        media: dict[str, str] = {}
        hashes: dict[str, str] = {}
        manifest_url = entry.findtext("l:manifestUrl", namespaces=NS)
        if manifest_url:
            manifest = ET.fromstring((await self.get(manifest_url)).content)
            for item in manifest.findall("m:mediaFile", NS):
                name = item.findtext("m:filename", namespaces=NS)
                hashes[name] = item.findtext("m:hash", namespaces=NS)
                media[name] = (await self.get(item.findtext("m:downloadUrl", namespaces=NS))).text
        return xform, media, hashes

    async def send(self, instance_xml: str) -> None:
        response = await self.client.post(
            f"{self.base}/submission", headers=OR,
            files={"xml_submission_file": ("submission.xml", instance_xml.encode(), "text/xml")},
        )
        assert response.status_code == 201, response.text


@pytest.fixture
async def centre(client, admin_headers):
    made = await client.post("/v1/projects", json={"name": f"centre-{uuid.uuid4().hex[:6]}"},
                             headers=admin_headers)
    pid = made.json()["id"]
    for stem in ("support_center_intake", "support_center_followup"):
        up = await client.post(f"/v1/projects/{pid}/forms?publish=true",
                               content=(LIBRARY / f"{stem}.xlsx").read_bytes(),
                               headers={**admin_headers, "Content-Type": XLSX})
        assert up.status_code == 200, up.text
    phones = []
    for n in range(3):
        user = (await client.post(f"/v1/projects/{pid}/app-users",
                                  json={"displayName": f"Centre phone {n}"},
                                  headers=admin_headers)).json()
        for stem in ("support_center_intake", "support_center_followup"):
            assigned = await client.post(
                f"/v1/projects/{pid}/forms/{stem}/assignments/app-user/{user['id']}",
                headers=admin_headers)
            assert assigned.status_code == 200
        phones.append(Phone(client, user["token"], pid))
    return pid, phones


def follow_up(engine: XFormsEngine, xform: str, media: dict[str, str], case: str, **answers):
    result = engine.fill(xform, {"case": case, "contact_type": "in_person", **answers},
                         read=["case_code", "visits", "status"], attachments=media)
    assert result["errors"] == [] and result["violations"] == [], result
    return result


async def test_intake_and_follow_ups_through_the_engine(
    client, admin_headers, centre, xforms_engine: XFormsEngine
) -> None:
    pid, (phone_a, phone_b, phone_c) = centre
    intake_xform, _, _ = await phone_a.form("support_center_intake")
    filled = xforms_engine.fill(intake_xform, {
        "center": "khujand", "referral_source": "hotline", "client_sex": "female",
        "client_age": "17", "region": "TJ-SU", "case_type": "presumed_victim",
        "exploitation_forms": ["forced_labour"], "exploitation_country": "russia",
        "consent_services": "yes", "consent_share": "yes", "services": ["legal", "shelter"],
        "shelter_days": "3",
    }, read=["case_code", "age_band"])
    assert filled["errors"] == [] and filled["violations"] == []
    code = filled["values"]["case_code"]
    assert re.fullmatch(r"KH-\d{4}-[0-9A-F]{6}", code), code
    case_id = re.search(r'<entity [^>]*id="([^"]+)"', filled["instanceXML"]).group(1)

    # phone C downloads the follow-up before anyone else visits: its copy stays at version 1
    followup_xform, stale_media, first_hashes = await phone_c.form("support_center_followup")
    await phone_a.send(filled["instanceXML"])
    followup_xform, media, hashes = await phone_c.form("support_center_followup")
    assert hashes["cases.csv"] != first_hashes["cases.csv"]  # the list changed
    stale_media = media
    rows = list(csv.DictReader(io.StringIO(media["cases.csv"])))
    assert [(r["name"], r["label"], r["__version"]) for r in rows] == [(case_id, code, "1")]
    assert list(rows[0])[:3] == ["name", "label", "__version"]
    assert rows[0]["age_band"] == "under_18" and rows[0]["centre"] == "khujand"
    assert rows[0]["stage"] == "in_shelter"

    # the integrity check Collect makes for its offline copy of the list
    state = ET.fromstring((await phone_c.get(
        f"{phone_c.base}/datasets/cases/integrity?id={case_id}")).content)
    assert [(e.get("id"), e.findtext("deleted")) for e in state.iter("entity")] == [
        (case_id, "false")]

    # phone B: two visits, each from the list as the manifest serves it then
    _, media_b, _ = await phone_b.form("support_center_followup")
    first = follow_up(xforms_engine, followup_xform, media_b, case_id,
                      services_given=["psychological", "legal"], stage="receiving_services",
                      next_contact="2099-01-10")
    assert first["values"] == {"case_code": code, "visits": "1", "status": "open"}
    await phone_b.send(first["instanceXML"])
    _, media_b, _ = await phone_b.form("support_center_followup")
    assert list(csv.DictReader(io.StringIO(media_b["cases.csv"])))[0]["__version"] == "2"
    second = follow_up(xforms_engine, followup_xform, media_b, case_id,
                       services_given=["reintegration"], stage="vocational_training",
                       next_contact="2099-02-10")
    assert second["values"]["visits"] == "2"
    await phone_b.send(second["instanceXML"])

    # phone C, offline since version 1, records a visit: kept, and marked as a conflict
    stale = follow_up(xforms_engine, followup_xform, stale_media, case_id,
                      services_given=["medical"], stage="returned_to_family",
                      next_contact="2099-03-10")
    assert 'baseVersion="1"' in stale["instanceXML"]
    await phone_c.send(stale["instanceXML"])

    base = f"/v1/projects/{pid}/datasets/cases/entities/{case_id}"
    versions = (await client.get(f"{base}/versions", headers=admin_headers)).json()
    assert [(v["version"], v["baseVersion"], v["conflict"]) for v in versions] == [
        (1, None, None), (2, 1, None), (3, 2, None), (4, 1, "hard")]
    assert [v["data"]["stage"] for v in versions] == [
        "in_shelter", "receiving_services", "vocational_training", "returned_to_family"]
    assert "stage" in versions[3]["conflictingProperties"]
    assert versions[3]["data"]["last_services"] == "medical"
    assert versions[0]["data"]["case_code"] == code and versions[0]["label"] == code

    timeline = (await client.get(f"{base}/timeline", headers=admin_headers)).json()
    assert timeline["label"] == code and timeline["conflict"] == "hard"
    assert [(e["version"], e["xmlFormId"]) for e in timeline["entries"]] == [
        (1, "support_center_intake"), (2, "support_center_followup"),
        (3, "support_center_followup"), (4, "support_center_followup")]
    assert [e["received"].get("stage") for e in timeline["entries"]] == [
        "in_shelter", "receiving_services", "vocational_training", "returned_to_family"]
    instance_ids = {ET.fromstring(x["instanceXML"]).findtext("meta/instanceID")
                    for x in (filled, first, second, stale)}
    assert {e["instanceId"] for e in timeline["entries"]} == instance_ids
