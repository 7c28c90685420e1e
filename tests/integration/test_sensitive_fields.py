"""Questions that identify a person (issue 24): a researcher reads `[masked]` in every sensitive
field of the bundled forms, in the XLSX (its codebook says which), the CSV zip, OData, the
per-question report, the submission page (in its language) and the submission XML; the files of
such questions answer 403 whether or not they were received; a filter or a breakdown on one is
refused. A manager reads them all."""

from __future__ import annotations

import csv
import io
import uuid
import zipfile
from pathlib import Path

import pytest
from openpyxl import load_workbook

from api.services import forms as form_service
from forms.compile import compile_xlsform
from forms.schema import parse_xform
from tests.instances import instance_xml
from tests.pages_client import signed_in
from tests.xlsforms import XLSX, xlsx_bytes

LIBRARY = Path(__file__).resolve().parents[2] / "forms" / "library"
BUNDLED = ("community_awareness", "departure_point_consultation", "hotline_call",
           "support_center_intake", "support_center_followup")
PHOTO_FORM = "marked_photo"
MASKED = "[masked]"


def photo_form() -> bytes:
    """A form with a sensitive photo, name and birth date, and a sensitive select."""
    return xlsx_bytes({
        "survey": [
            ["type", "name", "label", "sensitive"],
            ["text", "full_name", "Name", "yes"],
            ["date", "birth_date", "Born", "yes"],
            ["image", "photo", "Photo", "yes"],
            ["select_one yn", "shelter", "In shelter?", "yes"],
            ["image", "site_photo", "Site", ""],
            ["integer", "age", "Age", ""],
            ["audit", "audit", "", ""],
        ],
        "choices": [["list_name", "name", "label"], ["yn", "yes", "Yes"], ["yn", "no", "No"]],
        "settings": [["form_id", "version"], [PHOTO_FORM, "1"]],
    })


def secret_of(path: str, field_type: str, n: int) -> str:
    """A distinctive answer for a sensitive field, of its type."""
    if field_type == "geopoint":
        return f"38.{n:06d}1 68.{n:06d}7 812 4"
    if field_type == "date":
        return f"19{n % 90 + 10:02d}-0{n % 9 + 1}-1{n % 9}"
    if field_type == "select_one":
        return "yes"
    if field_type == "binary":
        return f"secret-{n}.jpg"
    return f"SECRET {path} {n} Rustamova +992 90 123 45 67"


def tokens(value: str, field_type: str) -> list[str]:
    """What must not reach a reader who has it masked."""
    if field_type == "geopoint":
        return value.split()[:2]
    if field_type == "select_one":
        return []  # "yes" is everywhere; the select is checked by its column
    return [value]


AUDIT_PLACE = "38.7771"


def audit_log(root: str, name: str) -> bytes:
    """A Collect audit log with track changes: where each question was answered, and the old
    and new values."""
    return (f"event,node,start,end,latitude,longitude,accuracy,old-value,new-value\n"
            f"question,/{root}/full_name,1,2,{AUDIT_PLACE},68.8881,5,,{name}\n"
            f"question,/{root}/age,3,4,{AUDIT_PLACE},68.8881,5,32,33\n").encode()


