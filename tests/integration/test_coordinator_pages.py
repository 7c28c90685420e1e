"""The coordinator's pages in-process, as a browser without JavaScript uses them (plain forms,
the CSRF field, the session cookie): forms (upload with errors by row, warnings confirmed,
publish, versions and downloads, files, state), app users (create, QR page, forms, revoke),
the submissions table (filters, keyset pages, htmx partial) and a submission's page (labels in
the reader's language, repeats, an image inline, the edit history, review with a comment).
Roles: a manager may act, a researcher reads only, a ministry user gets the 403 page."""

from __future__ import annotations

import io
import re
import uuid
from urllib.parse import quote

import pytest
from PIL import Image

from forms.compile import java_available
from tests.conftest import require
from tests.pages_client import signed_in
from tests.xlsforms import XLSX, xlsx_bytes

LANGS = ("English (en)", "Russian (ru)", "Tajik (tg)")


def _labels(en: str, ru: str, tg: str) -> list[str]:
    return [en, ru, tg]


def visit_form(form_id: str, version: str = "1", *, broken: bool = False,
               unlabelled_language: bool = False) -> bytes:
    """A small multilingual form: a select, a photo, a repeat; `broken` adds a select of a
    list that does not exist (row 6); `unlabelled_language` makes pyxform warn."""
    label = "label" if unlabelled_language else None
    header = ["type", "name", "parameters", *([f"{label}::English"] if label else
                                              [f"label::{lang}" for lang in LANGS])]

    def row(kind, name, en, ru, tg):
        parameters = "max-pixels=1024" if kind == "image" else ""
        return [kind, name, parameters, en] if label else [kind, name, parameters, en, ru, tg]

    survey = [
        header,
        row("select_one yn", "visited", "Was the family visited?", "Семью посетили?",
            "Оиларо дидан карданд?"),
        row("image", "photo", "Photo of the notice", "Фото объявления", "Акси эълон"),
        row("begin_repeat", "member", "Member", "Член семьи", "Аъзои оила"),
        row("text", "role", "Role in the family", "Роль в семье", "Нақш дар оила"),
        row("end_repeat", "", "", "", ""),
    ]
    if broken:
        survey.append(row("select_one nolist", "broken", "Broken", "Сломано", "Шикаста"))
    choices = [["list_name", "name", *([f"{label}::English"] if label else
                                       [f"label::{lang}" for lang in LANGS])],
               ["yn", "yes", *(["Yes"] if label else _labels("Yes", "Да", "Ҳа"))],
               ["yn", "no", *(["No"] if label else _labels("No", "Нет", "Не"))]]
    return xlsx_bytes({"survey": survey, "choices": choices,
                       "settings": [["form_id", "version", "form_title"],
                                    [form_id, version, "Home visit"]]})


def visit_xml(form_id: str, instance_id: str, *, visited: str, photo: str | None,
              roles: list[str], deprecated: str | None = None, version: str = "1") -> bytes:
    members = "".join(f"<member><role>{r}</role></member>" for r in roles)
    meta = f"<instanceID>{instance_id}</instanceID>"
    if deprecated:
        meta += f"<deprecatedID>{deprecated}</deprecatedID>"
    return (f'<data id="{form_id}" version="{version}"><visited>{visited}</visited>'
            f"<photo>{photo or ''}</photo>{members}<meta>{meta}</meta></data>").encode()


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
async def site(client, admin_headers, make_user):
    project = await client.post("/v1/projects", json={"name": f"coord-{uuid.uuid4().hex[:8]}"},
                                headers=admin_headers)
    pid = project.json()["id"]
    users = {role: await make_user(role, pid) for role in ("manager", "researcher", "ministry")}
    browsers = {role: await signed_in(client, u["email"], u["password"])
                for role, u in users.items()}
    return {"pid": pid, "users": users, "browsers": browsers, "form": "home_visit"}


def csrf_of(html: str) -> str:
    return re.search(r'name="_csrf_token" value="([^"]+)"', html).group(1)


