"""Filling forms in the browser with ODK Web Forms, in a real headless Chromium against
`fieldsurvey serve`: each bundled form filled through the Web Forms UI by clicking and typing,
in each of its three languages (a different way through the form in each), and sent; what is
stored equals what was entered, and a screening's stored classification is what
forms/rubric.py gives. One fill changes language twice on the way (the page's switcher, the
form's own menu). Public links (no login, once, revoked), the preview of a draft (kept apart
from the data) and editing a record.

Lean on purpose: one browser and one server for the module; the 16 fills run in concurrent
pages of it (at most FIELDSURVEY_BROWSER_PAGES at a time, 4 unless set), with no fixed sleeps.
Screenshots of failures go to tests/artifacts/ (git-ignored)."""

from __future__ import annotations

import asyncio
import os
import random
import time
import uuid
from datetime import date
from pathlib import Path

import pytest

from api.i18n import LOCALE_COOKIE, I18n
from api.pages.web import RISK_LEVELS as FILL_RISK_LEVELS
from api.pages.web import SESSION_COOKIE
from api.pages.webforms import entry_script
from forms.rubric import classify
from forms.schema import parse_xform
from forms.xform_language import translation_for
from tests.browser.support import ARTIFACTS, VIEWPORTS
from tests.browser.webform_filler import WebFormFiller, field_by_name
from tests.browser.webform_plans import RISK_LEVELS, applicable, plans
from tests.conftest import require
from tests.summaries_seed import random_answers, screening_project, submission_xml, submit
from tests.xlsforms import XLSX, photo_and_signature_form


@pytest.fixture(autouse=True)
def _webforms_built() -> None:
    require(entry_script() is not None, "the Web Forms build (make webforms)")


LIBRARY = Path(__file__).resolve().parents[2] / "forms" / "library"
FORMS = ("community_awareness", "departure_point_consultation", "hotline_call",
         "risk_screening", "support_center_intake")
LANGUAGES = ("en", "ru", "tg")
PAGES = int(os.environ.get("FIELDSURVEY_BROWSER_PAGES", "4"))
# set to a folder (docs/screenshots): phone screenshots of the Russian and Tajik fill pages
SCREENSHOTS = os.environ.get("FIELDSURVEY_SCREENSHOTS")
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
    # the preview's own project: nothing else is sent there while its data is compared
    preview_pid = await screening_project(client, admin_headers, f"preview-{uuid.uuid4().hex[:6]}")
    rng = random.Random(11)
    for _ in range(2):  # some data, which the preview must leave as it is
        await submit(client, admin_headers, preview_pid,
                     submission_xml(random_answers(rng, consent="yes")))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return {
        "pid": pid, "base": live_server.base_url, "schemas": schemas,
        "collector": await make_user("collector", pid), "manager": await make_user("manager", pid),
        "switcher": await make_user("collector", pid),
        "preview_pid": preview_pid, "preview_manager": await make_user("manager", preview_pid),
    }


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


def form_url(site, form_id: str, what: str = "fill", pid: int | None = None) -> str:
    return f"{site['base']}/dashboard/projects/{pid or site['pid']}/forms/{form_id}/{what}"


# --- every form in every language, in concurrent pages of the one browser -----------------


def cookies(site, user: dict, code: str | None = None) -> list[dict]:
    """A signed-in browser (the page session is the user's API session, as in Central), with
    the page language chosen before (the language cookie): the page opens in `code`."""
    token = user["headers"]["Authorization"].removeprefix("Bearer ")
    out = [{"name": SESSION_COOKIE, "value": token, "url": site["base"]}]
    if code:
        out.append({"name": LOCALE_COOKIE, "value": code, "url": site["base"]})
    return out


def watch(page, errors: list[str]) -> None:
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error"
            and "Content Security Policy" in msg.text else None)


async def is_empty(box) -> bool:
    """A question with no answer: no choice checked, no text."""
    if await box.locator("input:checked").count():
        return False
    for field in await box.locator("input[type=text], input:not([type]), textarea").all():
        if await field.input_value():
            return False
    return True


