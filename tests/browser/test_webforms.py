"""Filling forms in the browser with ODK Web Forms, in a real headless Chromium against
`fieldsurvey serve`: each bundled form filled through the Web Forms UI by clicking and typing,
in each of its three languages, and sent; what is stored equals what was entered, and a
screening's stored classification is what forms/rubric.py gives. Public links (no login, once,
revoked), the preview of a draft (kept apart from the data) and editing a record.

Lean on purpose (one browser for the module): each form is filled fully in one language; in
its other two languages the page and the form are switched, the labels checked, and a short
way through the form is sent where the form has one (the first answers only where not).
Screenshots go to tests/artifacts/ (git-ignored)."""

from __future__ import annotations

import os
import shutil
import uuid
from datetime import date
from pathlib import Path

import pytest

from api.i18n import I18n
from api.pages.webforms import entry_script
from forms.rubric import classify
from forms.schema import parse_xform
from forms.xform_language import translation_for
from tests.browser.webform_filler import WebFormFiller, field_by_name
from tests.browser.webform_plans import (
    FIRST_STEPS,
    FULL_LANGUAGE,
    SHORT_PLANS,
    applicable,
    full_plans,
)
from tests.xlsforms import XLSX

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
try:
    from playwright.async_api import async_playwright
except ImportError:  # pragma: no cover - the test extras install it
    async_playwright = None

_missing = [what for what, ok in (("chromium", CHROMIUM), ("playwright", async_playwright),
                                  ("the Web Forms build (make webforms)", entry_script()))
            if not ok]
if _missing and os.environ.get("CI") == "true":
    raise RuntimeError(f"browser tests need {', '.join(_missing)}")  # a failure under CI
pytestmark = pytest.mark.skipif(bool(_missing), reason=f"missing: {', '.join(_missing)}")

LIBRARY = Path(__file__).resolve().parents[2] / "forms" / "library"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
FORMS = sorted(FULL_LANGUAGE)
LANGUAGES = ("en", "ru", "tg")
VIEWPORTS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1366, "height": 900}}
TODAY = date.today()


@pytest.fixture(scope="module")
async def site(client, admin_headers, make_user, live_server):
    project = await client.post("/v1/projects", json={"name": f"webforms-{uuid.uuid4().hex[:6]}"},
                                headers=admin_headers)
    pid = project.json()["id"]
    schemas = {}
    for form_id in FORMS:
        uploaded = await client.post(
            f"/v1/projects/{pid}/forms?publish=true", content=(LIBRARY / f"{form_id}.xlsx").read_bytes(),
            headers={**admin_headers, "Content-Type": XLSX},
        )
        assert uploaded.status_code == 200, uploaded.text
        xml = await client.get(f"/v1/projects/{pid}/forms/{form_id}.xml", headers=admin_headers)
        schemas[form_id] = parse_xform(xml.text)
    ARTIFACTS.mkdir(exist_ok=True)
    return {
        "pid": pid, "base": live_server.base_url, "schemas": schemas,
        "collector": await make_user("collector", pid), "manager": await make_user("manager", pid),
    }


@pytest.fixture(scope="module")
async def browser():
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield chromium
        await chromium.close()


class Session:
    """One browser context (one person's browser), logged in or not."""

    def __init__(self, context, page, site):
        self.context, self.page, self.site = context, page, site
        self.errors: list[str] = []
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on("console", lambda msg: self.errors.append(msg.text) if msg.type == "error"
                and "Content Security Policy" in msg.text else None)

    async def close(self) -> None:
        await self.context.close()
        assert self.errors == [], self.errors


async def open_session(browser, site, user: dict | None, size: str = "desktop") -> Session:
    context = await browser.new_context(viewport=VIEWPORTS[size])
    page = await context.new_page()
    session = Session(context, page, site)
    if user is not None:
        await page.goto(f"{site['base']}/login")
        await page.fill("input[name=email]", user["email"])
        await page.fill("input[name=password]", user["password"])
        async with page.expect_navigation():
            await page.click("form[action='/login'] button[type=submit], main button[type=submit]")
    return session


async def choose_page_language(page, code: str) -> None:
    """The page's own switcher (the plain form in the header)."""
    if await page.get_attribute("html", "lang") == code:
        return
    await page.click(f"#language button[value={code}]")
    await page.wait_for_selector(f"html[lang={code}]", state="attached")