async def test_an_xform_validate_complains_about_is_confirmed_on_the_page(client, site) -> None:
    """Central's selectMultiple (selects without items): ODK Validate's complaints are
    warnings on the page too, with the button that sends the XForm again."""
    require(java_available(), "java is not on PATH: ODK Validate needs it")
    from tests.clients.central_fixtures import SELECT_MULTIPLE

    pid, manager = site["pid"], site["browsers"]["manager"]
    warned = await manager.post(client, f"/projects/{pid}/forms", files={
        "file": ("select.xml", SELECT_MULTIPLE, "application/xml")})
    assert warned.status_code == 400 and "confirm-warnings" in warned.text
    assert "has no choices" in warned.text
    stashed = re.search(r'name="stashed" value="([^"]+)"', warned.text).group(1)
    confirmed = await manager.post(client, f"/projects/{pid}/forms", {
        "stashed": stashed, "filename": "select.xml", "ignoreWarnings": "true"})
    assert confirmed.status_code == 303
    assert "/forms/selectMultiple" in confirmed.headers["location"]


async def test_upload_errors_warnings_publish_and_versions(client, site) -> None:
    pid, manager = site["pid"], site["browsers"]["manager"]
    form_id = site["form"]
    # a broken XLSForm: the page names the row
    broken = await manager.post(client, f"/projects/{pid}/forms",
                                files={"file": ("broken.xlsx", visit_form("broken", broken=True),
                                                XLSX)})
    assert broken.status_code == 400
    assert "List name not in choices sheet" in broken.text
    assert re.search(r'class="row-number">7<', broken.text)
    # warnings: shown, then confirmed with the file carried in the confirmation form
    warned = await manager.post(client, f"/projects/{pid}/forms", files={
        "file": ("warn.xlsx", visit_form("warned", unlabelled_language=True), XLSX)})
    assert warned.status_code == 400 and "confirm-warnings" in warned.text
    stashed = re.search(r'name="stashed" value="([^"]+)"', warned.text).group(1)
    confirmed = await manager.post(client, f"/projects/{pid}/forms", {
        "stashed": stashed, "filename": "warn.xlsx", "ignoreWarnings": "true"})
    assert confirmed.status_code == 303 and "/forms/warned" in confirmed.headers["location"]
    # the real form: uploaded as a draft, then published with a version
    uploaded = await manager.post(client, f"/projects/{pid}/forms", files={
        "file": ("visit.xlsx", visit_form(form_id), XLSX)})
    assert uploaded.status_code == 303, uploaded.text
    page = await manager.get(client, f"/projects/{pid}/forms/{form_id}")
    assert page.status_code == 200 and "Publish the draft" in page.text
    published = await manager.post(client, f"/projects/{pid}/forms/{form_id}/draft/publish",
                                   {"version": "2026-1"})
    assert published.status_code == 303
    again = await manager.post(client, f"/projects/{pid}/forms/{form_id}/draft/publish",
                               {"version": "2026-1"})
    assert again.status_code == 400  # no draft any more
    # a second version: a new draft from an upload, published under another version
    second = await manager.post(client, f"/projects/{pid}/forms/{form_id}/draft", files={
        "file": ("visit.xlsx", visit_form(form_id, "2"), XLSX)})
    assert second.status_code == 303
    # the form's page links to the Web Forms pages a manager may open; each one answers
    page = await manager.get(client, f"/projects/{pid}/forms/{form_id}")
    web_forms = re.findall(r'href="(/dashboard/projects/\d+/forms/[^"]+)"', page.text)
    base = f"/dashboard/projects/{pid}/forms/{form_id}"
    assert web_forms == [f"{base}/fill", f"{base}/preview", f"{base}/public-links"]
    for link in web_forms:
        assert (await manager.get(client, link)).status_code == 200, link
    listed = await manager.get(client, f"/projects/{pid}/forms")
    assert f'href="{base}/fill"' in listed.text
    researcher_view = await site["browsers"]["researcher"].get(
        client, f"/projects/{pid}/forms/{form_id}")
    assert f"{base}/" not in researcher_view.text  # may neither fill nor preview
    clash = await manager.post(client, f"/projects/{pid}/forms/{form_id}/draft/publish",
                               {"version": "2026-1"})
    assert clash.status_code == 409 and "new version" in clash.text
    assert (await manager.post(client, f"/projects/{pid}/forms/{form_id}/draft/publish",
                               {"version": "2026-2"})).status_code == 303
    page = await site["browsers"]["researcher"].get(client, f"/projects/{pid}/forms/{form_id}")
    assert page.status_code == 200
    assert "2026-1" in page.text and "2026-2" in page.text
    assert "Publish the draft" not in page.text and 'name="state"' not in page.text
    links = re.findall(r'href="([^"]+/versions/\d+/[^"]+\.(?:xml|xlsx))"', page.text)
    assert len(links) == 4
    for link in links:
        got = await site["browsers"]["researcher"].get(client, link.replace("&amp;", "&"))
        assert got.status_code == 200
        if link.endswith(".xml"):
            assert b"<h:html" in got.content and b'id="home_visit"' in got.content
        else:
            assert got.content[:2] == b"PK"
    # researchers may not upload or change the state
    assert (await site["browsers"]["researcher"].post(
        client, f"/projects/{pid}/forms/{form_id}/state", {"state": "closed"})).status_code == 403
    # close and reopen
    for state in ("closing", "closed", "open"):
        changed = await manager.post(client, f"/projects/{pid}/forms/{form_id}/state",
                                     {"state": state})
        assert changed.status_code == 303
        rest = await client.get(f"/v1/projects/{pid}/forms/{form_id}",
                                headers=site["users"]["manager"]["headers"])
        assert rest.json()["state"] == state
    site["published"] = True