@pytest.fixture(scope="module")
async def world(client, pool, admin_headers, make_user):
    project = await client.post("/v1/projects", json={"name": f"mask-{uuid.uuid4().hex[:6]}"},
                                headers=admin_headers)
    pid = project.json()["id"]
    uploaded = await client.post(f"/v1/projects/{pid}/forms?publish=true&ignoreWarnings=true",
                                 content=photo_form(),
                                 headers={**admin_headers, "Content-Type": XLSX})
    assert uploaded.status_code == 200, uploaded.text
    schemas = {}
    async with pool.acquire() as conn:
        for stem in BUNDLED:
            body = (LIBRARY / f"{stem}.xlsx").read_bytes()
            compiled = compile_xlsform(body, validate=False)
            await form_service.create_form(conn, None, pid, compiled, body, publish=True,
                                           xlsform_name=f"{stem}.xlsx")
            schemas[stem] = parse_xform(compiled.xform)
        xform = await conn.fetchval(
            "SELECT d.xform FROM forms f JOIN form_defs d ON d.id = f.current_def_id "
            "WHERE f.project_id = $1 AND f.xml_form_id = $2", pid, PHOTO_FORM)
        schemas[PHOTO_FORM] = parse_xform(xform)
    secrets: dict[str, dict[str, tuple[str, str]]] = {}
    instances = {}
    n = 0
    for form_id, schema in schemas.items():
        answers, marked = {}, {}
        for f in schema.walk():
            if f.sensitive and f.type != "structure":
                n += 1
                value = secret_of(f.path, f.type, n)
                marked[f.path] = (value, f.type)
                answers[f.name] = value
        answers.setdefault("age", "33")
        answers["site_photo"] = "site.jpg"
        iid = f"uuid:{uuid.uuid4()}"
        body = instance_xml(schema, answers, instance_id=iid)
        files = {"xml_submission_file": ("s.xml", body, "text/xml")}
        if form_id == PHOTO_FORM:
            files["xml_submission_file"] = ("s.xml", body.replace(
                b"<meta><instanceID>", b"<meta><audit>audit.csv</audit><instanceID>"), "text/xml")
            files["secret"] = (marked["photo"][0], b"\xff\xd8PHOTO-OF-A-VICTIM", "image/jpeg")
            files["site"] = ("site.jpg", b"\xff\xd8SITE", "image/jpeg")
            files["audit"] = ("audit.csv", audit_log(schema.root_name, marked["full_name"][0]),
                              "text/csv")
        sent = await client.post(f"/v1/projects/{pid}/submission", files=files,
                                 headers={**admin_headers, "X-OpenRosa-Version": "1.0"})
        assert sent.status_code == 201, sent.text
        secrets[form_id] = marked
        instances[form_id] = iid
    assert all(secrets[f] for f in schemas if f != "support_center_intake")
    researcher = await make_user("researcher", pid)
    manager = await make_user("manager", pid)
    return {"pid": pid, "secrets": secrets, "instances": instances,
            "researcher": researcher, "manager": manager}


def assert_masked(text: str, world: dict, form_id: str) -> None:
    for path, (value, field_type) in world["secrets"][form_id].items():
        for token in tokens(value, field_type):
            assert token not in text, f"{form_id}: {path} leaked"
    if world["secrets"][form_id]:
        assert MASKED in text


def assert_shown(text: str, world: dict, form_id: str) -> None:
    for path, (value, field_type) in world["secrets"][form_id].items():
        for token in tokens(value, field_type):
            assert token in text, f"{form_id}: {path} missing for a manager"


def forms_with_secrets(world) -> list[str]:
    return [f for f, marked in world["secrets"].items() if marked]


def workbook_text(content: bytes) -> tuple[str, dict[str, list[tuple]]]:
    book = load_workbook(io.BytesIO(content), read_only=True)
    sheets = {ws.title: [tuple(r) for r in ws.iter_rows(values_only=True)] for ws in book}
    text = "\n".join(" ".join("" if v is None else str(v) for v in row)
                     for name, rows in sheets.items() if name != "codebook" for row in rows)
    return text, sheets


def codebook_marks(sheets, mark: str) -> set[str]:
    """The paths the codebook's `sensitive` column gives `mark` (its rows may end early)."""
    header = sheets["codebook"][0]
    at = header.index("sensitive")
    return {row[0] for row in sheets["codebook"][1:]
            if len(row) > at and row[at] == mark and row[2] != "choice"}


