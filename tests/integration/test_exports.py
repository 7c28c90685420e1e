"""Exports and reports over REST, against golden files.

The form has groups, nested repeats, a select_multiple, a geopoint, three languages and two
published versions (v2 drops a field, adds one and adds a choice). Submissions go in through
the OpenRosa endpoint, as from Collect. Golden files live in tests/golden/exports/; set
UPDATE_GOLDEN=1 to rewrite them after a deliberate change (and review the diff).
"""

from __future__ import annotations

import csv
import io
import json
import os
import uuid
import zipfile
from datetime import date, datetime, time
from pathlib import Path

import openpyxl
import pytest

from tests.xlsforms import XLSX, xlsx_bytes

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "exports"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
FORM_ID = "golden_survey"
LANGS = ("English (en)", "Russian (ru)", "Tajik (tg)")


def golden_form(version: str) -> bytes:
    v2 = version == "2"
    header = ["type", "name", *[f"label::{lang}" for lang in LANGS], "relevant", "constraint"]
    survey = [
        header,
        ["start", "start", None, None, None, None, None],
        ["text", "name", "Name", "Имя", "Ном", None, None],
        ["integer", "age", "Age", "Возраст", "Синну сол", None, ". >= 0"],
        *([["integer", "children", "Children", "Дети", "Кӯдакон", None, None]] if v2 else []),
        ["select_multiple risks", "risks", "Risks", "Риски", "Хатарҳо", None, None],
        ["geopoint", "loc", "Location", "Место", "Ҷой", None, None],
        ["begin group", "household", "Household", "Хозяйство", "Хонавода", None, None],
        ["select_one yn", "has_members", "Members?", "Члены?", "Аъзоён?", None, None],
        ["begin repeat", "member", "Member", "Член", "Аъзо", "${has_members} = 'yes'", None],
        ["text", "m_name", "Member name", "Имя члена", "Номи аъзо", None, None],
        ["decimal", "m_income", "Income", "Доход", "Даромад", None, None],
        ["begin repeat", "trip", "Trip", "Поездка", "Сафар", None, None],
        ["date", "trip_date", "Trip date", "Дата поездки", "Санаи сафар", None, None],
        ["select_one country", "trip_country", "Country", "Страна", "Кишвар", None, None],
        ["end repeat", None, None, None, None, None, None],
        ["end repeat", None, None, None, None, None, None],
        ["end group", None, None, None, None, None, None],
        *([] if v2 else [["text", "old_note", "Old note", "Старое", "Кӯҳна", None, None]]),
        ["note", "thanks", "Thank you", "Спасибо", "Ташаккур", None, None],
    ]
    choices = [
        ["list_name", "name", *[f"label::{lang}" for lang in LANGS]],
        ["risks", "debt", "Debt", "Долг", "Қарз"],
        ["risks", "passport", "Passport taken", "Паспорт отобран", "Шиноснома гирифта шуд"],
        *([["risks", "offer", "Job offer", "Предложение работы", "Пешниҳоди кор"]] if v2 else []),
        ["yn", "yes", "Yes", "Да", "Ҳа"],
        ["yn", "no", "No", "Нет", "Не"],
        ["country", "ru", "Russia", "Россия", "Русия"],
        ["country", "kz", "Kazakhstan", "Казахстан", "Қазоқистон"],
    ]
    settings = [
        ["form_id", "version", "form_title", "default_language"],
        [FORM_ID, version, "Golden survey", "English (en)"],
    ]
    return xlsx_bytes({"survey": survey, "choices": choices, "settings": settings})


