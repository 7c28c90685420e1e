"""Row scopes (issue 24): a manager and a researcher scoped to the Khujand centre and the Sughd
region, in a project with a case at each centre (Dushanbe, Khujand) and screenings in two
regions (Dushanbe city, Sughd). Every read route of tests/integration/test_routes_roles.py and
every page they may open: no Dushanbe record, count, case code, entity, comment or audit row
reaches them in any format, and what they see counts exactly the in-scope rows. An app user
tied to Khujand gets only Khujand's open cases and cannot update a Dushanbe case."""

from __future__ import annotations

import io
import random
import re
import uuid
import zipfile
from urllib.parse import quote, unquote

import pytest

from db import scopes as scopes_db
from tests.cases_seed import followup_xml, seed_case, send_submission
from tests.integration.test_routes_roles import ROUTE_RULES
from tests.pages_client import signed_in
from tests.summaries_seed import random_answers, screening_schema, submission_xml, submit

OPENROSA = {"X-OpenRosa-Version": "1.0"}
FORMS = ("support_center_intake", "support_center_followup", "risk_screening")


@pytest.fixture(scope="module")
async def world(client, pool, admin_headers, make_user):
    made = await client.post("/v1/projects", json={"name": f"scopes-{uuid.uuid4().hex[:6]}"},
                             headers=admin_headers)
    pid = made.json()["id"]
    du = await seed_case(client, pool, admin_headers, pid, centre="dushanbe", region="TJ-DU")
    kh = await seed_case(client, pool, admin_headers, pid, centre="khujand", region="TJ-SU",
                         publish=False)
    xform, _ = screening_schema()
    created = await client.post(f"/v1/projects/{pid}/forms?publish=true", content=xform.encode(),
                                headers={**admin_headers, "Content-Type": "application/xml"})
    assert created.status_code == 200, created.text
    rng = random.Random(24)
    screenings: dict[str, list[str]] = {"TJ-DU": [], "TJ-SU": []}
    for region, n in (("TJ-DU", 3), ("TJ-SU", 2)):
        for _ in range(n):
            instance = f"uuid:{uuid.uuid4()}"
            await submit(client, admin_headers, pid, submission_xml(
                random_answers(rng, region=region, consent="yes"), instance_id=instance))
            screenings[region].append(instance)
    secret = f"comment-{uuid.uuid4().hex}"
    commented = await client.post(
        f"/v1/projects/{pid}/forms/support_center_intake/submissions/{du['ids'][0]}/comments",
        json={"body": secret}, headers=admin_headers)
    assert commented.status_code == 200, commented.text
    users = {role: await make_user(role, pid) for role in ("manager", "researcher")}
    async with pool.acquire() as conn:
        for user in users.values():
            await scopes_db.replace_scopes(conn, user["id"], pid, scopes_db.RowScope(
                regions=("TJ-SU",), centres=("khujand",)))
    browsers = {role: await signed_in(client, u["email"], u["password"])
                for role, u in users.items()}
    hidden = [du["case"], du["code"], *du["ids"], *screenings["TJ-DU"], secret]
    shown = {
        "support_center_intake": [kh["ids"][0]],
        "support_center_followup": kh["ids"][1:],
        "risk_screening": screenings["TJ-SU"],
    }
    return {"pid": pid, "du": du, "kh": kh, "screenings": screenings, "users": users,
            "browsers": browsers, "hidden": hidden, "shown": shown}


def assert_hidden(world, text: str, where: str) -> None:
    for value in world["hidden"]:
        assert value not in text, f"{where} shows {value}"


def _zip_text(body: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(body)) as z:
        return "\n".join(z.read(n).decode("utf-8", "replace") for n in z.namelist())


async def test_triggers_keep_case_centres(pool, world) -> None:
    """The denormalised centre and region every scoped read uses: set at ingest and by the
    case's entity, and moving with the case's centre."""
    async with pool.acquire() as conn:
        rows = {r["instance_id"]: (r["centre"], r["region"]) for r in await conn.fetch(
            "SELECT s.instance_id, s.centre, s.region FROM submissions s JOIN forms f "
            "ON f.id = s.form_id WHERE f.project_id = $1", world["pid"])}
    assert rows[world["du"]["ids"][0]] == ("dushanbe", "TJ-DU")
    assert [rows[i][0] for i in world["du"]["ids"]] == ["dushanbe"] * 3
    assert [rows[i][0] for i in world["kh"]["ids"]] == ["khujand"] * 3
    assert {rows[i] for i in world["screenings"]["TJ-SU"]} == {(None, "TJ-SU")}