async def test_ministry_and_anonymous_cannot_reach_the_pages(client, site) -> None:
    pid, form_id = site["pid"], site["form"]
    ministry = site["browsers"]["ministry"]
    for path in (f"/projects/{pid}/forms", f"/projects/{pid}/forms/{form_id}",
                 f"/projects/{pid}/forms/{form_id}/submissions", f"/projects/{pid}/app-users"):
        response = await ministry.get(client, path)
        assert response.status_code == 403, path
        assert "<html" in response.text
        anonymous = await client.get(path, follow_redirects=False)
        assert anonymous.status_code == 303 and "/login" in anonymous.headers["location"]
    refused = await ministry.post(client, f"/projects/{pid}/app-users", {"displayName": "x"})
    assert refused.status_code == 403
    without_csrf = await site["browsers"]["manager"].post(
        client, f"/projects/{pid}/app-users", {"displayName": "x"}, csrf=False)
    assert without_csrf.status_code == 403


async def test_app_users_create_qr_assign_revoke(client, site) -> None:
    pid, manager = site["pid"], site["browsers"]["manager"]
    assert site.get("published")
    created = await manager.post(client, f"/projects/{pid}/app-users",
                                 {"displayName": "Phone Khujand 1", "form": site["form"]})
    assert created.status_code == 303
    qr_url = created.headers["location"]
    actor_id = int(re.search(r"/app-users/(\d+)/qr", qr_url).group(1))
    qr = await manager.get(client, qr_url)
    assert qr.status_code == 200
    assert "data:image/png;base64," in qr.text and "Phone Khujand 1" in qr.text
    assert "Home visit" in qr.text  # its form
    token = re.search(r"/v1/key/([^/]+)/projects/", qr.text).group(1)
    form_list = await client.get(f"/v1/key/{token}/projects/{pid}/formList",
                                 headers={"X-OpenRosa-Version": "1.0"})
    assert form_list.status_code == 200 and site["form"] in form_list.text
    # unassign every form, then revoke
    saved = await manager.post(client, f"/projects/{pid}/app-users/{actor_id}/forms", {})
    assert saved.status_code == 303
    form_list = await client.get(f"/v1/key/{token}/projects/{pid}/formList",
                                 headers={"X-OpenRosa-Version": "1.0"})
    assert site["form"] not in form_list.text
    assert (await manager.post(client, f"/projects/{pid}/app-users/{actor_id}/forms",
                               {"form": site["form"]})).status_code == 303
    revoked = await manager.post(client, f"/projects/{pid}/app-users/{actor_id}/revoke", {})
    assert revoked.status_code == 303
    gone = await client.get(f"/v1/key/{token}/projects/{pid}/formList",
                            headers={"X-OpenRosa-Version": "1.0"})
    assert gone.status_code in (401, 403)
    assert (await manager.get(client, qr_url)).status_code == 404
    # revoked, as Central shows it: still listed, greyed, without QR code or forms to change
    listing = await manager.get(client, f"/projects/{pid}/app-users")
    item = re.search(rf'<li id="app-user-{actor_id}" class="app-user revoked">.*?</li>',
                     listing.text, re.S)
    assert listing.status_code == 200 and item and "Phone Khujand 1" in item.group(0)
    assert "access revoked" in item.group(0) and "/qr" not in item.group(0)
    assert "<form" not in item.group(0)
    rest = await client.get(f"/v1/projects/{pid}/app-users",
                            headers=site["users"]["manager"]["headers"])
    assert {u["id"]: u["token"] for u in rest.json()}[actor_id] is None  # Central: token null
    assert (await manager.post(client, f"/projects/{pid}/app-users/{actor_id}/revoke",
                               {})).status_code == 404  # once
    # Central's frontend revokes with DELETE /v1/sessions/{the app user's token}
    other = (await client.post(f"/v1/projects/{pid}/app-users", json={"displayName": "Phone B"},
                               headers=site["users"]["manager"]["headers"])).json()
    assert (await client.delete(f"/v1/sessions/{other['token']}", headers=site["users"][
        "researcher"]["headers"])).status_code == 403
    ended = await client.delete(f"/v1/sessions/{other['token']}",
                                headers=site["users"]["manager"]["headers"])
    assert ended.status_code == 200 and ended.json() == {"success": True}
    rest = await client.get(f"/v1/projects/{pid}/app-users",
                            headers=site["users"]["manager"]["headers"])
    assert {u["id"]: u["token"] for u in rest.json()}[other["id"]] is None
    assert (await client.get(f"/v1/key/{other['token']}/projects/{pid}/formList",
                             headers={"X-OpenRosa-Version": "1.0"})).status_code in (401, 403)
    blank = await manager.post(client, f"/projects/{pid}/app-users", {"displayName": "  "})
    assert blank.status_code == 400
    assert (await site["browsers"]["researcher"].get(
        client, f"/projects/{pid}/app-users")).status_code == 403