async def open_form(page, url: str) -> None:
    await page.goto(url)
    await page.wait_for_selector("html[data-webform=ready]", state="attached", timeout=60_000)


async def wait_for_state(page, *states: str) -> str:
    selector = ", ".join(f"html[data-webform={s}]" for s in states)
    try:
        await page.wait_for_selector(selector, state="attached", timeout=30_000)
    except Exception as error:  # say which questions the form finds wrong
        problems = await page.evaluate(
            """() => [...document.querySelectorAll('.question-container')]
                 .filter((c) => [...c.querySelectorAll('.validation-message')]
                   .some((m) => m.offsetParent !== null && m.innerText.trim()))
                 .map((c) => c.innerText.replace(/\\s+/g, ' ').slice(0, 160))""")
        raise AssertionError(f"no {states}: {problems}") from error
    return await page.get_attribute("html", "data-webform")


def value_at(answers: dict, path: str):
    node = answers
    for part in path.split("/"):
        node = node[part]
    return node


async def stored_answers(pool, pid: int, form_id: str, instance_id: str) -> dict:
    return await pool.fetchval(
        "SELECT v.answers FROM submissions s JOIN forms f ON f.id = s.form_id "
        "JOIN submission_versions v ON v.id = s.current_version_id "
        "WHERE f.project_id = $1 AND f.xml_form_id = $2 AND s.instance_id = $3",
        pid, form_id, instance_id)


def same(stored, entered) -> bool:
    """A select_multiple's choices are stored in the form's order, not the order clicked."""
    if isinstance(entered, list):
        return sorted((stored or "").split()) == sorted(entered)
    return stored == entered


def assert_answers_equal(schema, plan, answers: dict) -> None:
    for name, value in plan:
        field = field_by_name(schema, name)
        if field.kind == "repeat":
            entries = value_at(answers, field.path)
            assert len(entries) == len(value), f"{name}: {len(entries)} entries"
            for index, entry in enumerate(value):
                for child, child_value in entry:
                    child_field = field_by_name(schema, child)
                    stored = entries[index][child_field.path.rsplit("/", 1)[1]]
                    assert same(stored, child_value), f"{name}[{index}]/{child}: {stored!r}"
            continue
        stored = value_at(answers, field.path)
        assert same(stored, value), f"{name}: stored {stored!r}, entered {value!r}"


async def labels_in(page, schema, language_code: str, names: list[str]) -> None:
    """The questions read in `language_code`: the form's own translation of each label."""
    language = translation_for(schema.languages, language_code)
    filler = WebFormFiller(page, schema, language, TODAY)
    for name in names:
        field = field_by_name(schema, name)
        box = await filler.container(field)
        if field.choices:
            choice = field.choices[0]
            text = " ".join((await box.locator("label.value-option").first.inner_text()).split())
            assert text == " ".join(choice.labels[language].split()), f"{name}: {text!r}"


def form_url(site, form_id: str, what: str = "fill") -> str:
    return f"{site['base']}/dashboard/projects/{site['pid']}/forms/{form_id}/{what}"