@pytest.mark.parametrize("role", ["manager", "researcher"])
async def test_rest_lists_hold_only_the_scope(client, world, role) -> None:
    pid, headers = world["pid"], world["users"][role]["headers"]
    for form in FORMS:
        base = f"/v1/projects/{pid}/forms/{form}"
        listed = await client.get(f"{base}/submissions", headers=headers)
        assert listed.status_code == 200, listed.text
        assert sorted(s["instanceId"] for s in listed.json()) == sorted(world["shown"][form])
        # OData: rows, $count and every page behind nextLink
        counted = await client.get(f"{base}.svc/Submissions?$count=true&$top=0", headers=headers)
        assert counted.json()["@odata.count"] == len(world["shown"][form])
        seen, url = [], f"{base}.svc/Submissions?$top=1&$count=true"
        while url:
            page = await client.get(url, headers=headers)
            assert page.status_code == 200, page.text
            assert_hidden(world, page.text, url)
            body = page.json()
            assert body["@odata.count"] == len(world["shown"][form])
            seen += [r["__id"] for r in body["value"]]
            url = body.get("@odata.nextLink", "").split("://", 1)[-1].partition("/")[2]
            url = "/" + url if url else ""
        assert sorted(seen) == sorted(world["shown"][form])
        # exports: the CSV zip (with media) and the workbook hold exactly the scope's rows
        csv_zip = await client.get(f"{base}/submissions.csv.zip?attachments=true",
                                   headers=headers)
        assert csv_zip.status_code == 200
        text = _zip_text(csv_zip.content)
        assert_hidden(world, text, f"{form} csv zip")
        for instance in world["shown"][form]:
            assert instance in text
        with zipfile.ZipFile(io.BytesIO(csv_zip.content)) as z:
            main = z.read(f"{form}.csv").decode("utf-8").strip().splitlines()
        assert len(main) - 1 == len(world["shown"][form])
        xlsx = await client.get(f"{base}/submissions.xlsx", headers=headers)
        assert xlsx.status_code == 200
        sheets = _zip_text(xlsx.content)
        assert_hidden(world, sheets, f"{form} xlsx")
        for instance in world["shown"][form]:
            assert instance in sheets
        report = await client.get(f"{base}/report", headers=headers)
        assert report.status_code == 200, report.text
        assert_hidden(world, report.text, f"{form} report")
        population = report.json()["population"][0]
        assert population["label"] == "submissions"
        assert population["table"]["counts"] == [[len(world["shown"][form])]]


@pytest.mark.parametrize("role", ["manager", "researcher"])
async def test_out_of_scope_records_are_not_found(client, world, role) -> None:
    """Every read route that names a record: a Dushanbe one answers as one that does not
    exist (the same 404 problem), a Khujand one is served."""
    pid, headers = world["pid"], world["users"][role]["headers"]
    du, kh = world["du"], world["kh"]
    missing_id = f"uuid:{uuid.uuid4()}"
    records = [("support_center_intake", du["ids"][0], kh["ids"][0]),
               ("support_center_followup", du["ids"][1], kh["ids"][1]),
               ("risk_screening", world["screenings"]["TJ-DU"][0],
                world["screenings"]["TJ-SU"][0])]
    for form, hidden_id, shown_id in records:
        base = f"/v1/projects/{pid}/forms/{form}/submissions"
        for suffix in ("", ".xml", "/attachments", "/attachments/photo.jpg", "/comments",
                       "/versions", "/versions/{id}", "/audits", "/classification"):
            if suffix == "/classification" and form != "risk_screening":
                continue
            unknown = await client.get(f"{base}/{missing_id}{suffix.format(id=missing_id)}",
                                       headers=headers)
            refused = await client.get(f"{base}/{hidden_id}{suffix.format(id=hidden_id)}",
                                       headers=headers)
            assert refused.status_code == unknown.status_code == 404, (suffix, refused.text)
            # word for word the answer about a record that does not exist (but its address)
            assert refused.text.replace(hidden_id, missing_id) == unknown.text
        served = await client.get(f"{base}/{shown_id}", headers=headers)
        assert served.status_code == 200
        odata = await client.get(
            f"/v1/projects/{pid}/forms/{form}.svc/Submissions('{hidden_id}')", headers=headers)
        assert odata.status_code == 404
    cases = f"/v1/projects/{pid}/datasets/cases/entities"
    missing_case = str(uuid.uuid4())
    for suffix in ("", "/versions", "/diffs", "/audits", "/timeline"):
        refused = await client.get(f"{cases}/{du['case']}{suffix}", headers=headers)
        unknown = await client.get(f"{cases}/{missing_case}{suffix}", headers=headers)
        assert refused.status_code == unknown.status_code == 404, (suffix, refused.text)
        assert refused.text.replace(du["case"], missing_case) == unknown.text
        served = await client.get(f"{cases}/{kh['case']}{suffix}", headers=headers)
        assert served.status_code == 200, (suffix, served.text)
    if role == "manager":
        patched = await client.patch(f"{cases}/{du['case']}?force=true",
                                     json={"data": {"stage": "case_closed"}}, headers=headers)
        assert patched.status_code == 404
        commented = await client.post(f"/v1/projects/{pid}/forms/support_center_intake/"
                                      f"submissions/{du['ids'][0]}/comments",
                                      json={"body": "x"}, headers=headers)
        assert commented.status_code == 404
        reviewed = await client.patch(f"/v1/projects/{pid}/forms/support_center_intake/"
                                      f"submissions/{du['ids'][0]}",
                                      json={"reviewState": "approved"}, headers=headers)
        assert reviewed.status_code == 404