async def test_xlsx_masks_every_sensitive_field_and_its_codebook_says_so(client, world):
    pid = world["pid"]
    for form_id in forms_with_secrets(world):
        url = f"/v1/projects/{pid}/forms/{form_id}/submissions.xlsx"
        mine = await client.get(url, headers=world["researcher"]["headers"])
        assert mine.status_code == 200, mine.text
        text, sheets = workbook_text(mine.content)
        assert_masked(text, world, form_id)
        assert codebook_marks(sheets, "masked") == set(world["secrets"][form_id])
        theirs = await client.get(url, headers=world["manager"]["headers"])
        text, sheets = workbook_text(theirs.content)
        assert_shown(text, world, form_id)
        assert MASKED not in text
        assert codebook_marks(sheets, "yes") == set(world["secrets"][form_id])
        assert codebook_marks(sheets, "masked") == set()


async def test_csv_zip_masks_fields_and_leaves_out_their_files(client, world):
    pid = world["pid"]
    for form_id in forms_with_secrets(world):
        url = f"/v1/projects/{pid}/forms/{form_id}/submissions.csv.zip"
        for who, check in (("researcher", assert_masked), ("manager", assert_shown)):
            got = await client.get(url, headers=world[who]["headers"])
            assert got.status_code == 200, got.text
            archive = zipfile.ZipFile(io.BytesIO(got.content))
            text = "\n".join(archive.read(n).decode("utf-8") for n in archive.namelist()
                             if n.endswith(".csv"))
            check(text, world, form_id)
            if form_id == PHOTO_FORM:
                audit = archive.read(f"{PHOTO_FORM} - audit.csv").decode("utf-8")
                name = world["secrets"][PHOTO_FORM]["full_name"][0]
                assert (name in audit) is (AUDIT_PLACE in audit) is (who == "manager")
                assert ",33," in audit  # an ordinary question's values stay
                media = {n for n in archive.namelist() if n.startswith("media/")}
                photo = world["secrets"][PHOTO_FORM]["photo"][0]
                assert "media/site.jpg" in media
                assert (f"media/{photo}" in media) is (who == "manager")
                rows = list(csv.DictReader(io.StringIO(archive.read(f"{PHOTO_FORM}.csv")
                                                       .decode("utf-8"))))
                assert (rows[0]["shelter"] == MASKED) is (who == "researcher")


async def test_odata_masks_rows_types_them_as_text_and_refuses_filters(client, world):
    pid = world["pid"]
    for form_id in forms_with_secrets(world):
        svc = f"/v1/projects/{pid}/forms/{form_id}.svc"
        mine = await client.get(f"{svc}/Submissions", headers=world["researcher"]["headers"])
        assert mine.status_code == 200, mine.text
        assert_masked(mine.text, world, form_id)
        theirs = await client.get(f"{svc}/Submissions", headers=world["manager"]["headers"])
        assert_shown(theirs.text, world, form_id)
    svc = f"/v1/projects/{pid}/forms/community_awareness.svc"
    metadata = await client.get(f"{svc}/$metadata", headers=world["researcher"]["headers"])
    assert 'Name="location_gps" Type="Edm.String"' in metadata.text
    metadata = await client.get(f"{svc}/$metadata", headers=world["manager"]["headers"])
    assert 'Name="location_gps" Type="Edm.GeographyPoint"' in metadata.text
    for option in ("$filter=interviewer_notes eq 'x'", "$orderby=location/location_gps"):
        refused = await client.get(f"{svc}/Submissions?{option}",
                                   headers=world["researcher"]["headers"])
        assert refused.status_code == 403, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")


async def test_reports_count_masked_questions_without_their_values(client, world):
    pid = world["pid"]
    for form_id in forms_with_secrets(world):
        url = f"/v1/projects/{pid}/forms/{form_id}/report"
        mine = await client.get(url, headers=world["researcher"]["headers"])
        assert mine.status_code == 200, mine.text
        masked = {q["path"] for q in mine.json()["questions"] if q.get("masked")}
        reported = {q["path"] for q in mine.json()["questions"]}
        assert masked == set(world["secrets"][form_id]) & reported
        for value, field_type in world["secrets"][form_id].values():
            for token in tokens(value, field_type):
                assert token not in mine.text
        theirs = await client.get(url, headers=world["manager"]["headers"])
        assert not any(q.get("masked") for q in theirs.json()["questions"])
    refused = await client.get(f"/v1/projects/{pid}/forms/{PHOTO_FORM}/report?by=shelter",
                               headers=world["researcher"]["headers"])
    assert refused.status_code == 403, refused.text
    allowed = await client.get(f"/v1/projects/{pid}/forms/{PHOTO_FORM}/report?by=shelter",
                               headers=world["manager"]["headers"])
    assert allowed.status_code == 200, allowed.text