async def after_sending(page, schema, code: str, plan: list, pool, site, form_id: str) -> None:
    """What the page says once sent (in `code`), and what was stored."""
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
    if form_id != "risk_screening":
        return
    row = await pool.fetchrow(
        "SELECT sc.risk_level, sc.urgent, sc.risk_groups, sc.vulnerability_score "
        "FROM screenings sc JOIN submissions s ON s.id = sc.submission_id "
        "WHERE s.instance_id = $1", instance_id)
    expected = classify(answers)
    assert (row["risk_level"], row["urgent"], tuple(row["risk_groups"]),
            row["vulnerability_score"]) == (expected.risk_level, expected.urgent,
                                            expected.risk_groups, expected.vulnerability_score)
    assert expected.risk_level == RISK_LEVELS[code]
    assert await done.locator("[data-slot=level]").inner_text() == i18n.gettext(
        FILL_RISK_LEVELS[expected.risk_level])
    referral = done.locator("[data-slot=referral]")
    if expected.risk_level == "high" or expected.urgent:  # the form's own note, its language
        label = field_by_name(schema, "referral").labels[translation_for(schema.languages, code)]
        assert " ".join((await referral.inner_text()).split()) == " ".join(label.split())
    else:
        assert await referral.is_hidden()


async def fill_and_send(context, site, pool, form_id: str, code: str, size: str) -> None:
    """One person fills `form_id` in language `code` (the page opens in it), sends it, checks
    what the page says and what was stored, then asks for another: an empty form."""
    schema = site["schemas"][form_id]
    language = translation_for(schema.languages, code)
    plan = applicable(schema, plans(TODAY)[form_id][code])
    page = await context.new_page()
    errors: list[str] = []
    watch(page, errors)
    await page.set_viewport_size(VIEWPORTS[size])
    try:
        await open_form(page, form_url(site, form_id))
        assert await page.get_attribute("html", "lang") == code
        await labels_in(page, schema, code, [plan[0][0]])
        shots = SCREENSHOTS and size == "phone" and code != "en"
        if shots:
            await page.screenshot(path=f"{SCREENSHOTS}/webforms-fill-{form_id}-{code}-phone.png")
        filler = WebFormFiller(page, schema, language, TODAY)
        await filler.fill(plan)
        slowest = sorted(filler.seconds.items(), key=lambda item: -item[1])[:4]
        (ARTIFACTS / f"webforms-answers-{form_id}-{code}.txt").write_text(
            f"{sum(filler.seconds.values()):.1f} s in all; slowest: "
            + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in slowest) + "\n")
        await filler.send()
        await after_sending(page, schema, code, plan, pool, site, form_id)
        if shots and form_id == "risk_screening":
            await page.screenshot(path=f"{SCREENSHOTS}/webforms-sent-{form_id}-{code}-phone.png")
        await page.click("#webform-again")  # "fill another": an empty form again
        await wait_for_state(page, "ready")
        first = WebFormFiller(page, schema, language, TODAY)  # reads from the top again
        assert await is_empty(await first.container(field_by_name(schema, plan[0][0])))
        assert errors == [], errors
    except BaseException:
        await page.screenshot(path=str(ARTIFACTS / f"webforms-{form_id}-{code}-{size}.png"),
                              full_page=True)
        raise
    finally:
        await page.close()


async def switch_languages_while_filling(context, site, pool) -> None:
    """From the list page, in English; after two answers the page's switcher goes to
    Russian (the form follows), after two more the form's own menu to Tajik (the page
    follows); the answers given in each language are all kept and sent."""
    form_id = "hotline_call"
    schema = site["schemas"][form_id]
    plan = applicable(schema, plans(TODAY)[form_id]["tg"])  # a silent call: six answers
    parts = {"en": plan[:2], "ru": plan[2:4], "tg": plan[4:]}
    page = await context.new_page()
    errors: list[str] = []
    watch(page, errors)
    await page.set_viewport_size(VIEWPORTS["phone"])
    try:
        await page.goto(f"{site['base']}/dashboard/projects/{site['pid']}/fill")
        async with page.expect_navigation():
            await page.click(f"#fill-forms li[data-form={form_id}] a.fill-open")
        await wait_for_state(page, "ready")
        for code in ("en", "ru", "tg"):
            if code == "ru":  # the page's switcher: the form follows
                await choose_page_language(page, code)
            elif code == "tg":  # the form's own menu: the page follows
                await page.locator(".language-changer").locator("visible=true").first.click()
                name = translation_for(schema.languages, code)
                await page.locator(".p-select-overlay [role=option]", has_text=name).click()
                await page.wait_for_selector(f"html[lang={code}]", state="attached")
            await wait_for_state(page, "ready")
            nav = await page.locator("#language button[aria-current=true]").get_attribute("value")
            assert nav == code
            await labels_in(page, schema, code, [parts[code][0][0]])
            await WebFormFiller(page, schema, translation_for(schema.languages, code),
                                TODAY).fill(parts[code])
        await WebFormFiller(page, schema, "", TODAY).send()
        await after_sending(page, schema, "tg", plan, pool, site, form_id)
        assert errors == [], errors
    except BaseException:
        await page.screenshot(path=str(ARTIFACTS / "webforms-switching.png"), full_page=True)
        raise
    finally:
        await page.close()