@pytest.mark.parametrize("form_id", FORMS)
async def test_fill_each_form_fully(browser, site, pool, form_id) -> None:
    code = FULL_LANGUAGE[form_id]
    schema = site["schemas"][form_id]
    language = translation_for(schema.languages, code)
    size = "phone" if FORMS.index(form_id) % 2 == 0 else "desktop"
    session = await open_session(browser, site, site["collector"], size)
    page = session.page
    try:
        await page.goto(f"{site['base']}/dashboard/projects/{site['pid']}/fill")
        await choose_page_language(page, code)
        async with page.expect_navigation():
            await page.click(f"#fill-forms li[data-form={form_id}] a.fill-open")
        await wait_for_state(page, "ready")
        plan = applicable(schema, full_plans(TODAY)[form_id])
        await labels_in(page, schema, code, [plan[0][0]])
        filler = WebFormFiller(page, schema, language, TODAY)
        await filler.fill(plan)
        await page.screenshot(path=str(ARTIFACTS / f"webforms-{form_id}-{size}.png"), full_page=True)
        await filler.send()
        assert await wait_for_state(page, "submitted", "refused") == "submitted", \
            await page.locator("#webform-failure").inner_text()
        i18n = I18n.for_locale(code)
        done = page.locator("#webform-done")
        assert await done.locator("[data-slot=message]").inner_text() == i18n.gettext(
            "The form was sent and saved.")
        overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, "the page scrolls sideways"
        instance_id = await done.get_attribute("data-instance-id")
        answers = await stored_answers(pool, site["pid"], form_id, instance_id)
        assert_answers_equal(schema, plan, answers)
        if form_id == "risk_screening":
            row = await pool.fetchrow(
                "SELECT sc.risk_level, sc.urgent, sc.risk_groups, sc.vulnerability_score "
                "FROM screenings sc JOIN submissions s ON s.id = sc.submission_id "
                "WHERE s.instance_id = $1", instance_id)
            expected = classify(answers)
            assert (row["risk_level"], row["urgent"], tuple(row["risk_groups"]),
                    row["vulnerability_score"]) == (expected.risk_level, expected.urgent,
                                                    expected.risk_groups, expected.vulnerability_score)
            assert expected.risk_level == "high"
            referral = field_by_name(schema, "referral").labels[language]
            shown = await done.locator("[data-slot=referral]").inner_text()
            assert " ".join(shown.split()) == " ".join(referral.split())
            assert await done.locator("[data-slot=level]").inner_text() == i18n.gettext("High")
        await page.screenshot(path=str(ARTIFACTS / f"webforms-{form_id}-sent-{size}.png"))
        # "fill another": an empty form again, ready
        await page.click("#webform-again")
        await wait_for_state(page, "ready")
        first = await WebFormFiller(page, schema, language, TODAY).container(
            field_by_name(schema, plan[0][0]))
        assert await first.locator("input:checked").count() == 0
    finally:
        await session.close()


@pytest.mark.parametrize("form_id", FORMS)
async def test_other_languages_switch_and_send(browser, site, pool, form_id) -> None:
    schema = site["schemas"][form_id]
    others = [c for c in LANGUAGES if c != FULL_LANGUAGE[form_id]]
    session = await open_session(browser, site, site["collector"], "phone")
    page = session.page
    try:
        await open_form(page, form_url(site, form_id))
        short = applicable(schema, SHORT_PLANS.get(form_id) or FIRST_STEPS[form_id])
        for index, code in enumerate(others):
            if index == 0:  # the page's switcher: the form follows
                await choose_page_language(page, code)
            else:  # the form's own menu: the page follows
                await page.locator(".language-changer").locator("visible=true").first.click()
                name = translation_for(schema.languages, code)
                await page.locator(".p-select-overlay [role=option]", has_text=name).click()
                await page.wait_for_selector(f"html[lang={code}]", state="attached")
            await wait_for_state(page, "ready")
            nav = await page.locator("#language button[aria-current=true]").get_attribute("value")
            assert nav == code
            await labels_in(page, schema, code, [n for n, _ in short[:3]])
            if form_id not in SHORT_PLANS:  # no short way through: the first answers only
                if index == len(others) - 1:
                    await WebFormFiller(page, schema, translation_for(schema.languages, code),
                                        TODAY).fill(short)
                continue
            filler = WebFormFiller(page, schema, translation_for(schema.languages, code), TODAY)
            await filler.fill(short)
            await filler.send()
            assert await wait_for_state(page, "submitted", "refused") == "submitted"
            message = await page.locator("#webform-done [data-slot=message]").inner_text()
            assert message == I18n.for_locale(code).gettext("The form was sent and saved.")
            instance_id = await page.locator("#webform-done").get_attribute("data-instance-id")
            assert_answers_equal(schema, short,
                                 await stored_answers(pool, site["pid"], form_id, instance_id))
            await page.click("#webform-again")
            await wait_for_state(page, "ready")
    finally:
        await session.close()