@pytest.mark.parametrize("role", ["manager", "researcher"])
async def test_entities_hold_only_the_scope(client, world, role) -> None:
    pid, headers = world["pid"], world["users"][role]["headers"]
    datasets = await client.get(f"/v1/projects/{pid}/datasets",
                                headers={**headers, "X-Extended-Metadata": "true"})
    assert [d["entities"] for d in datasets.json() if d["name"] == "cases"] == [1]
    listed = await client.get(f"/v1/projects/{pid}/datasets/cases/entities", headers=headers)
    assert [e["uuid"] for e in listed.json()] == [world["kh"]["case"]]
    csv = await client.get(f"/v1/projects/{pid}/datasets/cases/entities.csv", headers=headers)
    assert world["kh"]["code"] in csv.text
    assert_hidden(world, csv.text, "entities.csv")
    odata = await client.get(f"/v1/projects/{pid}/datasets/cases.svc/Entities?$count=true",
                             headers=headers)
    assert odata.json()["@odata.count"] == 1
    assert [e["__id"] for e in odata.json()["value"]] == [world["kh"]["case"]]
    # live summaries of the whole project are not for a scoped reader
    live = await client.get(f"/v1/projects/{pid}/summaries/risk?disclosure=off", headers=headers)
    assert live.status_code == 403


@pytest.mark.parametrize("role", ["manager", "researcher"])
async def test_every_read_route_shows_no_dushanbe_record(client, world, role) -> None:
    """The routes of test_routes_roles.py that read a project, with the Dushanbe records'
    names filled in: none answers with a Dushanbe record, code, comment or count."""
    pid, headers = world["pid"], world["users"][role]["headers"]
    du = world["du"]
    values = {"project_id": str(pid), "xml_form_id": "support_center_intake",
              "instance_id": du["ids"][0], "name": "cases", "uuid": du["case"],
              "form_ref": "support_center_intake", "form_svc": "support_center_intake.svc",
              "table": "Submissions", "dataset_svc": "cases.svc", "version_id": du["ids"][0],
              "version_ref": "published", "role": "app-user", "actor_id": "0",
              "link_id": "0", "nav": "x", "token": "x", "webhook_id": "0"}
    walked = 0
    for (method, path), rule in ROUTE_RULES.items():
        if method != "GET" or rule in ("admin", "metrics token", "public"):
            continue
        # a parameter not named here (a newer route's) gets an id that names nothing
        url = re.sub(r"\{(\w+)(?::\w+)?\}",
                     lambda m: quote(values.get(m.group(1), "0"), safe=":"), path)
        answered = await client.get(url, headers={**headers, **OPENROSA})
        # 503: summaries wait for the project's first publication
        assert answered.status_code < 500 or answered.status_code == 503, (url, answered.text)
        text = (_zip_text(answered.content) if "zip" in answered.headers.get("content-type", "")
                else answered.text)
        # a problem may repeat what was asked for (its address, the uuid given): no disclosure
        for given in (url, unquote(url), *re.findall(r"\{(\w+)", path)):
            text = text.replace(values.get(given, given), "")
        assert_hidden(world, text, url)
        walked += 1
    assert walked > 40


