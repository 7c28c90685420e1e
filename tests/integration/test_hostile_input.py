"""Hostile and broken input, one class per section: every bad input gets a clear 4xx
(problem+json on REST, OpenRosaResponse on OpenRosa) and never a 500 or a cut-off 200;
nothing is left half-written; spreadsheets people open hold no formula."""

from __future__ import annotations

import csv
import io
import uuid
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest

from tests.unit.test_hostile_spreadsheets import local_headers
from tests.xlsforms import XLSX, xlsx_bytes

FORM_ID = "hostile"
EVIL = '=HYPERLINK("http://evil.example/x","click")'
NS_RESPONSE = "{http://openrosa.org/http/response}"
OPENROSA = {"X-OpenRosa-Version": "1.0"}


def hostile_form() -> bytes:
    return xlsx_bytes(
        {
            "survey": [
                ["type", "name", "label"],
                ["text", "note_text", "Note"],
                ["select_one c", "choice", "Choice"],
                ["integer", "n", "Number"],
                ["image", "photo", "Photo"],
            ],
            "choices": [["list_name", "name", "label"], ["c", "a", "@SUM(1+1)"], ["c", "b", "B"]],
            "settings": [["form_id", "version", "form_title"], [FORM_ID, "1", "Hostile"]],
        }
    )


def submission(instance_id: str, *, text: str = "hello", photo: str = "", n: str = "1") -> bytes:
    return (
        f'<?xml version="1.0"?><data xmlns:orx="http://openrosa.org/xforms" id="{FORM_ID}" '
        f'version="1"><note_text>{text}</note_text><choice>a</choice><n>{n}</n>'
        f"<photo>{photo}</photo><meta><instanceID>{instance_id}</instanceID></meta></data>"
    ).encode()


@pytest.fixture(scope="module")
async def hostile(client, admin_headers):
    project = await client.post(
        "/v1/projects", json={"name": f"hostile-{uuid.uuid4().hex[:6]}"}, headers=admin_headers
    )
    pid = project.json()["id"]
    uploaded = await client.post(
        f"/v1/projects/{pid}/forms?publish=true&ignoreWarnings=true",
        content=hostile_form(),
        headers={**admin_headers, "Content-Type": XLSX},
    )
    assert uploaded.status_code == 200, uploaded.text
    app_user = (
        await client.post(
            f"/v1/projects/{pid}/app-users", json={"displayName": "phone"}, headers=admin_headers
        )
    ).json()
    assigned = await client.post(
        f"/v1/projects/{pid}/forms/{FORM_ID}/assignments/app-user/{app_user['id']}",
        headers=admin_headers,
    )
    assert assigned.status_code == 200, assigned.text
    return {"pid": pid, "key": f"/v1/key/{app_user['token']}/projects/{pid}"}


async def post_openrosa(client, hostile, xml: bytes, files: dict[str, bytes] | None = None):
    parts = {"xml_submission_file": ("submission.xml", xml, "text/xml")}
    for name, content in (files or {}).items():
        parts[name] = (name, content, "image/jpeg")
    return await client.post(f"{hostile['key']}/submission", files=parts, headers=OPENROSA)


def openrosa_error(response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/xml"), response.text
    message = ET.fromstring(response.content).find(f"{NS_RESPONSE}message")
    assert message.get("nature") == "error"
    return message.text


def stored_files(data_dir: Path) -> int:
    root = data_dir / "attachments"
    return sum(1 for p in root.rglob("*") if p.is_file()) if root.exists() else 0


# --- Spreadsheets people open -------------------------------------------------------------


@pytest.fixture(scope="module")
async def hostile_rows(client, hostile):
    for text in (EVIL, "-5", "+992900000000", "@cmd", "plain"):
        response = await post_openrosa(client, hostile, submission(f"uuid:{uuid.uuid4()}", text=text))
        assert response.status_code == 201, response.text
    return hostile


async def test_csv_export_neutralises_formulas_by_default(client, admin_headers, hostile_rows):
    base = f"/v1/projects/{hostile_rows['pid']}/forms/{FORM_ID}/submissions.csv.zip"

    async def texts(query: str) -> set[str]:
        response = await client.get(base + query, headers=admin_headers)
        assert response.status_code == 200, response.text
        with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
            for header in local_headers(response.content):
                assert header["version"] == 20 and 0x0001 not in header["extra_ids"]
            rows = list(csv.DictReader(io.StringIO(archive.read(f"{FORM_ID}.csv").decode())))
        return {r["note_text"] for r in rows}

    assert texts_ok(await texts(""), {"'" + EVIL, "-5", "+992900000000", "'@cmd", "plain"})
    assert texts_ok(await texts("?escapeFormulas=false"), {EVIL, "-5", "+992900000000", "@cmd"})


def texts_ok(found: set[str], wanted: set[str]) -> bool:
    assert wanted <= found, found
    return True


async def test_xlsx_export_and_report_hold_no_formula(client, admin_headers, hostile_rows):
    base = f"/v1/projects/{hostile_rows['pid']}/forms/{FORM_ID}"
    for path in ("/submissions.xlsx", "/report.xlsx"):
        response = await client.get(base + path, headers=admin_headers)
        assert response.status_code == 200, response.text
        with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
            xml = "".join(archive.read(n).decode() for n in archive.namelist())
        assert "<f>" not in xml and "<f " not in xml, path
        assert "HYPERLINK" in xml or "@SUM" in xml, path


# --- Files and names ------------------------------------------------------------------------


async def test_refused_resends_leave_no_file(client, hostile, data_dir):
    instance = f"uuid:{uuid.uuid4()}"
    xml = submission(instance, photo="p.jpg")
    first = await post_openrosa(client, hostile, xml, {"p.jpg": b"first photo"})
    assert first.status_code == 201, first.text
    before = stored_files(data_dir)
    for attempt in range(5):
        other = submission(instance, photo="p.jpg", text=f"changed {attempt}")
        refused = await post_openrosa(client, hostile, other, {"p.jpg": f"junk {attempt}".encode()})
        openrosa_error(refused, 409)
        # the same XML again with other bytes for a file it already has: kept, not stored
        again = await post_openrosa(client, hostile, xml, {"p.jpg": f"other {attempt}".encode()})
        assert again.status_code == 201, again.text
    assert stored_files(data_dir) == before


@pytest.mark.parametrize(
    "name", ["../escape.jpg", "dir/p.jpg", "back\\slash.jpg", "line&#13;&#10;break.jpg", "t&#9;ab.jpg", ".."]
)
async def test_attachment_names_with_paths_or_control_characters_are_refused(
    client, hostile, data_dir, pool, name
):
    instance = f"uuid:{uuid.uuid4()}"
    before = stored_files(data_dir)
    response = await post_openrosa(client, hostile, submission(instance, photo=name), {"x": b"x"})
    assert "cannot be stored" in openrosa_error(response, 400)
    assert await pool.fetchval("SELECT count(*) FROM submissions WHERE instance_id = $1", instance) == 0
    assert stored_files(data_dir) == before