async def test_public_link_once_then_revoked(browser, site, pool) -> None:
    form_id = "hotline_call"
    schema = site["schemas"][form_id]
    manager = await open_session(browser, site, site["manager"], "desktop")
    try:
        page = manager.page
        await page.goto(form_url(site, form_id, "public-links"))
        await page.fill("#link-create input[name=display_name]", "Campaign desk")
        await page.check("#link-create input[name=once]")
        async with page.expect_navigation():
            await page.click("#link-create button[type=submit]")
        url = await page.locator("#links a.fill-link-url").first.get_attribute("href")
        assert "/f/" in url
    finally:
        await manager.close()
    audit = await pool.fetchval(
        "SELECT count(*) FROM audits WHERE action = 'public_link.create' AND actor_id = $1",
        site["manager"]["id"])
    assert audit == 1

    visitor = await open_session(browser, site, None, "phone")  # no login
    try:
        page = visitor.page
        await open_form(page, url)
        plan = SHORT_PLANS[form_id]
        filler = WebFormFiller(page, schema, schema.default_language, TODAY)
        await filler.fill(plan)
        await filler.send()
        assert await wait_for_state(page, "submitted", "refused") == "submitted"
        assert await page.locator("#webform-again").count() == 0  # once: no "fill another"
        instance_id = await page.locator("#webform-done").get_attribute("data-instance-id")
        row = await pool.fetchrow(
            "SELECT s.submitter_id, a.type, a.display_name FROM submissions s "
            "JOIN actors a ON a.id = s.submitter_id WHERE s.instance_id = $1", instance_id)
        assert (row["type"], row["display_name"]) == ("public_link", "Campaign desk")
        assert_answers_equal(schema, plan, await stored_answers(pool, site["pid"], form_id, instance_id))
        # the same browser again: refused, with a clear message, on the page and on a resend
        await page.goto(url)
        assert "one submission" in (await page.locator("#link-closed").inner_text())
        resent = await page.evaluate(
            """async (url) => {
                 const token = document.querySelector('input[name=_csrf_token]').value;
                 const r = await fetch(url + '/submission', {method: 'POST', body: new FormData(),
                   headers: {'X-CSRFToken': token}});
                 return [r.status, await r.json()]; }""", url)
        assert resent[0] == 409 and resent[1]["slug"] == "public-link-used", resent
        assert "one submission" in resent[1]["message"]
    finally:
        await visitor.close()

    manager = await open_session(browser, site, site["manager"], "phone")
    try:
        page = manager.page
        await page.goto(form_url(site, form_id, "public-links"))
        async with page.expect_navigation():
            await page.click("#links tr[data-link] button.danger")
        assert await page.locator("#links tr[data-link]").count() == 0
    finally:
        await manager.close()
    other = await open_session(browser, site, None, "desktop")  # a browser that never sent
    try:
        response = await other.page.goto(url)
        assert response.status == 403
        assert await other.page.locator("#link-closed").count() == 1
    finally:
        await other.close()


async def test_preview_submissions_stay_out_of_the_data(browser, site, client, pool) -> None:
    form_id = "risk_screening"
    headers = site["manager"]["headers"]
    api = f"/v1/projects/{site['pid']}/forms/{form_id}"
    assert (await client.post(api + "/draft", headers=headers)).status_code == 200
    before = {
        "list": (await client.get(api + "/submissions", headers=headers)).json(),
        "odata": (await client.get(api + ".svc/Submissions?$count=true", headers=headers)).json()["@odata.count"],
        "summary": (await client.get(f"/v1/projects/{site['pid']}/summaries/risk", headers=headers)).text,
    }
    schema = site["schemas"][form_id]
    session = await open_session(browser, site, site["manager"], "phone")
    try:
        page = session.page
        await open_form(page, form_url(site, form_id, "preview"))
        assert await page.locator("#preview-notice").count() == 1
        plan = applicable(schema, full_plans(TODAY)[form_id])
        filler = WebFormFiller(page, schema, schema.default_language, TODAY)
        await filler.fill(plan)
        await filler.send()
        assert await wait_for_state(page, "submitted", "refused") == "submitted"
        done = page.locator("#webform-done")
        assert "kept apart" in await done.locator("[data-slot=message]").inner_text()
        assert await done.locator("[data-slot=referral]").is_visible()  # classified all the same
        instance_id = await done.get_attribute("data-instance-id")
    finally:
        await session.close()
    drafts = (await client.get(api + "/draft/submissions", headers=headers)).json()
    assert [d["instanceId"] for d in drafts] == [instance_id] and drafts[0]["riskLevel"] == "high"
    assert (await client.get(api + "/submissions", headers=headers)).json() == before["list"]
    odata = await client.get(api + ".svc/Submissions?$count=true", headers=headers)
    assert odata.json()["@odata.count"] == before["odata"]
    assert (await client.get(f"/v1/projects/{site['pid']}/summaries/risk", headers=headers)).text == before["summary"]
    export = await client.get(api + "/submissions.csv.zip", headers=headers)
    assert export.status_code == 200 and instance_id.encode() not in export.content
    in_data = await pool.fetchval("SELECT count(*) FROM submission_versions WHERE instance_id = $1",
                                  instance_id)
    assert in_data == 0