SUBMISSIONS = [
    # (version, instance id, created_at, answers as Collect would send them)
    (
        "1",
        "uuid:00000000-0000-4000-8000-000000000001",
        "2026-01-10T08:00:00+00:00",
        {
            "start": "2026-01-10T12:30:00.000+05:00",
            "name": "Dilnoza",
            "age": "34",
            "risks": "debt passport",
            "loc": "38.5598 68.7870 800 4.5",
            "household": {
                "has_members": "yes",
                "member": [
                    {
                        "m_name": "Rustam",
                        "m_income": "1500.50",
                        "trip": [
                            {"trip_date": "2025-03-01", "trip_country": "ru"},
                            {"trip_date": "2025-09-15", "trip_country": "kz"},
                        ],
                    },
                    {"m_name": "Zarina", "m_income": "0"},
                ],
            },
            "old_note": "first version only",
        },
    ),
    (
        "1",
        "uuid:00000000-0000-4000-8000-000000000002",
        "2026-02-03T09:15:00+00:00",
        {
            "start": "2026-02-03T14:00:00.000+05:00",
            "name": "Farrukh & <Sons>",
            "age": "19",
            "household": {"has_members": "no"},
            "old_note": "x",
        },
    ),
    (
        "2",
        "uuid:00000000-0000-4000-8000-000000000003",
        "2026-03-20T10:00:00+00:00",
        {
            "start": "2026-03-20T15:00:00.000+05:00",
            "name": "Мадина",
            "age": "41",
            "children": "3",
            "risks": "offer",
            "loc": "40.2833 69.6333 350 3",
            "household": {
                "has_members": "yes",
                "member": [
                    {
                        "m_name": "Алишер",
                        "trip": [{"trip_date": "2026-01-05", "trip_country": "ru"}],
                    }
                ],
            },
        },
    ),
    (
        "2",
        "uuid:00000000-0000-4000-8000-000000000004",
        "2026-04-01T11:00:00+00:00",
        {
            "start": "2026-04-01T16:00:00.000+05:00",
            "name": "Parviz",
            "age": "not-a-number",
            "risks": "",
            "household": {"has_members": "no"},
        },
    ),
]


def _xml(version: str, instance_id: str, answers: dict) -> bytes:
    def render(value) -> str:
        if isinstance(value, dict):
            return "".join(
                f"<{k}>{render(v)}</{k}>"
                if not isinstance(v, list)
                else "".join(f"<{k}>{render(i)}</{k}>" for i in v)
                for k, v in value.items()
            )
        return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    return (
        f'<?xml version="1.0"?><data xmlns:jr="http://openrosa.org/javarosa" id="{FORM_ID}" '
        f'version="{version}">{render(answers)}<meta><instanceID>{instance_id}</instanceID>'
        f"</meta></data>"
    ).encode()


async def _publish(client, headers, pid: int, version: str, *, first: bool) -> None:
    url = (
        f"/v1/projects/{pid}/forms?publish=true&ignoreWarnings=true"
        if first
        else f"/v1/projects/{pid}/forms/{FORM_ID}/draft?ignoreWarnings=true"
    )
    response = await client.post(
        url, content=golden_form(version), headers={**headers, "Content-Type": XLSX}
    )
    assert response.status_code == 200, response.text
    if not first:
        published = await client.post(
            f"/v1/projects/{pid}/forms/{FORM_ID}/draft/publish", headers=headers
        )
        assert published.status_code == 200, published.text


async def _submit(client, headers, pid: int, version: str, instance_id: str, answers) -> None:
    response = await client.post(
        f"/v1/projects/{pid}/submission",
        files={
            "xml_submission_file": (
                "submission.xml",
                _xml(version, instance_id, answers),
                "text/xml",
            )
        },
        params={"deviceID": "collect:golden"},
        headers={**headers, "X-OpenRosa-Version": "1.0"},
    )
    assert response.status_code == 201, response.text


@pytest.fixture(scope="module")
async def golden(client, admin_headers, pool) -> dict:
    project = await client.post(
        "/v1/projects", json={"name": f"exports-{uuid.uuid4().hex[:8]}"}, headers=admin_headers
    )
    pid = project.json()["id"]
    published = set()
    for version, instance_id, created_at, answers in SUBMISSIONS:
        if version not in published:
            await _publish(client, admin_headers, pid, version, first=not published)
            published.add(version)
        await _submit(client, admin_headers, pid, version, instance_id, answers)
        await pool.execute(
            "UPDATE submissions SET created_at = $1 WHERE instance_id = $2",
            datetime.fromisoformat(created_at),
            instance_id,
        )
    await pool.execute(
        "UPDATE submissions SET review_state = 'approved' WHERE instance_id = $1",
        SUBMISSIONS[2][1],
    )
    await pool.execute(
        "UPDATE submissions SET review_state = 'rejected' WHERE instance_id = $1",
        SUBMISSIONS[3][1],
    )
    admin_id = await pool.fetchval(
        "SELECT actor_id FROM users WHERE email = $1", "admin@test.example"
    )
    return {"pid": pid, "base": f"/v1/projects/{pid}/forms/{FORM_ID}", "admin_id": admin_id}