@pytest.mark.parametrize("role", ["manager", "researcher"])
async def test_pages_show_only_the_scope(client, world, role) -> None:
    pid, browser = world["pid"], world["browsers"][role]
    du, kh = world["du"], world["kh"]
    for form in FORMS:
        table = await browser.get(client, f"/projects/{pid}/forms/{form}/submissions")
        assert table.status_code == 200
        assert_hidden(world, table.text, f"{form} table")
        for instance in world["shown"][form]:
            assert instance in table.text
        n = len(world["shown"][form])
        assert re.search(rf"\b{n}\b submission", table.text), table.text[:3000]
        asked = du["ids"][0] if "support" in form else world["screenings"]["TJ-DU"][0]
        refused = await browser.get(client, f"/projects/{pid}/forms/{form}/submissions/"
                                    + quote(asked))
        assert refused.status_code == 404
        assert_hidden(world, refused.text.replace(asked, ""), "submission page")
        export = await browser.get(client, f"/projects/{pid}/data/{form}/submissions.csv.zip")
        assert export.status_code == 200
        assert_hidden(world, _zip_text(export.content), f"{form} page export")
        report = await browser.get(client, f"/projects/{pid}/data/{form}/report")
        assert report.status_code == 200
        assert_hidden(world, report.text, f"{form} report page")
    for url in (f"/projects/{pid}/forms", f"/projects/{pid}/data", f"/projects/{pid}/cases",
                f"/projects/{pid}/cases?status=open", f"/dashboard/projects/{pid}/coordinator",
                f"/dashboard?project={pid}", f"/projects/{pid}/forms/support_center_intake",
                f"/projects/{pid}/cases/{kh['case']}"):
        page = await browser.get(client, url)
        assert page.status_code == 200, url
        assert_hidden(world, page.text, url)
    cases = await browser.get(client, f"/projects/{pid}/cases")
    assert kh["code"] in cases.text
    refused = await browser.get(client, f"/projects/{pid}/cases/{du['case']}")
    assert refused.status_code == 404
    assert_hidden(world, refused.text.replace(du["case"], ""), "case page")


async def test_a_scoped_submitter_cannot_touch_another_centres_case(client, pool, world,
                                                                      admin_headers) -> None:
    """A scoped web user sending a follow-up of a Dushanbe case over OpenRosa: refused with
    an OpenRosa message, nothing stored."""
    pid, du, manager = world["pid"], world["du"], world["users"]["manager"]
    instance = f"uuid:{uuid.uuid4()}"
    sent = await client.post(
        f"/v1/projects/{pid}/submission", headers={**manager["headers"], **OPENROSA},
        files={"xml_submission_file": ("s.xml", followup_xml(
            du["case"], 3, instance, day="2026-06-01", stage="case_closed"), "text/xml")})
    assert sent.status_code == 403, sent.text
    assert "OpenRosaResponse" in sent.text and "another support centre" in sent.text
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM submissions WHERE instance_id = $1",
                                   instance) == 0


async def _app_user(client, admin_headers, pid: int, centre: str | None) -> dict:
    made = await client.post(f"/v1/projects/{pid}/app-users", headers=admin_headers,
                             json={"displayName": f"phone-{uuid.uuid4().hex[:6]}",
                                   **({"centre": centre} if centre else {})})
    assert made.status_code == 200, made.text
    body = made.json()
    assert body["centre"] == centre
    assigned = await client.post(f"/v1/projects/{pid}/forms/support_center_followup/"
                                 f"assignments/app-user/{body['id']}", headers=admin_headers)
    assert assigned.status_code == 200, assigned.text
    return body