@pytest.fixture(scope="module")
async def visits(client, site, admin_headers):
    """Submissions of the home visit form: one with a photo and two members, then edited."""
    pid, form_id = site["pid"], site["form"]
    assert site.get("published")
    headers = {**admin_headers, "X-OpenRosa-Version": "1.0"}
    ids = []
    for n in range(7):
        instance_id = f"uuid:{uuid.uuid4()}"
        xml = visit_xml(form_id, instance_id, visited="yes" if n % 2 else "no",
                        photo="notice.png" if n == 0 else None,
                        roles=["mother", "son"] if n == 0 else [], version="2026-2")
        files = {"xml_submission_file": ("s.xml", xml, "text/xml")}
        if n == 0:
            files["notice.png"] = ("notice.png", png_bytes(), "image/png")
        sent = await client.post(f"/v1/projects/{pid}/submission", files=files, headers=headers)
        assert sent.status_code == 201, sent.text
        ids.append(instance_id)
    first = ids[0]
    edit_id = f"uuid:{uuid.uuid4()}"
    edited = await client.put(
        f"/v1/projects/{pid}/forms/{form_id}/submissions/{first}",
        content=visit_xml(form_id, edit_id, visited="yes", photo="notice.png",
                          roles=["mother", "daughter"], deprecated=first, version="2026-2"),
        headers={**admin_headers, "Content-Type": "application/xml"})
    assert edited.status_code == 200, edited.text
    return {"ids": ids, "first": first}


async def test_submission_page_labels_image_history(client, site, visits) -> None:
    pid, form_id = site["pid"], site["form"]
    url = f"/projects/{pid}/forms/{form_id}/submissions/{quote(visits['first'], safe='')}"
    researcher = site["browsers"]["researcher"]
    page = await researcher.get(client, url)
    assert page.status_code == 200
    assert "Was the family visited?" in page.text and ">Yes<" in page.text
    assert "Member 1" in page.text and "Member 2" in page.text and "daughter" in page.text
    image = re.search(r'<img class="media" src="([^"]+)"', page.text).group(1)
    got = await researcher.get(client, image)
    assert got.status_code == 200 and got.headers["content-type"] == "image/png"
    assert got.content == png_bytes() and "sandbox" in got.headers["content-security-policy"]
    # the edit history: what changed, question by question
    assert "Edit history" in page.text
    assert re.search(r"<del>son</del>.*<ins>daughter</ins>", page.text, re.S)
    assert re.search(r"<del>No</del>.*<ins>Yes</ins>", page.text, re.S)
    assert "reviewState" not in page.text  # read-only: no review buttons
    assert "/edit" not in page.text  # nor an edit in the browser
    edit = re.search(r'id="edit-in-browser" href="([^"]+)"',
                     (await site["browsers"]["manager"].get(client, url)).text).group(1)
    assert edit == f"/dashboard{url}/edit".replace(":", "%3A")
    assert (await site["browsers"]["manager"].get(client, edit)).status_code == 200
    # Russian: the form's own labels
    researcher.lang = "ru"
    try:
        ru = await researcher.get(client, url)
    finally:
        researcher.lang = None
    assert 'lang="ru"' in ru.text and "Семью посетили?" in ru.text and ">Да<" in ru.text
    assert "Was the family visited?" not in ru.text
    missing = await researcher.get(client, f"/projects/{pid}/forms/{form_id}/submissions/nope")
    assert missing.status_code == 404