def _normalize(value, admin_id):
    if isinstance(value, datetime | date | time):
        return {"type": type(value).__name__, "value": value.isoformat()}
    return value


def _csv_files(content: bytes) -> dict[str, str]:
    archive = zipfile.ZipFile(io.BytesIO(content))
    return {name: archive.read(name).decode("utf-8") for name in archive.namelist()}


def _sheets(content: bytes, admin_id) -> dict[str, list[list]]:
    book = openpyxl.load_workbook(io.BytesIO(content))
    out = {}
    for sheet in book.worksheets:
        rows = [list(r) for r in sheet.iter_rows(values_only=True)]
        named = [h for h in ("SubmitterID", "Идентификатор отправителя") if rows and h in rows[0]]
        if named:  # the header, or its Russian label
            at = rows[0].index(named[0])
            for row in rows[1:]:
                assert row[at] == admin_id
                row[at] = "<admin id>"
        out[sheet.title] = [[_normalize(v, admin_id) for v in row] for row in rows]
    return out


def _mask_submitter(body: str, admin_id: int) -> str:
    """The SubmitterID column of a root CSV holds the admin's actor id, which varies."""
    rows = list(csv.reader(io.StringIO(body)))
    if rows and "SubmitterID" in rows[0]:
        at = rows[0].index("SubmitterID")
        for row in rows[1:]:
            assert row[at] == str(admin_id)
            row[at] = "<admin id>"
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


def _sheets_text(sheets: dict[str, list[list]]) -> str:
    """One JSON array per row, a line per row: diffs show the rows that changed."""
    return "".join(
        f"== {name}\n" + "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
        for name, rows in sheets.items()
    )


def _check_golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if UPDATE or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
    assert actual == path.read_text(encoding="utf-8"), f"{name} differs from its golden file"