async def test_a_khujand_phone_gets_and_updates_only_khujand_cases(client, pool, world,
                                                                    admin_headers) -> None:
    pid, du, kh = world["pid"], world["du"], world["kh"]
    phone = await _app_user(client, admin_headers, pid, "khujand")
    everywhere = await _app_user(client, admin_headers, pid, None)
    key = f"/v1/key/{phone['token']}/projects/{pid}"
    manifest = await client.get(f"{key}/forms/support_center_followup/manifest",
                                headers=OPENROSA)
    assert manifest.status_code == 200 and "cases.csv" in manifest.text
    other = await client.get(f"/v1/key/{everywhere['token']}/projects/{pid}/forms/"
                             "support_center_followup/manifest", headers=OPENROSA)
    hash_of = re.compile(r"<filename>cases.csv</filename><hash>([^<]+)</hash>")
    assert hash_of.search(manifest.text).group(1) != hash_of.search(other.text).group(1)
    csv = await client.get(f"{key}/forms/support_center_followup/attachments/cases.csv")
    assert csv.status_code == 200
    rows = csv.text.strip().splitlines()
    header = rows[0].split(",")
    async with pool.acquire() as conn:  # the in-scope truth: Khujand's open cases
        open_khujand = {r["uuid"] for r in await conn.fetch(
            "SELECT e.uuid::text AS uuid FROM entities e JOIN datasets d ON d.id = e.dataset_id "
            "JOIN entity_defs v ON v.entity_id = e.id AND v.current WHERE d.project_id = $1 "
            "AND e.deleted_at IS NULL AND v.data ->> 'centre' = 'khujand' "
            "AND v.data ->> 'status' = 'open'", pid)}
    assert {r.split(",")[0] for r in rows[1:]} == open_khujand == {kh["case"]}
    assert all(r.split(",")[header.index("centre")] == "khujand" for r in rows[1:])
    assert_hidden(world, csv.text, "cases.csv")
    whole = await client.get(f"/v1/key/{everywhere['token']}/projects/{pid}/forms/"
                             "support_center_followup/attachments/cases.csv")
    assert du["code"] in whole.text and kh["code"] in whole.text
    integrity = await client.get(f"{key}/datasets/cases/integrity?id={du['case']},{kh['case']}",
                                 headers=OPENROSA)
    assert integrity.status_code == 200
    assert kh["case"] in integrity.text and du["case"] not in integrity.text

    # an update of a Dushanbe case: refused, in words Collect shows, and stored nowhere
    instance = f"uuid:{uuid.uuid4()}"
    sent = await client.post(f"{key}/submission", headers=OPENROSA, files={
        "xml_submission_file": ("s.xml", followup_xml(
            du["case"], 3, instance, day="2026-06-01", stage="case_closed"), "text/xml")})
    assert sent.status_code == 403, sent.text
    assert "<OpenRosaResponse" in sent.text and "another support centre" in sent.text
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM submissions WHERE instance_id = $1",
                                   instance) == 0
        assert await conn.fetchval(
            "SELECT count(*) FROM entity_defs v JOIN entities e ON e.id = v.entity_id "
            "WHERE e.uuid = $1::uuid", du["case"]) == 3
    # its own centre's case: stored
    mine = await client.post(f"{key}/submission", headers=OPENROSA, files={
        "xml_submission_file": ("s.xml", followup_xml(
            kh["case"], 3, f"uuid:{uuid.uuid4()}", day="2026-06-02", stage="employed_or_studying"),
            "text/xml")})
    assert mine.status_code == 201, mine.text
    # untied again (PATCH centre null): the phone gets every case
    untied = await client.patch(f"/v1/projects/{pid}/app-users/{phone['id']}",
                                json={"centre": None}, headers=admin_headers)
    assert untied.status_code == 200 and untied.json()["centre"] is None
    bad = await client.patch(f"/v1/projects/{pid}/app-users/{phone['id']}",
                             json={"centre": "no such/centre"}, headers=admin_headers)
    assert bad.status_code == 400 and bad.headers["content-type"].startswith(
        "application/problem+json")


