"""A coordinator's work in a real headless Chromium (Debian's), against `fieldsurvey serve`,
at a phone size (390x844) and a desktop size (1366x900), in English, Russian and Tajik: upload
the bundled hotline_call.xlsx and a broken XLSForm (the page names the row), publish the draft,
create an app user and open its QR page, find a submission in the table and approve it with a
comment (htmx, no reload), open the support-centre cases and a case's timeline. axe-core (npm, api/pages/node_modules) checks every page: no serious
or critical violation. Screenshots go to tests/artifacts/ (git-ignored)."""

from __future__ import annotations

import random
import uuid
from io import BytesIO

import openpyxl
import pytest

from forms.compile import compile_xlsform
from forms.schema import parse_xform
from tests.browser.support import ARTIFACTS, AXE, ROOT, VIEWPORTS
from tests.cases_seed import seed_case
from tests.instances import instance_xml

HOTLINE = ROOT / "forms" / "library" / "hotline_call.xlsx"
CASES = [(size, lang) for size in ("phone", "desktop") for lang in ("en", "ru", "tg")]
# English words that must not appear on a Russian or Tajik page of this walk.
ENGLISH = ("Submissions", "Upload", "Publish", "App users", "Approve", "Review state", "Forms",
           "Cases", "Timeline", "Follow-up visit")


def broken_hotline() -> tuple[bytes, int]:
    """hotline_call.xlsx with one more survey row naming a choice list that does not exist."""
    book = openpyxl.load_workbook(HOTLINE)
    survey = book["survey"]
    header = [c.value for c in survey[1]]
    row = [None] * len(header)
    row[header.index("type")] = "select_one no_such_list"
    row[header.index("name")] = "broken_question"
    label = next(i for i, h in enumerate(header) if h and str(h).startswith("label"))
    row[label] = "Broken"
    last = max(r for r in range(1, survey.max_row + 1)
               if any(c.value is not None for c in survey[r]))
    for column, value in enumerate(row, start=1):
        survey.cell(row=last + 1, column=column, value=value)
    buffer = BytesIO()
    book.save(buffer)
    return buffer.getvalue(), last + 1


def hotline_answers(schema, rng: random.Random) -> dict:
    answers: dict = {}
    for f in schema.walk():
        if f.kind != "question" or f.relevant or f.children:
            continue
        if f.type in ("select_one", "select_multiple") and f.choices:
            answers[f.name] = rng.choice(f.choices).name
        elif f.type == "int":
            answers[f.name] = str(rng.randint(1, 60))
        elif f.name == "operator_code":
            answers[f.name] = f"OP{rng.randint(10, 99)}"
        elif f.type == "string" and f.name != "deviceid":
            answers[f.name] = "—"
    return answers


@pytest.fixture(scope="module")
async def site(client, pool, admin_headers, make_user, live_server):
    project = await client.post("/v1/projects", json={"name": f"Hotline {uuid.uuid4().hex[:6]}"},
                                headers=admin_headers)
    pid = project.json()["id"]
    # the form exists already with calls in it; each walk uploads it again as a new version
    compiled = compile_xlsform(HOTLINE.read_bytes(), validate=False)
    created = await client.post(
        f"/v1/projects/{pid}/forms?publish=true", content=HOTLINE.read_bytes(),
        headers={**admin_headers, "Content-Type":
                 "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"})
    assert created.status_code == 200, created.text
    schema = parse_xform(compiled.xform)
    rng = random.Random(3)
    for _ in range(30):
        xml = instance_xml(schema, hotline_answers(schema, rng))
        sent = await client.post(
            f"/v1/projects/{pid}/submission",
            files={"xml_submission_file": ("s.xml", xml, "text/xml")},
            headers={**admin_headers, "X-OpenRosa-Version": "1.0"})
        assert sent.status_code == 201, sent.text
    case = await seed_case(client, pool, admin_headers, pid)
    # an app user whose access was revoked: listed greyed on the app users page
    revoked = (await client.post(f"/v1/projects/{pid}/app-users", json={"displayName": "Old phone"},
                                 headers=admin_headers)).json()
    ended = await client.delete(f"/v1/sessions/{revoked['token']}", headers=admin_headers)
    assert ended.status_code == 200, ended.text
    manager = await make_user("manager", pid)
    ARTIFACTS.mkdir(exist_ok=True)
    broken, broken_row = broken_hotline()
    broken_path = ARTIFACTS / "hotline_broken.xlsx"
    broken_path.write_bytes(broken)
    return {"pid": pid, "base": live_server.base_url, "manager": manager,
            "broken": broken_path, "broken_row": broken_row, "case": case}