async def test_csv_zip_matches_golden(client, admin_headers, golden) -> None:
    response = await client.get(
        f"{golden['base']}/submissions.csv.zip?splitSelectMultiples=true", headers=admin_headers
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/zip")
    # Central names the zip {xmlFormId}.zip when it carries media/ (attachments=true, default)
    assert 'filename="golden_survey.zip"' in response.headers["content-disposition"]
    files = _csv_files(response.content)
    assert list(files) == [f"{FORM_ID}.csv", f"{FORM_ID}-member.csv", f"{FORM_ID}-trip.csv"]
    root = files[f"{FORM_ID}.csv"].splitlines()
    header = root[0].split(",")
    assert header[0] == "SubmissionDate"
    assert header[-10:] == [
        "KEY",
        "SubmitterID",
        "SubmitterName",
        "AttachmentsPresent",
        "AttachmentsExpected",
        "Status",
        "ReviewState",
        "DeviceID",
        "Edits",
        "FormVersion",
    ]
    text = "".join(
        f"== {name}\n{_mask_submitter(body, golden['admin_id'])}" for name, body in files.items()
    )
    _check_golden("golden_survey.csv.txt", text)


async def test_csv_zip_group_paths_off_and_unsplit(client, admin_headers, golden) -> None:
    response = await client.get(
        f"{golden['base']}/submissions.csv.zip?groupPaths=false", headers=admin_headers
    )
    files = _csv_files(response.content)
    header = files[f"{FORM_ID}.csv"].splitlines()[0].split(",")
    assert "has_members" in header and "household-has_members" not in header
    assert "instanceID" in header
    assert not any("/" in h for h in header)  # no split select_multiple columns
    assert {"loc-Latitude", "loc-Longitude", "loc-Altitude", "loc-Accuracy"} <= set(header)


async def test_xlsx_matches_golden(client, admin_headers, golden) -> None:
    response = await client.get(f"{golden['base']}/submissions.xlsx", headers=admin_headers)
    assert response.status_code == 200, response.text
    sheets = _sheets(response.content, golden["admin_id"])
    assert list(sheets) == [FORM_ID, "member", "trip", "codebook"]
    root = sheets[FORM_ID]
    header = root[0]
    # newest version's order; v1's old_note kept after the field it followed
    assert header.index("age") < header.index("children") < header.index("risks")
    assert header.index("household-has_members") < header.index("old_note")
    # select_multiple: value + one 0/1 column per choice of every version; empty if unanswered
    risks = [header.index(c) for c in ("risks", "risks/debt", "risks/passport", "risks/offer")]
    by_key = {row[header.index("KEY")]: row for row in root[1:]}
    assert [by_key[SUBMISSIONS[0][1]][i] for i in risks] == ["debt passport", 1, 1, 0]
    assert [by_key[SUBMISSIONS[1][1]][i] for i in risks] == [None, None, None, None]
    # typed cells
    first = by_key[SUBMISSIONS[0][1]]
    assert first[header.index("age")] == 34
    assert first[header.index("loc-Latitude")] == 38.5598
    assert first[header.index("start")] == {"type": "datetime", "value": "2026-01-10T12:30:00"}
    assert first[header.index("SubmissionDate")] == {
        "type": "datetime",
        "value": "2026-01-10T08:00:00",
    }
    assert by_key[SUBMISSIONS[3][1]][header.index("age")] == "not-a-number"
    # sheets are linked
    member, trip = sheets["member"], sheets["trip"]
    m_index = {row[member[0].index("_index")]: row for row in member[1:]}
    for row in trip[1:]:
        parent = m_index[row[trip[0].index("_parent_index")]]
        assert row[trip[0].index("PARENT_KEY")] == parent[member[0].index("KEY")]
        assert row[trip[0].index("_parent_table_name")] == "member"
    assert "thanks" not in header  # notes hold no data
    _check_golden("golden_survey.xlsx.txt", _sheets_text(sheets))


async def test_xlsx_labels_in_russian_matches_golden(client, admin_headers, golden) -> None:
    response = await client.get(
        f"{golden['base']}/submissions.xlsx?lang=ru&choices=label", headers=admin_headers
    )
    assert response.status_code == 200, response.text
    sheets = _sheets(response.content, golden["admin_id"])
    header = sheets[FORM_ID][0]
    assert "Возраст" in header and "Риски/Долг" in header and "Место (широта)" in header
    _check_golden(
        "golden_survey.ru-labels.xlsx.txt",
        _sheets_text({k: v for k, v in sheets.items() if k != "codebook"}),
    )


async def test_csv_for_excel_has_a_bom_and_russian_labels(client, admin_headers, golden) -> None:
    response = await client.get(
        f"{golden['base']}/submissions.excel.csv.zip?lang=ru&splitSelectMultiples=true",
        headers=admin_headers,
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/zip")
    assert 'filename="golden_survey-excel.csv.zip"' in response.headers["content-disposition"]
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    # the files of Central's layout, no media
    assert archive.namelist() == [f"{FORM_ID}.csv", f"{FORM_ID}-member.csv", f"{FORM_ID}-trip.csv"]
    tables = {}
    for name in archive.namelist():
        raw = archive.read(name)
        assert raw.startswith(b"\xef\xbb\xbf") and not raw[3:].startswith(b"\xef\xbb\xbf")
        tables[name] = list(csv.reader(io.StringIO(raw[3:].decode("utf-8"), newline="")))
    root = tables[f"{FORM_ID}.csv"]
    header = root[0]
    # the workbook's labelled headers (exports/xlsx.py), in Russian
    assert {"Имя", "Возраст", "Риски", "Риски/Долг", "Место (широта)", "Дата отправки",
            "Ключ", "Статус проверки"} <= set(header), header
    assert not {"age", "SubmissionDate", "KEY"} & set(header)
    assert len(root) == 1 + len(SUBMISSIONS)
    names = [row[header.index("Имя")] for row in root[1:]]
    assert names == ["Parviz", "Мадина", "Farrukh & <Sons>", "Dilnoza"]
    dilnoza = root[-1]
    assert dilnoza[header.index("Риски")] == "Долг; Паспорт отобран"  # choices as labels
    assert dilnoza[header.index("Члены?")] == "Да"
    assert dilnoza[header.index("Дата отправки")] == "2026-01-10T08:00:00.000Z"
    trips = tables[f"{FORM_ID}-trip.csv"]
    assert "Страна" in trips[0] and "Ключ родительской строки" in trips[0]
    assert sorted(r[trips[0].index("Страна")] for r in trips[1:]) == [
        "Казахстан", "Россия", "Россия"]
    codes = await client.get(f"{golden['base']}/submissions.excel.csv.zip?lang=ru&choices=value",
                             headers=admin_headers)
    coded = zipfile.ZipFile(io.BytesIO(codes.content)).read(f"{FORM_ID}.csv").decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(coded, newline="")))
    assert rows[-1][rows[0].index("Риски")] == "debt passport"
    bad = await client.get(f"{golden['base']}/submissions.excel.csv.zip?lang=fr",
                           headers=admin_headers)
    assert bad.status_code == 400 and bad.json()["slug"] == "export-option-invalid"