async def test_submission_xml_and_pages_mask_in_the_readers_language(client, world):
    pid = world["pid"]
    researcher, manager = world["researcher"], world["manager"]
    for form_id in forms_with_secrets(world):
        iid = world["instances"][form_id]
        one = f"/v1/projects/{pid}/forms/{form_id}/submissions/{iid}"
        mine = await client.get(f"{one}.xml", headers=researcher["headers"])
        assert mine.status_code == 200
        assert_masked(mine.text, world, form_id)
        version = await client.get(f"{one}/versions/{iid}.xml", headers=researcher["headers"])
        assert_masked(version.text, world, form_id)
        theirs = await client.get(f"{one}.xml", headers=manager["headers"])
        assert_shown(theirs.text, world, form_id)
    browser = await signed_in(client, researcher["email"], researcher["password"])
    boss = await signed_in(client, manager["email"], manager["password"])
    for lang, word in (("en", "[masked]"), ("ru", "[скрыто]"), ("tg", "[пинҳон]")):
        browser.lang = lang
        for form_id in forms_with_secrets(world):
            url = f"/projects/{pid}/forms/{form_id}/submissions/{world['instances'][form_id]}"
            page = await browser.get(client, url)
            assert page.status_code == 200, page.text
            for path, (value, field_type) in world["secrets"][form_id].items():
                for token in tokens(value, field_type):
                    assert token not in page.text, f"{form_id}: {path} on the page"
            assert word in page.text
    for form_id in forms_with_secrets(world):
        url = f"/projects/{pid}/forms/{form_id}/submissions/{world['instances'][form_id]}"
        page = await boss.get(client, url)
        assert_shown(page.text.replace("&#43;", "+"), world, form_id)
    # the export page says which questions the researcher's export masks
    exports = await browser.get(client, f"/projects/{pid}/data/{PHOTO_FORM}")
    assert 'id="masked-note"' in exports.text and "Photo" in exports.text.split(
        'id="masked-note"', 1)[1].split("</p>", 1)[0]
    assert 'id="masked-note"' not in (await boss.get(client, f"/projects/{pid}/data/{PHOTO_FORM}")).text


