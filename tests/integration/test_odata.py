"""The OData feed walked as a client does: service document, $metadata, the root table and
the repeat tables (a repeat in a group with a repeat inside it), keys linking them, typed
values, $expand, $wkt, $select, $filter, $orderby, $count and nextLink paging."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.household_form import FORM_ID, Household, household_xlsx
from tests.xlsforms import XLSX

EDM = "{http://docs.oasis-open.org/odata/ns/edm}"
ROOT, MEMBERS, VISITS, ASSETS = (
    "Submissions", "Submissions.g1.member", "Submissions.g1.member.visit", "Submissions.asset"
)


@pytest.fixture(scope="module")
async def feed(client, admin_headers, make_user):
    project = await client.post(
        "/v1/projects", json={"name": f"odata-{uuid.uuid4().hex[:6]}"}, headers=admin_headers
    )
    pid = project.json()["id"]
    uploaded = await client.post(
        f"/v1/projects/{pid}/forms?publish=true&ignoreWarnings=true",
        content=household_xlsx(), headers={**admin_headers, "Content-Type": XLSX},
    )
    assert uploaded.status_code == 200, uploaded.text
    researcher = await make_user("researcher", pid)
    records = [
        Household(name="Aziz", age=30, members=[("Bob", 12, ["2026-01-02", "2026-02-03"]),
                                                ("Cy", 9, [])]),
        Household(name="Bahor", age=None, location="", photo=None, members=[], assets=[]),
        Household(name="Chamon", age=61, members=[("Dee", 70, ["2026-03-04"])],
                  assets=["goat", "cart"]),
        Household(name="Dilshod", age=25, members=[("Eve", 1, [])]),
        Household(name="Erkin", age=47, income="-3.25", members=[("Fay", 30, ["2026-05-06"])]),
    ]
    created = []
    for record in records:
        response = await client.post(
            f"/v1/projects/{pid}/forms/{FORM_ID}/submissions", content=record.xml(),
            headers={**admin_headers, "Content-Type": "application/xml"},
        )
        assert response.status_code == 200, response.text
        created.append(response.json())
    base = f"/v1/projects/{pid}/forms/{FORM_ID}/submissions"
    for index, state in ((0, "approved"), (2, "rejected"), (3, "approved")):
        await client.patch(f"{base}/{records[index].instance_id}", json={"reviewState": state},
                           headers=admin_headers)
    return {
        "svc": f"/v1/projects/{pid}/forms/{FORM_ID}.svc",
        "headers": researcher["headers"],
        "records": records,
        "created": created,
    }


async def get_json(client, feed, path: str, **params):
    response = await client.get(feed["svc"] + path, params=params, headers=feed["headers"])
    assert response.status_code == 200, response.text
    return response.json()


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


async def test_service_document_and_metadata(client, feed) -> None:
    service = await get_json(client, feed, "")
    assert service["@odata.context"].endswith(f"{feed['svc']}/$metadata")
    assert [t["name"] for t in service["value"]] == [ROOT, MEMBERS, VISITS, ASSETS]
    assert all(t["kind"] == "EntitySet" and t["url"] == t["name"] for t in service["value"])

    response = await client.get(feed["svc"] + "/$metadata", headers=feed["headers"])
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    edmx = ET.fromstring(response.content)
    types = {e.get("Name"): e for e in edmx.iter(f"{EDM}EntityType")}
    assert set(types) == {ROOT, MEMBERS, VISITS, ASSETS}

    def props(entity):
        return {p.get("Name"): p.get("Type") for p in entity.iter(f"{EDM}Property")}

    root = props(types[ROOT])
    assert root["__id"] == "Edm.String"
    assert root["__system"] == "org.opendatakit.submission.metadata"
    assert root["age"] == "Edm.Int64" and root["hh_size"] == "Edm.Int64"
    assert root["income"] == "Edm.Decimal" and root["location"] == "Edm.GeographyPoint"
    fqdn = f"org.opendatakit.user.{FORM_ID}"
    assert root["g1"] == f"{fqdn}.g1"
    navigation = {n.get("Name"): n.get("Type") for n in types[ROOT].iter(f"{EDM}NavigationProperty")}
    assert navigation == {"asset": f"Collection({fqdn}.Submissions.asset)"}
    group = next(c for c in edmx.iter(f"{EDM}ComplexType") if c.get("Name") == "g1")
    assert [n.get("Type") for n in group.iter(f"{EDM}NavigationProperty")] == [
        f"Collection({fqdn}.Submissions.g1.member)"
    ]
    assert props(types[MEMBERS])["__Submissions-id"] == "Edm.String"
    assert props(types[MEMBERS])["mage"] == "Edm.Int64"
    assert props(types[VISITS])["__Submissions-g1-member-id"] == "Edm.String"
    assert props(types[VISITS])["vdate"] == "Edm.Date"
    assert props(types[ASSETS])["__Submissions-id"] == "Edm.String"
    sets = {s.get("Name"): s.get("EntityType") for s in edmx.iter(f"{EDM}EntitySet")}
    assert sets == {name: f"{fqdn}.{name}" for name in (ROOT, MEMBERS, VISITS, ASSETS)}


async def test_tables_link_by_keys(client, feed) -> None:
    records = feed["records"]
    root = await get_json(client, feed, "/Submissions")
    assert root["@odata.context"].endswith(f"{feed['svc']}/$metadata#Submissions")
    rows = root["value"]
    # newest first
    assert [r["__id"] for r in rows] == [r.instance_id for r in reversed(records)]
    by_id = {r["__id"]: r for r in rows}

    aziz = by_id[records[0].instance_id]
    assert aziz["name"] == "Aziz" and aziz["age"] == 30 and aziz["hh_size"] == 3
    assert aziz["income"] == 1250.5
    assert aziz["location"] == {"type": "Point", "coordinates": [68.78, 38.56, 800],
                                "properties": {"accuracy": 4.5}}
    assert aziz["photo"] == "photo.jpg"
    assert aziz["meta"]["instanceID"] == records[0].instance_id
    assert aziz["g1"]["member@odata.navigationLink"] == (
        f"Submissions('{records[0].instance_id}')/g1/member"
    )
    assert "member" not in aziz["g1"]  # not expanded
    system = aziz["__system"]
    assert system["reviewState"] == "approved" and system["edits"] == 0
    assert system["submitterId"] == str(feed["created"][0]["submitterId"])
    assert system["attachmentsExpected"] == 1 and system["attachmentsPresent"] == 0
    assert system["formVersion"] == "1" and system["status"] is None
    assert system["submissionDate"].startswith(feed["created"][0]["createdAt"][:19])

    bahor = by_id[records[1].instance_id]
    assert bahor["age"] is None and bahor["location"] is None and bahor["photo"] is None
    assert bahor["__system"]["reviewState"] is None
    assert "asset@odata.navigationLink" not in bahor
    assert by_id[records[4].instance_id]["income"] == -3.25

    members = (await get_json(client, feed, "/" + MEMBERS))["value"]
    expected_members = [(m[0], r.instance_id) for r in reversed(records) for m in r.members]
    assert [(m["mname"], m["__Submissions-id"]) for m in members] == expected_members
    assert all(isinstance(m["mage"], int) for m in members)
    assert len({m["__id"] for m in members}) == len(members)

    visits = (await get_json(client, feed, "/" + VISITS))["value"]
    member_ids = {m["__id"]: m for m in members}
    assert len(visits) == sum(len(m[2]) for r in records for m in r.members)
    for visit in visits:
        parent = member_ids[visit["__Submissions-g1-member-id"]]
        record = next(r for r in records if r.instance_id == parent["__Submissions-id"])
        dates = next(m[2] for m in record.members if m[0] == parent["mname"])
        assert visit["vdate"] in dates
    # following a submission's navigation link gives that submission's rows only
    link = aziz["g1"]["member@odata.navigationLink"]
    own = (await get_json(client, feed, "/" + link))["value"]
    assert [m["mname"] for m in own] == [m[0] for m in records[0].members]
    assert {m["__Submissions-id"] for m in own} == {records[0].instance_id}
    assert [m["__id"] for m in own] == [m["__id"] for m in members
                                        if m["__Submissions-id"] == records[0].instance_id]
    bob = next(m for m in members if m["mname"] == "Bob")
    assert bob["visit@odata.navigationLink"] == (
        f"Submissions('{records[0].instance_id}')/g1/member('{bob['__id']}')/visit"
    )

    assets = (await get_json(client, feed, "/" + ASSETS))["value"]
    assert sorted(a["kind"] for a in assets) == ["cart", "cow", "cow", "cow", "goat"]
    assert {a["__Submissions-id"] for a in assets} <= {r.instance_id for r in records}

    # ids are stable between requests
    again = (await get_json(client, feed, "/" + MEMBERS))["value"]
    assert [m["__id"] for m in again] == [m["__id"] for m in members]


async def test_expand_wkt_select_and_single(client, feed) -> None:
    records = feed["records"]
    expanded = (await get_json(client, feed, "/Submissions", **{"$expand": "*"}))["value"]
    aziz = next(r for r in expanded if r["__id"] == records[0].instance_id)
    assert [m["mname"] for m in aziz["g1"]["member"]] == ["Bob", "Cy"]
    assert [v["vdate"] for v in aziz["g1"]["member"][0]["visit"]] == ["2026-01-02", "2026-02-03"]
    assert aziz["asset"][0]["kind"] == "cow" and "__id" in aziz["asset"][0]

    wkt = (await get_json(client, feed, "/Submissions", **{"$wkt": "true"}))["value"]
    assert next(r for r in wkt if r["__id"] == records[0].instance_id)["location"] == (
        "POINT (68.78 38.56 800)"
    )

    selected = (await get_json(client, feed, "/Submissions",
                               **{"$select": "__id,age,g1,__system/reviewState"}))["value"]
    first = next(r for r in selected if r["__id"] == records[0].instance_id)
    assert set(first) == {"__id", "age", "g1", "__system"}
    assert first["__system"] == {"reviewState": "approved"}
    no_id = (await get_json(client, feed, "/" + MEMBERS, **{"$select": "mname"}))["value"]
    assert all(set(row) == {"mname"} for row in no_id)
    for bad in ("nope", "g1/member/mname", "__system/nope"):
        response = await client.get(feed["svc"] + "/Submissions", params={"$select": bad},
                                    headers=feed["headers"])
        assert response.status_code == 400, bad
    both = await client.get(feed["svc"] + "/Submissions", headers=feed["headers"],
                            params={"$select": "age", "$expand": "*"})
    assert both.status_code == 400

    single = await get_json(client, feed, f"/Submissions('{records[2].instance_id}')")
    assert [r["name"] for r in single["value"]] == ["Chamon"]
    for missing in ("/Submissions.nope", "/Nothing", "/Submissions.g1",
                    "/Submissions('uuid:not-there')", f"/Submissions.asset('{records[2].instance_id}')"):
        response = await client.get(feed["svc"] + missing, headers=feed["headers"])
        assert response.status_code == 404, missing


async def test_paging_with_skiptoken_and_count(client, feed) -> None:
    records = feed["records"]
    seen = []
    page = await get_json(client, feed, "/Submissions", **{"$top": "2", "$count": "true"})
    pages = 1
    while True:
        assert page["@odata.count"] == len(records)
        seen += [r["__id"] for r in page["value"]]
        link = page.get("@odata.nextLink")
        if link is None:
            break
        assert "$skiptoken=01" in link
        query = parse_qs(urlsplit(link).query)
        assert query["$top"] == ["2"] and "$skip" not in query
        response = await client.get(path_of(link), headers=feed["headers"])
        assert response.status_code == 200, response.text
        page = response.json()
        pages += 1
    assert pages == 3
    assert seen == [r.instance_id for r in reversed(records)]

    skipped = await get_json(client, feed, "/Submissions", **{"$top": "2", "$skip": "2"})
    assert [r["__id"] for r in skipped["value"]] == seen[2:4]

    only_count = await get_json(client, feed, "/Submissions", **{"$top": "0", "$count": "true"})
    assert only_count["value"] == [] and only_count["@odata.count"] == len(records)

    member_rows = []
    page = await get_json(client, feed, "/" + MEMBERS, **{"$top": "2", "$count": "true"})
    while True:
        member_rows += page["value"]
        assert page["@odata.count"] == 5
        link = page.get("@odata.nextLink")
        if link is None:
            break
        page = (await client.get(path_of(link), headers=feed["headers"])).json()
    all_members = (await get_json(client, feed, "/" + MEMBERS))["value"]
    assert member_rows == all_members
    skip_members = await get_json(client, feed, "/" + MEMBERS, **{"$skip": "3"})
    assert skip_members["value"] == all_members[3:]

    bad = await client.get(feed["svc"] + "/Submissions", params={"$skiptoken": "nope"},
                           headers=feed["headers"])
    assert bad.status_code == 400


async def test_filters(client, feed) -> None:
    records = feed["records"]
    created = feed["created"]

    async def ids(expression: str, table: str = "/Submissions") -> list[str]:
        page = await get_json(client, feed, table, **{"$filter": expression})
        return [r.get("__Submissions-id", r["__id"]) for r in page["value"]]

    by_name = {r.instance_id: r.name for r in records}

    def names(found):
        return sorted({by_name[i] for i in found})

    assert names(await ids("__system/reviewState eq 'approved'")) == ["Aziz", "Dilshod"]
    assert names(await ids("__system/reviewState eq null")) == ["Bahor", "Erkin"]
    assert names(await ids("__system/reviewState ne 'approved'")) == ["Bahor", "Chamon", "Erkin"]
    assert names(await ids(
        "__system/reviewState eq 'rejected' or (__system/reviewState eq null and not "
        f"(__id eq '{records[1].instance_id}'))"
    )) == ["Chamon", "Erkin"]
    third = created[2]["createdAt"]
    assert names(await ids(f"__system/submissionDate ge {third}")) == ["Chamon", "Dilshod", "Erkin"]
    assert names(await ids(f"__system/submissionDate lt {third}")) == ["Aziz", "Bahor"]
    assert names(await ids(
        f"__system/submissionDate gt {created[0]['createdAt']} and "
        f"__system/submissionDate le {created[3]['createdAt']}"
    )) == ["Bahor", "Chamon", "Dilshod"]
    year = int(created[0]["createdAt"][:4])
    assert len(await ids(f"year(__system/submissionDate) eq {year}")) == 5
    assert await ids(f"year(__system/submissionDate) lt {year}") == []
    assert len(await ids("year(__system/submissionDate) le year(now())")) == 5
    submitter = created[0]["submitterId"]
    assert len(await ids(f"__system/submitterId eq {submitter}")) == 5
    assert await ids(f"__system/submitterId ne {submitter}") == []
    assert len(await ids("__system/updatedAt eq null")) == 2

    # repeat tables filter by the submission's fields through $root
    members = await ids("$root/Submissions/__system/reviewState eq 'approved'", "/" + MEMBERS)
    assert names(members) == ["Aziz", "Dilshod"] and len(members) == 3

    counted = await get_json(client, feed, "/Submissions", **{
        "$filter": "__system/reviewState eq 'approved'", "$count": "true", "$top": "1"})
    assert counted["@odata.count"] == 2 and len(counted["value"]) == 1
    following = (await client.get(path_of(counted["@odata.nextLink"]),
                                  headers=feed["headers"])).json()
    assert [r["__id"] for r in following["value"]] == [records[0].instance_id]
    assert "@odata.nextLink" not in following

    ordered = await get_json(client, feed, "/Submissions", **{
        "$orderby": "__system/reviewState asc, __system/submissionDate desc", "$top": "3"})
    assert [r["name"] for r in ordered["value"]] == ["Erkin", "Bahor", "Dilshod"]
    rest = (await client.get(path_of(ordered["@odata.nextLink"]), headers=feed["headers"])).json()
    assert [r["name"] for r in rest["value"]] == ["Aziz", "Chamon"]

    for bad in ("age gt 3", "__system/reviewState eq", "__system/submitterId eq 'x'",
                "substringof('a', __id)", "__system/submissionDate lt 'yesterday'",
                "__system/reviewState eq 'x'; DROP TABLE audits"):
        response = await client.get(feed["svc"] + "/Submissions", params={"$filter": bad},
                                    headers=feed["headers"])
        assert response.status_code == 400, bad
        assert response.json()["slug"] == "odata-query-invalid"
    plain_on_repeat = await client.get(feed["svc"] + "/" + MEMBERS, headers=feed["headers"],
                                       params={"$filter": "__system/reviewState eq null"})
    assert plain_on_repeat.status_code == 400


async def test_next_link_is_stable_while_submissions_arrive(client, feed, admin_headers) -> None:
    """Runs last in this module: it adds a submission."""
    records = feed["records"]
    first = await get_json(client, feed, "/Submissions", **{"$top": "2"})
    newcomer = Household(name="Farida")
    base = feed["svc"].replace(".svc", "/submissions")
    created = await client.post(base, content=newcomer.xml(),
                                headers={**admin_headers, "Content-Type": "application/xml"})
    assert created.status_code == 200
    second = (await client.get(path_of(first["@odata.nextLink"]), headers=feed["headers"])).json()
    assert [r["__id"] for r in second["value"]] == [r.instance_id for r in records[2::-1]][:2]
    fresh = await get_json(client, feed, "/Submissions", **{"$top": "1"})
    assert fresh["value"][0]["__id"] == newcomer.instance_id


async def test_refusals_in_the_readers_language(client, feed) -> None:
    """The OData refusals are catalogue templates: Accept-Language ru/tg gets them translated
    with the offending token as written; without it, the English detail, slug and code of
    before."""
    columns = ", ".join(("__id", "__system/submissionDate", "__system/updatedAt",
                         "__system/submitterId", "__system/reviewState", "__system/deletedAt"))
    cases = [
        ("/Submissions", {"$filter": "substringof('a', __id)"}, 400,
         "ru", "Функция substringof() не поддерживается.",
         "The function substringof() is not supported."),
        ("/Submissions", {"$filter": "age gt 3"}, 400,
         "tg", f"Аз рӯи майдони 'age' филтр кардан мумкин нест; яке аз инҳоро истифода баред: "
               f"{columns}.",
         f"'age' cannot be filtered on; use one of: {columns}."),
        ("/Submissions", {"$filter": "__id eq 'a' )"}, 400,
         "ru", "Неожиданное ')' на символе 13.", "Unexpected ')' at character 13."),
        ("/Submissions", {"$top": "-1"}, 400,
         "ru", "$top не может быть отрицательным.", "$top must not be negative."),
        ("/Submissions", {"$orderby": "__id sideways"}, 400,
         "tg", "Самти мураттабсозӣ бояд asc ё desc бошад, на 'sideways'.",
         "Sort direction must be asc or desc, not 'sideways'."),
        ("/Submissions", {"$select": "nothing"}, 400,
         "tg", "Хосият бо номи 'nothing' ёфт нашуд.", "Could not find a property named 'nothing'."),
        ("/Nope", {}, 404,
         "ru", "В форме нет таблицы OData 'Nope'.", "The form has no OData table 'Nope'."),
    ]
    for path, params, status, language, translated, english in cases:
        answers = {}
        for lang in (language, None):
            headers = {**feed["headers"], **({"Accept-Language": lang} if lang else {})}
            response = await client.get(feed["svc"] + path, params=params, headers=headers)
            assert response.status_code == status, (path, params, response.text)
            answers[lang] = response.json()
        local, plain = answers[language], answers[None]
        assert local["detail"] == local["message"] == translated, (params, language)
        assert plain["detail"] == plain["message"] == english, params
        assert (local["slug"], local["code"]) == (plain["slug"], plain["code"])
        assert local["title"] != plain["title"]