async def test_csv_for_excel_neutralises_formulas_and_leaves_centrals_csv_alone(
    client, admin_headers, pool
) -> None:
    project = await client.post(
        "/v1/projects", json={"name": f"excel-csv-{uuid.uuid4().hex[:8]}"}, headers=admin_headers
    )
    pid = project.json()["id"]
    await _publish(client, admin_headers, pid, "2", first=True)
    await _submit(client, admin_headers, pid, "2", "uuid:00000000-0000-4000-8000-0000000000e1", {
        "name": "=HYPERLINK(\"http://evil.example\",\"Открыть\")",
        "age": "-5",
        "household": {"has_members": "yes", "member": [{"m_name": "@SUM(1+1)"}]},
    })
    base = f"/v1/projects/{pid}/forms/{FORM_ID}"
    excel = zipfile.ZipFile(io.BytesIO((await client.get(
        f"{base}/submissions.excel.csv.zip?lang=ru", headers=admin_headers)).content))
    root = list(csv.reader(io.StringIO(excel.read(f"{FORM_ID}.csv").decode("utf-8-sig"))))
    assert root[1][root[0].index("Имя")] == "'=HYPERLINK(\"http://evil.example\",\"Открыть\")"
    assert root[1][root[0].index("Возраст")] == "-5"  # numbers stay numbers
    member = list(csv.reader(io.StringIO(excel.read(f"{FORM_ID}-member.csv").decode("utf-8-sig"))))
    assert member[1][member[0].index("Имя члена")] == "'@SUM(1+1)"
    raw = zipfile.ZipFile(io.BytesIO((await client.get(
        f"{base}/submissions.excel.csv.zip?escapeFormulas=false", headers=admin_headers)).content))
    unescaped = list(csv.reader(io.StringIO(raw.read(f"{FORM_ID}.csv").decode("utf-8-sig"))))
    assert unescaped[1][unescaped[0].index("Name")] == '=HYPERLINK("http://evil.example","Открыть")'

    # Central's layout: no BOM, names as headers, codes as values (its golden file: above)
    central = zipfile.ZipFile(io.BytesIO((await client.get(
        f"{base}/submissions.csv.zip?attachments=false", headers=admin_headers)).content))
    body = central.read(f"{FORM_ID}.csv")
    assert body.startswith(b"SubmissionDate,")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8"))))
    assert "age" in rows[0] and rows[1][rows[0].index("household-has_members")] == "yes"
    assert rows[1][rows[0].index("name")].startswith("'=HYPERLINK(")


async def test_codebook_lists_every_question_in_every_language(
    client, admin_headers, golden
) -> None:
    response = await client.get(f"{golden['base']}/submissions.xlsx", headers=admin_headers)
    codebook = _sheets(response.content, golden["admin_id"])["codebook"]
    header = codebook[0]
    assert header[:5] == ["path", "column", "kind", "type", "value"]
    assert [f"label::{lang}" for lang in LANGS] == header[5:8]
    rows = {(r[0], r[4]): r for r in codebook[1:]}
    age = rows[("age", None)]
    assert age[5:8] == ["Age", "Возраст", "Синну сол"]
    assert age[header.index("constraint")] == ". >= 0"
    member = rows[("household/member", None)]
    assert "has_members" in member[header.index("relevant")]
    assert rows[("risks", "offer")][5:8] == ["Job offer", "Предложение работы", "Пешниҳоди кор"]
    assert rows[("old_note", None)][header.index("versions")] == "1"
    assert rows[("children", None)][header.index("versions")] == "2"
    assert ("thanks", None) in rows