async def test_files_of_masked_questions_answer_403_whether_or_not_received(client, world):
    pid, iid = world["pid"], world["instances"][PHOTO_FORM]
    one = f"/v1/projects/{pid}/forms/{PHOTO_FORM}/submissions/{iid}"
    photo = world["secrets"][PHOTO_FORM]["photo"][0]
    researcher, manager = world["researcher"], world["manager"]
    got = await client.get(f"{one}/attachments/{photo}", headers=researcher["headers"])
    assert got.status_code == 403
    assert got.headers["content-type"].startswith("application/problem+json")
    assert b"PHOTO-OF-A-VICTIM" not in got.content
    listed = await client.get(f"{one}/attachments", headers=researcher["headers"])
    assert [a["name"] for a in listed.json()] == ["site.jpg"]
    # Collect's audit log can hold the masked values and the place: withheld too
    audit = await client.get(f"{one}/attachments/audit.csv", headers=researcher["headers"])
    assert audit.status_code == 403
    assert (await client.get(f"{one}/attachments/audit.csv",
                             headers=manager["headers"])).status_code == 200
    # a guess at a masked text answer as a file name tells nothing: 404 as any unknown name
    name = world["secrets"][PHOTO_FORM]["full_name"][0]
    guess = await client.get(f"{one}/attachments/{name}", headers=researcher["headers"])
    assert guess.status_code == 404
    assert (await client.get(f"{one}/attachments/site.jpg",
                             headers=researcher["headers"])).status_code == 200
    shown = await client.get(f"{one}/attachments/{photo}", headers=manager["headers"])
    assert shown.status_code == 200 and b"PHOTO-OF-A-VICTIM" in shown.content
    # a masked question whose file never arrived answers the same 403
    other = f"uuid:{uuid.uuid4()}"
    schema_xml = instance_xml(
        parse_xform(await _current_xform(client, world)), {"photo": "never-sent.jpg"},
        instance_id=other)
    sent = await client.post(f"/v1/projects/{pid}/forms/{PHOTO_FORM}/submissions",
                             content=schema_xml,
                             headers={**manager["headers"], "Content-Type": "application/xml"})
    assert sent.status_code == 200, sent.text
    missing = await client.get(
        f"/v1/projects/{pid}/forms/{PHOTO_FORM}/submissions/{other}/attachments/never-sent.jpg",
        headers=researcher["headers"])
    assert missing.status_code == 403 and missing.json()["detail"] == got.json()["detail"]
    # the page's file link: the 403 page, in the reader's language
    browser = await signed_in(client, researcher["email"], researcher["password"])
    browser.lang = "ru"
    page = await browser.get(client, f"/projects/{pid}/forms/{PHOTO_FORM}/submissions/{iid}"
                                     f"/files/{photo}")
    assert page.status_code == 403 and "text/html" in page.headers["content-type"]
    assert b"PHOTO-OF-A-VICTIM" not in page.content
    assert "указывающему на личность" in page.text


async def _current_xform(client, world) -> str:
    got = await client.get(f"/v1/projects/{world['pid']}/forms/{PHOTO_FORM}.xml",
                           headers=world["manager"]["headers"])
    assert got.status_code == 200, got.text
    return got.text


async def test_a_form_that_copies_a_sensitive_answer_into_its_instance_name_is_refused(
        client, admin_headers, world):
    leaky = xlsx_bytes({
        "survey": [["type", "name", "label", "sensitive"], ["text", "full_name", "Name", "yes"]],
        "settings": [["form_id", "version", "instance_name"],
                     ["leaky_name", "1", "concat('P-', ${full_name})"]],
    })
    refused = await client.post(
        f"/v1/projects/{world['pid']}/forms?publish=true&ignoreWarnings=true", content=leaky,
        headers={**admin_headers, "Content-Type": XLSX, "Accept-Language": "ru"})
    assert refused.status_code == 400, refused.text
    assert "instance_name: full_name" in refused.json()["detail"]
    assert "помеченный" in refused.json()["detail"]
    missing = await client.get(f"/v1/projects/{world['pid']}/forms/leaky_name",
                               headers=admin_headers)
    assert missing.status_code == 404


async def test_a_researcher_given_sensitive_reader_reads_them(client, admin_headers, world,
                                                             make_user):
    pid = world["pid"]
    given = await make_user("researcher", pid)
    assigned = await client.post(
        f"/v1/projects/{pid}/assignments/sensitive_reader/{given['id']}", headers=admin_headers)
    assert assigned.status_code == 200, assigned.text
    for form_id in forms_with_secrets(world):
        one = f"/v1/projects/{pid}/forms/{form_id}/submissions/{world['instances'][form_id]}"
        got = await client.get(f"{one}.xml", headers=given["headers"])
        assert got.status_code == 200
        assert_shown(got.text, world, form_id)
    # the role alone opens nothing else
    alone = await make_user("sensitive_reader", pid)
    one = f"/v1/projects/{pid}/forms/{PHOTO_FORM}/submissions/{world['instances'][PHOTO_FORM]}"
    assert (await client.get(f"{one}.xml", headers=alone["headers"])).status_code == 403