class Batch:
    """How each job of the batch ended: None, or the exception its test raises again."""

    def __init__(self, outcomes: dict[str, BaseException | None]):
        self.outcomes = outcomes

    def check(self, label: str) -> None:
        outcome = self.outcomes[label]
        if outcome is not None:
            raise outcome


@pytest.fixture(scope="module")
async def batch(browser, site, client, pool, tmp_path_factory) -> Batch:
    """Every browser job of the module, in concurrent pages (at most PAGES at a time) of the
    one browser: the 15 fills (each form in each language, one signed-in context per
    language), the fill that changes language on the way, the public link, the preview, the
    edit and the photo. The tests below report each job's outcome."""
    contexts = {}
    for code in LANGUAGES:
        context = await browser.new_context(viewport=VIEWPORTS["desktop"])
        await context.add_cookies(cookies(site, site["collector"], code))
        contexts[code] = context
    switcher = await browser.new_context()
    await switcher.add_cookies(cookies(site, site["switcher"], "en"))
    try:
        for context in contexts.values():  # one page first: the context's CSRF cookie is set
            warm = await context.new_page()
            await warm.goto(f"{site['base']}/dashboard/projects/{site['pid']}/fill")
            await warm.close()
        limit = asyncio.Semaphore(PAGES)

        seconds: dict[str, float] = {}

        async def run(label: str, work) -> tuple[str, BaseException | None]:
            async with limit:
                started = time.monotonic()
                try:
                    await work
                except Exception as error:  # every job runs; each test reports its own
                    return label, error
                finally:
                    seconds[label] = time.monotonic() - started
            return label, None

        works = {}
        combos = [(f, c) for f in FORMS for c in LANGUAGES]
        for index, (form_id, code) in enumerate(combos):
            size = "phone" if index % 2 == 0 else "desktop"
            works[f"{form_id} in {code}"] = (form_id, code, size)
        jobs = {label: fill_and_send(contexts[code], site, pool, form_id, code, size)
                for label, (form_id, code, size) in works.items()}
        jobs["switching"] = switch_languages_while_filling(switcher, site, pool)
        for name, job in (("public link", public_link_once_then_revoked),
                          ("preview", preview_stays_out_of_the_data),
                          ("edit", manager_edits_a_record_in_the_browser),
                          ("photo", photo_and_signature_stored_with_the_submission)):
            jobs[name] = job(browser, site, client, pool, tmp_path_factory.mktemp("job"))
        # the longest first, so that the last to finish is a short one
        first = [label for label in jobs if label.startswith(("risk_screening", "preview",
                                                              "community"))]
        order = first + [label for label in jobs if label not in first]
        outcomes = dict(await asyncio.gather(*(run(label, jobs[label]) for label in order)))
        (ARTIFACTS / "webforms-jobs.txt").write_text("".join(  # how long each job took
            f"{seconds[label]:6.1f} s  {label}\n" for label in order))
    finally:
        for context in (*contexts.values(), switcher):
            await context.close()
    return Batch(outcomes)


@pytest.mark.parametrize("code", LANGUAGES)
@pytest.mark.parametrize("form_id", FORMS)
async def test_each_form_filled_and_sent_in_each_language(batch, form_id, code) -> None:
    batch.check(f"{form_id} in {code}")


async def test_page_and_form_languages_agree_while_filling(batch) -> None:
    batch.check("switching")


async def test_public_link_once_then_revoked(batch) -> None:
    batch.check("public link")


async def test_preview_submissions_stay_out_of_the_data(batch) -> None:
    batch.check("preview")


async def test_manager_edits_a_record_in_the_browser(batch) -> None:
    batch.check("edit")