async def test_filters(client, admin_headers, golden) -> None:
    base = f"{golden['base']}/submissions.csv.zip"

    async def keys(query: str) -> list[str]:
        response = await client.get(f"{base}?{query}", headers=admin_headers)
        assert response.status_code == 200, response.text
        lines = _csv_files(response.content)[f"{FORM_ID}.csv"].splitlines()
        at = lines[0].split(",").index("KEY")
        return [line.split(",")[at] for line in lines[1:]]

    ids = [s[1] for s in SUBMISSIONS][::-1]  # newest first, as Central writes the CSV
    assert await keys("") == ids
    assert await keys("since=2026-02-01&until=2026-03-31") == ids[1:3]
    assert await keys("until=2026-02-03") == ids[2:]  # a date alone includes that whole day
    assert await keys("reviewState=approved,rejected") == ids[:2]
    assert await keys("reviewState=received") == ids[2:]
    assert await keys("version=1") == ids[2:]
    response = await client.get(f"{base}?fields=age,household/member/m_name", headers=admin_headers)
    files = _csv_files(response.content)
    assert list(files) == [f"{FORM_ID}.csv", f"{FORM_ID}-member.csv"]
    assert files[f"{FORM_ID}.csv"].splitlines()[0].split(",")[:2] == ["SubmissionDate", "age"]
    assert files[f"{FORM_ID}-member.csv"].splitlines()[0] == "m_name,PARENT_KEY,KEY"
    for query, code in (
        ("fields=nope", "export-option-invalid"),
        ("reviewState=bogus", "export-option-invalid"),
        ("since=yesterday", "export-option-invalid"),
        ("version=9", "form-version-not-found"),
    ):
        response = await client.get(f"{base}?{query}", headers=admin_headers)
        assert response.status_code in (400, 404), (query, response.text)
        assert response.json()["slug"] == code
    response = await client.get(f"{golden['base']}/submissions.xlsx?lang=fr", headers=admin_headers)
    assert response.json()["slug"] == "export-option-invalid"


async def test_exports_are_audited_and_guarded(
    client, admin_headers, golden, make_user, pool
) -> None:
    before = await pool.fetchval("SELECT count(*) FROM audits WHERE action = 'submission.export'")
    await client.get(f"{golden['base']}/submissions.xlsx", headers=admin_headers)
    row = await pool.fetchrow(
        "SELECT actor_id, acted_on, details FROM audits WHERE action = 'submission.export' "
        "ORDER BY id DESC LIMIT 1"
    )
    assert (
        await pool.fetchval("SELECT count(*) FROM audits WHERE action = 'submission.export'")
        == before + 1
    )
    assert row["actor_id"] == golden["admin_id"]
    assert row["acted_on"] == f"form/{golden['pid']}/{FORM_ID}"
    ministry = await make_user("ministry", golden["pid"])
    researcher = await make_user("researcher", golden["pid"])
    for suffix in ("submissions.csv.zip", "submissions.xlsx"):
        denied = await client.get(f"{golden['base']}/{suffix}", headers=ministry["headers"])
        assert denied.status_code == 403
        allowed = await client.get(f"{golden['base']}/{suffix}", headers=researcher["headers"])
        assert allowed.status_code == 200
    missing = await client.get(
        f"/v1/projects/{golden['pid']}/forms/nope/submissions.xlsx", headers=admin_headers
    )
    assert missing.status_code == 404 and missing.json()["slug"] == "form-not-found"