async def check_page(page, name: str, lang: str, size: str) -> None:
    """The page is in `lang`, does not scroll sideways, passes axe; a screenshot is saved."""
    assert await page.get_attribute("html", "lang") == lang
    overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"{name} scrolls sideways by {overflow}px"
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        await page.evaluate(AXE.read_text())  # evaluate() is not subject to the page's CSP
    result = await page.evaluate("axe.run(document).then(r => r.violations.map(v => "
                                 "({id: v.id, impact: v.impact, nodes: v.nodes.length, "
                                 "target: v.nodes[0] && v.nodes[0].target.join(' ')})))")
    bad = [v for v in result if v["impact"] in ("serious", "critical")]
    assert not bad, f"axe on {name} ({lang}, {size}): {bad}"
    if lang != "en":
        text = await page.inner_text("main")
        found = [w for w in ENGLISH if w in text]
        assert not found, f"{name} ({lang}) shows English: {found}"
    await page.screenshot(path=str(ARTIFACTS / f"coord-{name}-{lang}-{size}.png"), full_page=True)


@pytest.mark.parametrize(("size", "lang"), CASES)
async def test_coordinator_walk(browser, site, size, lang) -> None:
    pid, base = site["pid"], site["base"]
    context = await browser.new_context(viewport=VIEWPORTS[size], accept_downloads=True)
    page = await context.new_page()
    try:
        # log in, then choose the language with the switcher
        await page.goto(f"{base}/projects/{pid}/forms")
        assert "/login" in page.url
        await page.fill("input[name=email]", site["manager"]["email"])
        await page.fill("input[name=password]", site["manager"]["password"])
        async with page.expect_navigation():
            await page.click("main button[type=submit]")
        async with page.expect_navigation():
            await page.click(f"#language button[value={lang}]")
        assert page.url.endswith(f"/projects/{pid}/forms")
        await check_page(page, "forms", lang, size)

        # a broken XLSForm: the error names its row
        await page.set_input_files("form.upload-form input[type=file]", str(site["broken"]))
        async with page.expect_navigation():
            await page.click("form.upload-form button[type=submit]")
        rows = await page.locator("#upload-problems .row-number").all_inner_texts()
        assert str(site["broken_row"]) in rows
        await check_page(page, "upload-error", lang, size)

        # the bundled hotline form: a new draft of the form, published with a new version
        await page.set_input_files("form.upload-form input[type=file]", str(HOTLINE))
        async with page.expect_navigation(timeout=60_000):
            await page.click("form.upload-form button[type=submit]")
        assert "/forms/hotline_call" in page.url
        version = f"{lang}-{size}-{uuid.uuid4().hex[:4]}"
        await page.fill("form.publish-form input[name=version]", version)
        await check_page(page, "form-draft", lang, size)
        async with page.expect_navigation():
            await page.click("form.publish-form button[type=submit]")
        assert await page.locator(f"#versions th:has-text('{version}')").count() == 1
        await check_page(page, "form-published", lang, size)

        # an app user, and its QR page (made to be printed)
        await page.goto(f"{base}/projects/{pid}/app-users")
        assert await page.locator("li.app-user.revoked").count() >= 1
        await check_page(page, "app-users", lang, size)
        await page.fill("input[name=displayName]", f"Phone {lang} {size}")
        await page.check("#create-app-user input[value=hotline_call]")
        async with page.expect_navigation():
            await page.click("#create-app-user button[type=submit]")
        assert "/qr" in page.url
        qr = page.locator("img.qr")
        assert await qr.evaluate("img => img.complete && img.naturalWidth > 100")
        await check_page(page, "app-user-qr", lang, size)
        await page.emulate_media(media="print")
        assert not await page.locator("header.top").is_visible()
        await page.emulate_media(media="screen")

        # the submissions table: filter to calls not reviewed yet, open one, approve it
        await page.goto(f"{base}/projects/{pid}/forms/hotline_call/submissions")
        await check_page(page, "submissions", lang, size)
        async with page.expect_response(lambda r: "/submissions?" in r.url):
            await page.select_option("select[name=review]", "received")
        await page.wait_for_function("location.search.includes('review=received')")
        first = page.locator("#submissions tbody tr th a").first
        async with page.expect_navigation():
            await first.click()
        await check_page(page, "submission", lang, size)
        await page.evaluate("window.__notReloaded = true")
        await page.fill("#review textarea[name=comment]", f"Checked ({lang}, {size}).")
        async with page.expect_response(lambda r: r.url.endswith("/review")):
            await page.click("#review button[value=approved]")
        await page.wait_for_selector("#review .ok")
        assert await page.evaluate("window.__notReloaded === true")  # htmx: no full reload
        assert f"Checked ({lang}, {size})." in await page.inner_text("#review .feed")
        await check_page(page, "submission-approved", lang, size)

        # the support-centre cases, and one case's timeline (three entries, one per submission)
        await page.goto(f"{base}/projects/{pid}/cases")
        await check_page(page, "cases", lang, size)
        async with page.expect_navigation():
            await page.click(f"#cases a:text-is('{site['case']['code']}')")
        assert await page.locator("ol.timeline > li").count() == 3
        await check_page(page, "case", lang, size)

        # the user's own settings (language and time zone), from the name in the header
        async with page.expect_navigation():
            await page.click("header a.who")
        await check_page(page, "account", lang, size)
    finally:
        await context.close()