async def test_a_closed_case_leaves_the_phones(client, pool, admin_headers) -> None:
    """A phone carries only open cases: a case closed by its last follow-up is left out of
    cases.csv and the integrity list tells Collect to drop it; the server keeps it."""
    made = await client.post("/v1/projects", json={"name": f"closed-{uuid.uuid4().hex[:6]}"},
                             headers=admin_headers)
    pid = made.json()["id"]
    still_open = await seed_case(client, pool, admin_headers, pid, centre="khujand")
    closing = await seed_case(client, pool, admin_headers, pid, centre="khujand", publish=False)
    phone = await _app_user(client, admin_headers, pid, "khujand")
    key = f"/v1/key/{phone['token']}/projects/{pid}"
    hash_of = re.compile(r"<filename>cases.csv</filename><hash>([^<]+)</hash>")

    async def served() -> tuple[set[str], str]:
        manifest = await client.get(f"{key}/forms/support_center_followup/manifest",
                                    headers=OPENROSA)
        csv = await client.get(f"{key}/forms/support_center_followup/attachments/cases.csv")
        assert manifest.status_code == 200 and csv.status_code == 200
        return ({r.split(",")[0] for r in csv.text.strip().splitlines()[1:]},
                hash_of.search(manifest.text).group(1))

    before, hash_before = await served()
    assert before == {still_open["case"], closing["case"]}
    await send_submission(client, admin_headers, pid, followup_xml(
        closing["case"], 3, f"uuid:{uuid.uuid4()}", day="2026-06-01", stage="case_closed"))
    after, hash_after = await served()
    assert after == {still_open["case"]} and hash_after != hash_before
    integrity = await client.get(
        f"{key}/datasets/cases/integrity?id={still_open['case']},{closing['case']}",
        headers=OPENROSA)
    assert integrity.status_code == 200
    assert (f'<entity id="{closing["case"]}"><deleted>true</deleted>' in integrity.text
            and f'<entity id="{still_open["case"]}"><deleted>false</deleted>' in integrity.text)
    kept = await client.get(f"/v1/projects/{pid}/datasets/cases/entities/{closing['case']}",
                            headers=admin_headers)
    assert kept.status_code == 200 and kept.json()["currentVersion"]["data"]["status"] == "closed"


async def test_scopes_set_over_rest_and_the_cli(client, world, admin_headers, make_user,
                                               database_url, data_dir) -> None:
    from tests.integration.test_cli import run_cli

    pid = world["pid"]
    user = await make_user("researcher", pid)
    path = f"/v1/projects/{pid}/assignments/scopes/{user['id']}"
    before = await client.get(path, headers=admin_headers)
    assert before.json() == {"actorId": user["id"], "projectId": pid, "regions": [],
                             "centres": [], "submitters": [], "scoped": False}
    listed = await client.get(f"/v1/projects/{pid}/forms/risk_screening/submissions",
                              headers=user["headers"])
    assert len(listed.json()) == 5
    put = await client.put(path, json={"regions": ["tj-su"], "centres": ["khujand"]},
                           headers=admin_headers)
    assert put.status_code == 200, put.text
    assert put.json()["regions"] == ["TJ-SU"] and put.json()["scoped"]
    listed = await client.get(f"/v1/projects/{pid}/forms/risk_screening/submissions",
                              headers=user["headers"])
    assert sorted(s["instanceId"] for s in listed.json()) == sorted(world["screenings"]["TJ-SU"])
    refused = await client.put(path, json={"regions": ["XX"]}, headers=admin_headers)
    assert refused.status_code == 400
    assert (await client.get(path, headers=admin_headers)).json()["regions"] == ["TJ-SU"]
    not_admin = await client.put(path, json={}, headers=world["users"]["manager"]["headers"])
    assert not_admin.status_code == 403

    added = run_cli(["user", "scope", "--email", user["email"], "--project", str(pid),
                     "--region", "TJ-DU"], database_url, data_dir)
    assert added.returncode == 0, added.stderr
    assert "region TJ-DU, region TJ-SU, centre khujand" in added.stdout
    cleared = run_cli(["user", "scope", "--email", user["email"], "--project", str(pid),
                       "--clear"], database_url, data_dir)
    assert cleared.returncode == 0 and "whole project" in cleared.stdout
    assert (await client.get(path, headers=admin_headers)).json()["scoped"] is False
    wrong = run_cli(["user", "scope", "--email", user["email"], "--project", str(pid),
                     "--submitter", "nobody-by-that-name"], database_url, data_dir)
    assert wrong.returncode == 1 and "request-invalid" in wrong.stderr