async def test_a_photo_and_a_signature_are_stored_with_the_submission(batch) -> None:
    batch.check("photo")


# --- the jobs that are not a plain fill ----------------------------------------------------


async def public_link_once_then_revoked(browser, site, client, pool, tmp_path) -> None:
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
        plan = plans(TODAY)[form_id]["tg"]  # a silent call (its labels read in English here)
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


async def preview_stays_out_of_the_data(browser, site, client, pool, tmp_path) -> None:
    """A draft filled in its preview: classified, kept apart from the data (not in the
    submissions, OData, summaries, exports), and gone when the draft is published."""
    form_id, pid = "risk_screening", site["preview_pid"]
    manager = site["preview_manager"]
    headers = manager["headers"]
    api = f"/v1/projects/{pid}/forms/{form_id}"
    assert (await client.post(api + "/draft", headers=headers)).status_code == 200
    before = {
        "list": (await client.get(api + "/submissions", headers=headers)).json(),
        "odata": (await client.get(api + ".svc/Submissions?$count=true", headers=headers)).json()["@odata.count"],
        "summary": (await client.get(f"/v1/projects/{pid}/summaries/risk?disclosure=off", headers=headers)).text,
    }
    assert len(before["list"]) == 2
    schema = site["schemas"][form_id]
    context = await browser.new_context(viewport=VIEWPORTS["phone"])
    await context.add_cookies(cookies(site, manager))
    page = await context.new_page()
    errors: list[str] = []
    watch(page, errors)
    try:
        await open_form(page, form_url(site, form_id, "preview", pid))
        assert await page.locator("#preview-notice").count() == 1
        plan = applicable(schema, plans(TODAY)[form_id]["en"])  # low risk
        filler = WebFormFiller(page, schema, schema.default_language, TODAY)
        await filler.fill(plan)
        await filler.send()
        assert await wait_for_state(page, "submitted", "refused") == "submitted"
        done = page.locator("#webform-done")
        assert "kept apart" in await done.locator("[data-slot=message]").inner_text()
        assert await done.locator("[data-slot=level]").inner_text() == "Low"  # classified
        assert await done.locator("[data-slot=referral]").is_hidden()
        instance_id = await done.get_attribute("data-instance-id")
        assert errors == [], errors
    finally:
        await context.close()
    drafts = (await client.get(api + "/draft/submissions", headers=headers)).json()
    assert [d["instanceId"] for d in drafts] == [instance_id]
    assert drafts[0]["riskLevel"] == RISK_LEVELS["en"] == "low"
    assert (await client.get(api + "/submissions", headers=headers)).json() == before["list"]
    odata = await client.get(api + ".svc/Submissions?$count=true", headers=headers)
    assert odata.json()["@odata.count"] == before["odata"]
    assert (await client.get(f"/v1/projects/{pid}/summaries/risk?disclosure=off", headers=headers)).text == before["summary"]
    export = await client.get(api + "/submissions.csv.zip", headers=headers)
    assert export.status_code == 200 and instance_id.encode() not in export.content
    in_data = await pool.fetchval("SELECT count(*) FROM submission_versions WHERE instance_id = $1",
                                  instance_id)
    assert in_data == 0
    # published: the test submission is deleted, as in Central
    published = await client.post(api + "/draft/publish?version=preview-2", headers=headers)
    assert published.status_code == 200, published.text
    left = await pool.fetchval("SELECT count(*) FROM draft_submissions WHERE instance_id = $1",
                               instance_id)
    assert left == 0


async def manager_edits_a_record_in_the_browser(browser, site, client, pool, tmp_path) -> None:
    form_id = "hotline_call"
    schema = site["schemas"][form_id]
    headers = site["manager"]["headers"]
    plan = applicable(schema, plans(TODAY)[form_id]["tg"])  # a silent call, with a note
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
        filler = WebFormFiller(page, schema, schema.default_language, TODAY)
        notes = await filler.container(field_by_name(schema, "call_notes"))
        assert await notes.locator("textarea").input_value() == "Занги хомӯш"  # loaded
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
    assert answers["call"]["operator_code"] == "SU03"  # the rest as it was
    assert answers["call"]["call_direction"] == "silent"
    review = (await client.get(base, headers=headers)).json()["reviewState"]
    assert review == "edited"


# A photo and a signature: the files go with the submission, through the same ingest as
# Collect's. Web Forms 0.22.0 has no signature pad: an image question with the `signature`
# appearance shows the same take-a-picture / choose-an-image buttons as a photo.