async def test_manager_edits_a_record_in_the_browser(browser, site, client, pool) -> None:
    form_id = "hotline_call"
    schema = site["schemas"][form_id]
    headers = site["manager"]["headers"]
    plan = applicable(schema, full_plans(TODAY)[form_id])
    session = await open_session(browser, site, site["manager"], "desktop")
    try:
        page = session.page
        await open_form(page, form_url(site, form_id))
        filler = WebFormFiller(page, schema, schema.default_language, TODAY)
        await filler.fill(plan)
        await filler.send()
        assert await wait_for_state(page, "submitted", "refused") == "submitted"
        instance_id = await page.locator("#webform-done").get_attribute("data-instance-id")

        await open_form(page, f"{form_url(site, form_id, 'submissions')}/{instance_id}/edit")
        assert await page.locator("#edit-notice").count() == 1
        notes = await filler.container(field_by_name(schema, "call_notes"))
        assert await notes.locator("textarea").input_value() == "Called back twice"  # loaded
        await notes.locator("textarea").fill("Called back three times")
        await filler.send()
        assert await wait_for_state(page, "submitted", "refused") == "submitted", \
            await page.locator("#webform-failure").inner_text()
    finally:
        await session.close()
    base = f"/v1/projects/{site['pid']}/forms/{form_id}/submissions/{instance_id}"
    versions = (await client.get(base + "/versions", headers=headers)).json()
    assert len(versions) == 2
    current = (await client.get(base + ".xml", headers=headers)).text
    assert f"<deprecatedID>{instance_id}</deprecatedID>" in current
    answers = await stored_answers(pool, site["pid"], form_id, instance_id)
    assert answers["call_result"]["call_notes"] == "Called back three times"
    assert answers["call"]["operator_code"] == "DU07"  # the rest as it was
    review = (await client.get(base, headers=headers)).json()["reviewState"]
    assert review == "edited"


# A photo question: the file goes with the submission, through the same ingest as Collect's.


async def test_a_photo_is_stored_with_the_submission(browser, site, client, pool, tmp_path) -> None:
    from PIL import Image

    from tests.xlsforms import xlsx_bytes

    workbook = xlsx_bytes({
        "survey": [["type", "name", "label", "parameters"], ["text", "place", "Place", None],
                   ["image", "photo", "Photo", "max-pixels=1024"]],
        "settings": [["form_id", "version"], ["browser_photo", "1"]],
    })
    uploaded = await client.post(
        f"/v1/projects/{site['pid']}/forms?publish=true", content=workbook,
        headers={**site["manager"]["headers"], "Content-Type": XLSX})
    assert uploaded.status_code == 200, uploaded.text
    xml = await client.get(f"/v1/projects/{site['pid']}/forms/browser_photo.xml",
                           headers=site["manager"]["headers"])
    schema = parse_xform(xml.text)
    picture = tmp_path / "door.png"
    Image.new("RGB", (64, 48), (200, 30, 30)).save(picture)
    session = await open_session(browser, site, site["collector"], "phone")
    try:
        page = session.page
        await open_form(page, form_url(site, "browser_photo"))
        filler = WebFormFiller(page, schema, schema.default_language, TODAY)
        await filler.fill([("place", "Khujand")])
        box = await filler.container(field_by_name(schema, "photo"))
        await box.locator("input[type=file]").first.set_input_files(str(picture))
        await box.locator("img").first.wait_for(timeout=30_000)  # the preview: the file is taken
        await filler.send()
        assert await wait_for_state(page, "submitted", "refused") == "submitted"
        instance_id = await page.locator("#webform-done").get_attribute("data-instance-id")
    finally:
        await session.close()
    answers = await stored_answers(pool, site["pid"], "browser_photo", instance_id)
    name = answers["photo"]
    assert name and answers["place"] == "Khujand"
    base = f"/v1/projects/{site['pid']}/forms/browser_photo/submissions/{instance_id}/attachments"
    listed = (await client.get(base, headers=site["manager"]["headers"])).json()
    assert listed == [{"name": name, "exists": True}]
    content = (await client.get(f"{base}/{name}", headers=site["manager"]["headers"])).content
    assert content[:8] == b"\x89PNG\r\n\x1a\n" or content[:3] == b"\xff\xd8\xff"