async def test_review_with_a_comment_plain_and_htmx(client, site, visits) -> None:
    pid, form_id = site["pid"], site["form"]
    manager = site["browsers"]["manager"]
    instance_id = visits["ids"][3]
    url = f"/projects/{pid}/forms/{form_id}/submissions/{quote(instance_id, safe='')}"
    page = await manager.get(client, url)
    assert 'value="approved"' in page.text
    plain = await manager.post(client, f"{url}/review",
                               {"reviewState": "hasIssues", "comment": "Photo missing."})
    assert plain.status_code == 303
    partial = await manager.post(client, f"{url}/review",
                                 {"reviewState": "approved", "comment": "Checked by phone."},
                                 headers={"HX-Request": "true", "X-CSRFToken": manager.csrf})
    assert partial.status_code == 200
    assert partial.text.lstrip().startswith('<section class="card" id="review"')
    assert "<html" not in partial.text
    assert "Checked by phone." in partial.text and "Photo missing." in partial.text
    rest = await client.get(f"/v1/projects/{pid}/forms/{form_id}/submissions/{instance_id}",
                            headers=site["users"]["manager"]["headers"])
    assert rest.json()["reviewState"] == "approved"
    commented = await manager.post(client, f"{url}/comments", {"body": "Call again in May."})
    assert commented.status_code == 303
    comments = await client.get(
        f"/v1/projects/{pid}/forms/{form_id}/submissions/{instance_id}/comments",
        headers=site["users"]["manager"]["headers"])
    assert [c["body"] for c in comments.json()] == ["Call again in May."]
    bad = await manager.post(client, f"{url}/review", {"reviewState": "edited"})
    assert bad.status_code == 400
    refused = await site["browsers"]["researcher"].post(
        client, f"{url}/review", {"reviewState": "rejected"})
    assert refused.status_code == 403
    escaped = await manager.post(client, f"{url}/comments", {"body": "<script>x()</script>"})
    assert escaped.status_code == 303
    page = await manager.get(client, url)
    assert "<script>x()" not in page.text and "&lt;script&gt;x()" in page.text


async def test_table_filters_pages_and_htmx(client, site, visits) -> None:
    pid, form_id = site["pid"], site["form"]
    manager = site["browsers"]["manager"]
    base = f"/projects/{pid}/forms/{form_id}/submissions"
    page = await manager.get(client, base + "?limit=25")
    assert page.status_code == 200
    assert "7 submissions match" in page.text
    approved = await manager.get(client, base + "?review=approved")
    assert "1 submission matches" in approved.text
    assert quote(visits["ids"][3], safe="") in approved.text
    # keyset pages of 25 over a smaller form: no "Older" link; a cursor from a later row works
    assert 'rel="next"' not in page.text
    partial = await manager.get(client, base + "?review=received",
                                **{"HX-Request": "true", "HX-Target": "submissions-table"})
    assert partial.status_code == 200 and "<html" not in partial.text
    assert "submissions match" in partial.text
    bad = await manager.get(client, base + "?review=bogus")
    assert bad.status_code == 200 and 'class="error"' in bad.text
    ru = await signed_in(client, site["users"]["researcher"]["email"],
                         site["users"]["researcher"]["password"])
    ru.lang = "tg"
    tajik = await ru.get(client, base)
    assert tajik.status_code == 200 and 'lang="tg"' in tajik.text
    assert "Submissions" not in tajik.text


async def test_coordinator_view_links_to_the_table(client, site, visits) -> None:
    pid, form_id = site["pid"], site["form"]
    page = await site["browsers"]["manager"].get(client, f"/dashboard/projects/{pid}/coordinator")
    assert page.status_code == 200
    today = re.search(rf'href="(/projects/{pid}/forms/{form_id}/submissions\?from=[^"]+)"',
                      page.text).group(1).replace("&amp;", "&")
    table = await site["browsers"]["manager"].get(client, today)
    assert table.status_code == 200 and "7 submissions match" in table.text