async def photo_and_signature_stored_with_the_submission(
        browser, site, client, pool, tmp_path) -> None:
    from PIL import Image, ImageDraw

    workbook = photo_and_signature_form("browser_photo")
    headers = site["manager"]["headers"]
    uploaded = await client.post(
        f"/v1/projects/{site['pid']}/forms?publish=true", content=workbook,
        headers={**headers, "Content-Type": XLSX})
    assert uploaded.status_code == 200, uploaded.text
    xml = await client.get(f"/v1/projects/{site['pid']}/forms/browser_photo.xml", headers=headers)
    schema = parse_xform(xml.text)
    picture, signature = tmp_path / "door.png", tmp_path / "signature.png"
    Image.new("RGB", (64, 48), (200, 30, 30)).save(picture)
    drawn = Image.new("RGB", (120, 40), "white")
    ImageDraw.Draw(drawn).line([(5, 30), (40, 8), (70, 32), (115, 10)], fill="black", width=3)
    drawn.save(signature)
    session = await open_session(browser, site, site["collector"], "phone")
    try:
        page = session.page
        await open_form(page, form_url(site, "browser_photo"))
        filler = WebFormFiller(page, schema, schema.default_language, TODAY)
        await filler.fill([("place", "Khujand")])
        for name, path in (("photo", picture), ("sign", signature)):
            box = await filler.container(field_by_name(schema, name))
            if name == "sign":  # no drawing pad: the photo's own upload buttons
                assert await box.locator("canvas").count() == 0
                assert await box.locator(".capture-buttons input[type=file]").count() >= 1
            await box.locator("input[type=file]").first.set_input_files(str(path))
            await box.locator("img").first.wait_for(timeout=30_000)  # the preview: file taken
        await filler.send()
        assert await wait_for_state(page, "submitted", "refused") == "submitted"
        instance_id = await page.locator("#webform-done").get_attribute("data-instance-id")
    finally:
        await session.close()
    answers = await stored_answers(pool, site["pid"], "browser_photo", instance_id)
    assert answers["place"] == "Khujand" and answers["photo"] and answers["sign"]
    api = f"/v1/projects/{site['pid']}/forms/browser_photo/submissions"
    listed = (await client.get(f"{api}/{instance_id}/attachments", headers=headers)).json()
    assert sorted(a["name"] for a in listed) == sorted([answers["photo"], answers["sign"]])
    assert all(a["exists"] for a in listed)
    files = {}
    for name in (answers["photo"], answers["sign"]):
        files[name] = (await client.get(f"{api}/{instance_id}/attachments/{name}",
                                        headers=headers)).content
        assert files[name][:8] == b"\x89PNG\r\n\x1a\n" or files[name][:3] == b"\xff\xd8\xff"
    # the same record as ODK Collect sends it (OpenRosa multipart): stored the same way
    sent_xml = (await client.get(f"{api}/{instance_id}.xml", headers=headers)).content
    collect_id = f"uuid:{uuid.uuid4()}"
    collect_xml = sent_xml.replace(instance_id.encode(), collect_id.encode())
    collect = await client.post(
        f"/v1/projects/{site['pid']}/submission", headers={**headers, "X-OpenRosa-Version": "1.0"},
        files=[("xml_submission_file", ("submission.xml", collect_xml, "text/xml")),
               *((name, (name, content, "image/png")) for name, content in files.items())])
    assert collect.status_code == 201, collect.text
    from_collect = await stored_answers(pool, site["pid"], "browser_photo", collect_id)
    assert {k: v for k, v in from_collect.items() if k != "meta"} == \
        {k: v for k, v in answers.items() if k != "meta"}
    rows = await pool.fetch(
        "SELECT s.instance_id, a.name, a.blob_key, a.content_type, a.size "
        "FROM submission_attachments a JOIN submission_versions v ON v.id = a.version_id "
        "JOIN submissions s ON s.current_version_id = v.id WHERE s.instance_id = ANY($1) "
        "ORDER BY a.name", [instance_id, collect_id])
    by_source = {key: [tuple(r)[1:] for r in rows if r["instance_id"] == key]
                 for key in (instance_id, collect_id)}
    assert by_source[instance_id] == by_source[collect_id] and len(by_source[instance_id]) == 2