async def test_report_json(client, admin_headers, golden) -> None:
    response = await client.get(
        f"{golden['base']}/report?by=household/has_members", headers=admin_headers
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["disclosure"]["applied"] is False
    columns = [c["key"] for c in report["breakdown"]["columns"]]
    assert columns == ["yes", "no", "", "total"]
    # rejected submissions are left out by default: 3 submissions
    assert report["population"][0]["table"]["counts"] == [[2, 1, 0, 3]]
    questions = {q["path"]: q for q in report["questions"]}
    risks = questions["risks"]["table"]
    counts = {r["value"]: c for r, c in zip(risks["rows"], risks["counts"], strict=True)}
    assert counts["debt"] == [1, 0, 0, 1] and counts["offer"] == [1, 0, 0, 1]
    age = questions["age"]
    assert age["stats"]["n"][-1] == 3 and age["stats"]["median"][-1] == 34
    assert age["stats"]["min"][-1] == 19 and age["stats"]["max"][-1] == 41
    name = questions["name"]
    assert name["kind"] == "text"
    assert name["table"]["counts"][0][-1] == 3  # answered
    assert "Dilnoza" not in response.text and "Мадина" not in response.text  # never free text
    income = questions["household/member/m_income"]
    assert income["scope"] == "household/member"
    assert report["population"][1]["table"]["counts"][0][-1] == 3  # member occurrences
    by_period = await client.get(
        f"{golden['base']}/report?period=quarter&reviewState=rejected", headers=admin_headers
    )
    assert [c["period"] for c in by_period.json()["breakdown"]["columns"]] == ["2026-Q2", None]


async def test_report_for_ministry_covers_the_screening_only(client, golden, make_user) -> None:
    """Roles without microdata count one population, the risk screening's publication
    (tests/integration/test_disclosure_attacks.py checks those reports): not this form."""
    ministry = await make_user("ministry", golden["pid"])
    for suffix in ("report", "report.xlsx"):
        response = await client.get(f"{golden['base']}/{suffix}", headers=ministry["headers"])
        assert response.status_code == 403, response.text
        assert response.json()["slug"] == "forbidden"


async def test_ministry_reports_cover_whole_periods_only(client, golden, make_user) -> None:
    """Two reports must not differ by one person: no fine time ranges, versions or review
    states under disclosure control."""
    ministry = await make_user("ministry", golden["pid"])
    url = f"{golden['base']}/report"
    for params in ({"until": "2026-03-04T10:15:00.123456Z"}, {"since": "2026-03-04"},
                   {"version": "1"}, {"reviewState": "approved"}, {"until": "2026-13"},
                   {"since": "2020-01", "until": "2030-12"}, {"since": "2026-01", "until": "2026-02"}):
        response = await client.get(url, params=params, headers=ministry["headers"])
        assert response.status_code == 400, (params, response.text)
        assert response.json()["slug"] == "export-option-invalid"


async def test_cli_export_writes_the_same_workbook(client, admin_headers, golden, database_url,
                                                   data_dir, tmp_path) -> None:
    from tests.integration.test_cli import run_cli

    out = tmp_path / "golden.xlsx"
    result = run_cli(["export", "--project", str(golden["pid"]), "--form", FORM_ID,
                      "--format", "xlsx", "-o", str(out)], database_url, data_dir)
    assert result.returncode == 0, result.stderr
    assert "4/4" in result.stderr  # the progress bar reached the total
    http = await client.get(f"{golden['base']}/submissions.xlsx", headers=admin_headers)
    assert _sheets(out.read_bytes(), golden["admin_id"]) == _sheets(http.content, golden["admin_id"])
    out = tmp_path / "golden.csv.zip"
    result = run_cli(["export", "--project", str(golden["pid"]), "--form", FORM_ID,
                      "--format", "csv.zip", "--review-state", "approved", "-o", str(out)],
                     database_url, data_dir)
    assert result.returncode == 0, result.stderr
    lines = _csv_files(out.read_bytes())[f"{FORM_ID}.csv"].splitlines()
    assert len(lines) == 2 and SUBMISSIONS[2][1] in lines[1]
    result = run_cli(["export", "--project", str(golden["pid"]), "--form", FORM_ID,
                      "--format", "xlsx", "--fields", "nope", "-o", str(out)],
                     database_url, data_dir)
    assert result.returncode == 1 and "export-option-invalid" in result.stderr


async def test_streams_beyond_the_limit_wait_their_turn(settings, golden, admin_headers) -> None:
    """With one stream slot, two exports at once both finish (one after the other)."""
    import asyncio
    import dataclasses

    from litestar.testing import AsyncTestClient

    from api.app import create_app

    async with AsyncTestClient(app=create_app(dataclasses.replace(settings, max_streams=1))) as one:
        responses = await asyncio.gather(
            one.get(f"{golden['base']}/submissions.csv.zip", headers=admin_headers),
            one.get(f"{golden['base']}/submissions.xlsx", headers=admin_headers),
        )
        assert [r.status_code for r in responses] == [200, 200]
        assert all(len(r.content) > 100 for r in responses)