async def test_trash_and_erasure_hold_the_scope(client, pool, world, admin_headers,
                                                make_user) -> None:
    """A scoped manager neither sees a deleted Dushanbe screening in the trash nor deletes,
    restores or erases one: each answers as for a record that does not exist."""
    pid = world["pid"]
    manager = await make_user("manager", pid)
    async with pool.acquire() as conn:
        await scopes_db.replace_scopes(conn, manager["id"], pid,
                                       scopes_db.RowScope(regions=("TJ-SU",)))
    base = f"/v1/projects/{pid}/forms/risk_screening/submissions"
    hidden, shown = world["screenings"]["TJ-DU"][2], world["screenings"]["TJ-SU"][1]
    refused = await client.delete(f"{base}/{hidden}", headers=manager["headers"])
    assert refused.status_code == 404
    deleted = await client.delete(f"{base}/{hidden}", headers=admin_headers)
    assert deleted.status_code == 200, deleted.text
    try:
        trash = await client.get(f"{base}?deleted=true", headers=manager["headers"])
        assert trash.status_code == 200 and hidden not in trash.text
        restored = await client.post(f"{base}/{hidden}/restore", headers=manager["headers"])
        assert restored.status_code == 404
        mine = await client.delete(f"{base}/{shown}", headers=manager["headers"])
        assert mine.status_code == 200
        trash = await client.get(f"{base}?deleted=true", headers=manager["headers"])
        assert [s["instanceId"] for s in trash.json()] == [shown]
        back = await client.post(f"{base}/{shown}/restore", headers=manager["headers"])
        assert back.status_code == 200
        # erasing the Dushanbe case with its code typed: as for a case that does not exist
        erase = await client.post(
            f"/v1/projects/{pid}/datasets/cases/entities/{world['du']['case']}/erase",
            json={"confirm": world["du"]["code"]}, headers=manager["headers"])
        assert erase.status_code == 404, erase.text
    finally:
        await client.post(f"{base}/{hidden}/restore", headers=admin_headers)


async def test_the_migration_backfills_what_was_stored(pool, world) -> None:
    """Migration 0030's backfill (its own SQL, run again on rows whose columns were emptied)
    gives back the regions and centres that ingest and the triggers wrote."""
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "db" / "migrations"
            / "0030_row_scopes.sql").read_text()
    backfill = text[text.index("-- Backfill what is stored already."):text.index("-- A scoped table")]
    query = ("SELECT s.instance_id, s.centre, s.region FROM submissions s JOIN forms f "
             "ON f.id = s.form_id WHERE f.project_id = $1 ORDER BY s.id")
    async with pool.acquire() as conn:
        stored = [tuple(r) for r in await conn.fetch(query, world["pid"])]
        tr = conn.transaction()
        await tr.start()
        try:
            await conn.execute(
                "UPDATE submissions s SET region = NULL, centre = NULL FROM forms f "
                "WHERE f.id = s.form_id AND f.project_id = $1", world["pid"])
            assert {r[1:] for r in await conn.fetch(query, world["pid"])} == {(None, None)}
            await conn.execute(backfill)
            assert [tuple(r) for r in await conn.fetch(query, world["pid"])] == stored
        finally:
            await tr.rollback()
    assert ("dushanbe" in {c for _, c, _ in stored}) and ("TJ-DU" in {r for _, _, r in stored})


async def test_webhooks_send_a_scoped_creator_only_its_records(pool, world) -> None:
    """What a webhook's creator is sent (api/services/webhooks.py asks db/scopes.py
    event_in_scope): a Khujand scope takes Khujand's submissions and case versions only."""
    scope = scopes_db.RowScope(regions=("TJ-SU",), centres=("khujand",))
    async with pool.acquire() as conn:
        async def submission(instance_id: str) -> dict:
            return {"submissionId": await conn.fetchval(
                "SELECT id FROM submissions WHERE instance_id = $1", instance_id)}

        async def version(case: str) -> dict:
            return {"entityDefId": await conn.fetchval(
                "SELECT v.id FROM entity_defs v JOIN entities e ON e.id = v.entity_id "
                "WHERE e.uuid = $1::uuid AND v.version = 2", case)}

        seen = {
            name: await scopes_db.event_in_scope(conn, subject, details, scope)
            for name, subject, details in [
                ("du visit", "submission/x", await submission(world["du"]["ids"][1])),
                ("kh visit", "submission/x", await submission(world["kh"]["ids"][1])),
                ("du screening", "submission/x",
                 await submission(world["screenings"]["TJ-DU"][0])),
                ("su screening", "submission/x",
                 await submission(world["screenings"]["TJ-SU"][0])),
                ("du case", "entity/x", await version(world["du"]["case"])),
                ("kh case", "entity/x", await version(world["kh"]["case"])),
                ("referral", "case/x", {"referralId": 1}),
            ]}
        everything = await scopes_db.event_in_scope(
            conn, "submission/x", await submission(world["du"]["ids"][1]), scopes_db.UNSCOPED)
    assert seen == {"du visit": False, "kh visit": True, "du screening": False,
                    "su screening": True, "du case": False, "kh case": True, "referral": False}
    assert everything
