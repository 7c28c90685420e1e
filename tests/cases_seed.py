"""A support-centre case for page tests: the bundled intake and follow-up forms published in a
project (compiled without ODK Validate, which the forms' own tests run: it is most of the
time), an intake and two follow-up visits sent over OpenRosa as Collect sends them."""

from __future__ import annotations

import uuid
from pathlib import Path

from api.services import forms as form_service
from forms.compile import compile_xlsform

LIBRARY = Path(__file__).resolve().parents[1] / "forms" / "library"
INTAKE_VERSION = "2026120801"
FOLLOWUP_VERSION = "2026120801"


def intake_xml(case_id: str, code: str, instance_id: str, *, centre: str = "dushanbe",
               consent: str | None = None, region: str = "TJ-SU") -> bytes:
    """An intake (a client from `region`); `consent`: the answer to consent_share (yes/no),
    None: not asked."""
    shared = f"<consent_share>{consent}</consent_share>" if consent else ""
    return (
        f'<data id="support_center_intake" version="{INTAKE_VERSION}"><intake>'
        f"<center>{centre}</center>"
        f"<case_code>{code}</case_code><intake_date>2026-03-02</intake_date>"
        "<referral_source>hotline</referral_source></intake><client><client_sex>female"
        "</client_sex><client_age>17</client_age><age_band>under_18</age_band>"
        f"<region>{region}</region>{shared}</client><services_group><services>legal shelter</services>"
        "</services_group><stage>in_shelter</stage><status>open</status>"
        f'<meta><entity dataset="cases" create="1" id="{case_id}"><label>{code}</label></entity>'
        f"<instanceID>{instance_id}</instanceID></meta></data>").encode()


def followup_xml(case_id: str, base: int, instance_id: str, *, day: str, stage: str) -> bytes:
    status = "closed" if stage == "case_closed" else "open"
    return (
        f'<data id="support_center_followup" version="{FOLLOWUP_VERSION}"><case>{case_id}</case>'
        f"<visits>{base}</visits><visit_date>{day}</visit_date>"
        "<contact_type>in_person</contact_type><services_given>legal</services_given>"
        f"<stage>{stage}</stage><status>{status}</status><next_contact>2026-06-01"
        f'</next_contact><meta><entity dataset="cases" update="1" baseVersion="{base}" '
        f'trunkVersion="" branchId="" id="{case_id}"/><instanceID>{instance_id}</instanceID>'
        "</meta></data>").encode()


async def publish_case_forms(pool, pid: int) -> None:
    """Publish the bundled intake and follow-up forms in project `pid`."""
    async with pool.acquire() as conn:
        for stem in ("support_center_intake", "support_center_followup"):
            body = (LIBRARY / f"{stem}.xlsx").read_bytes()
            await form_service.create_form(conn, None, pid, compile_xlsform(body, validate=False),
                                           body, publish=True, xlsform_name=f"{stem}.xlsx")


async def send_submission(client, headers, pid: int, body: bytes) -> None:
    sent = await client.post(f"/v1/projects/{pid}/submission",
                             headers={**headers, "X-OpenRosa-Version": "1.0"},
                             files={"xml_submission_file": ("s.xml", body, "text/xml")})
    assert sent.status_code == 201, sent.text


async def send_intake(client, headers, pid: int, *, centre: str = "dushanbe",
                      consent: str | None = None) -> dict:
    """One case's intake over OpenRosa, as `headers`' user; its uuid and code."""
    letters = {"dushanbe": "DU", "khujand": "KH"}.get(centre, "OT")
    case_id, code = str(uuid.uuid4()), f"{letters}-2026-{uuid.uuid4().hex[:6].upper()}"
    await send_submission(client, headers, pid, intake_xml(
        case_id, code, f"uuid:{uuid.uuid4()}", centre=centre, consent=consent))
    return {"case": case_id, "code": code}


async def seed_case(client, pool, admin_headers, pid: int, *, centre: str = "dushanbe",
                    region: str = "TJ-SU", publish: bool = True) -> dict:
    """Publish the two forms in project `pid` (unless they are) and send one case's intake (at
    `centre`, a client from `region`) and two visits."""
    if publish:
        await publish_case_forms(pool, pid)
    case_id = str(uuid.uuid4())
    code = f"{centre[:2].upper()}-2026-{uuid.uuid4().hex[:6].upper()}"
    ids = [f"uuid:{uuid.uuid4()}" for _ in range(3)]
    bodies = [intake_xml(case_id, code, ids[0], centre=centre, region=region),
              followup_xml(case_id, 1, ids[1], day="2026-04-01", stage="receiving_services"),
              followup_xml(case_id, 2, ids[2], day="2026-05-04", stage="vocational_training")]
    for body in bodies:
        await send_submission(client, admin_headers, pid, body)
    return {"case": case_id, "code": code, "ids": ids}
