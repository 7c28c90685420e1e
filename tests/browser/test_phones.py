"""The pages on a cheap phone (390x844) in Russian and Tajik, as each role uses them (issue 28):
a real headless Chromium (Debian's) against `fieldsurvey serve`, with risk screenings of which
some are urgent, a publication, and a case.

`test_tour` walks the main pages of every role, checks each with axe-core (no serious or
critical violation) and saves a screenshot of the first screen to tests/artifacts/phones/ (or
to the folder named by FIELDSURVEY_SCREENSHOTS: docs/screenshots/ holds the ones the docs
show). The other tests check one numbered point of the issue each, in the phone's viewport."""

from __future__ import annotations

import json
import os
import random
import re
import uuid
from pathlib import Path

import pytest

from tests.browser.support import ARTIFACTS, AXE, VIEWPORTS
from tests.cases_seed import seed_case
from tests.summaries_seed import (
    MODULE,
    publish_now,
    random_answers,
    screening_project,
    submission_xml,
    submit,
)

LANGS = ("ru", "tg")
N = 40
URGENT = 4
SHOTS = Path(os.environ.get("FIELDSURVEY_SCREENSHOTS") or ARTIFACTS / "phones")


def urgent_answers(rng: random.Random) -> dict:
    """A screening the rubric marks urgent: coercion (violence) and a situation still going on."""
    answers = random_answers(rng, consent="yes")
    while int(answers["age"]) < 14:
        answers = random_answers(rng, consent="yes")
    answers.update(worked_away="yes", c4_violence="yes", situation_ongoing="yes",
                   r1_deceived_job="yes", x2_no_pay="yes")
    return answers


@pytest.fixture(scope="module")
async def site(client, admin_headers, make_user, live_server, pool, settings):
    assert AXE.is_file(), "npm ci in api/pages installs axe-core"
    pid = await screening_project(client, admin_headers, name=f"Ҳисор {uuid.uuid4().hex[:4]}")
    rng = random.Random(28)
    urgent_ids = []
    for index in range(N):
        if index % (N // URGENT) == N // URGENT - 1:  # spread the urgent ones through the list
            instance = f"uuid:{uuid.uuid4()}"
            urgent_ids.append(instance)
            await submit(client, admin_headers, pid,
                         submission_xml(urgent_answers(rng), instance_id=instance))
        else:
            answers = random_answers(rng)
            answers.pop("situation_ongoing", None)
            await submit(client, admin_headers, pid, submission_xml(answers))
    for _ in range(2):  # the newest: flagged for review (incomplete), not urgent
        answers = random_answers(rng, consent="yes")
        answers["age"], answers["worked_away"] = "30", "yes"
        for name in MODULE:
            answers.pop(name, None)
        await submit(client, admin_headers, pid, submission_xml(answers))
    await publish_now(pool, settings, pid)
    await seed_case(client, pool, admin_headers, pid)
    SHOTS.mkdir(parents=True, exist_ok=True)
    ARTIFACTS.mkdir(exist_ok=True)
    return {"pid": pid, "base": live_server.base_url, "urgent": urgent_ids,
            "admin": {"email": "admin@test.example", "password": "admin-password-for-tests"},
            "manager": await make_user("manager", pid),
            "researcher": await make_user("researcher", pid),
            "ministry": await make_user("ministry", pid)}


async def phone(browser, site, user: dict, lang: str, shot: Path | None = None):
    """A phone-sized context whose browser asks for `lang`, logged in as `user` (the login
    page's first screen saved to `shot`)."""
    context = await browser.new_context(viewport=VIEWPORTS["phone"], locale=lang,
                                        accept_downloads=True, bypass_csp=True)
    page = await context.new_page()
    await page.goto(f"{site['base']}/login")
    if shot is not None:
        await page.screenshot(path=str(shot))
    await page.fill("input[name=email]", user["email"])
    await page.fill("input[name=password]", user["password"])
    async with page.expect_navigation():
        await page.click("main form[action='/login'] button[type=submit]")
    return context, page


async def axe_problems(page) -> list:
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        await page.evaluate(AXE.read_text())
    result = await page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
            for v in result["violations"] if v["impact"] in ("serious", "critical")]


def tour_pages(site) -> list[tuple[str, str, str]]:
    """(role, name, path) of the main pages of each role."""
    pid = site["pid"]
    return [
        ("manager", "home", "/dashboard"),
        ("manager", "coordinator", f"/dashboard/projects/{pid}/coordinator"),
        ("manager", "submissions", f"/projects/{pid}/forms/risk_screening/submissions"),
        ("manager", "submission", "SUBMISSION"),
        ("manager", "cases", f"/projects/{pid}/cases"),
        ("researcher", "data", f"/projects/{pid}/data"),
        ("researcher", "export", f"/projects/{pid}/data/risk_screening"),
        ("researcher", "report", f"/projects/{pid}/data/risk_screening/report"),
        ("ministry", "summaries", f"/dashboard/projects/{pid}/summaries"),
        ("admin", "audits", "/admin/audits"),
    ]


@pytest.mark.parametrize("lang", LANGS)
async def test_tour(browser, site, pool, lang) -> None:
    """Every main page in `lang` on a phone: its first screen saved, no axe violation."""
    first = site["urgent"][0]
    problems: dict[str, list] = {}
    pages = tour_pages(site)
    for role in ("manager", "researcher", "ministry", "admin"):
        shot = SHOTS / f"login-{lang}.png" if role == "manager" else None
        context, page = await phone(browser, site, site[role], lang, shot)
        try:
            for _, name, path in [p for p in pages if p[0] == role]:
                if path == "SUBMISSION":
                    path = (f"/projects/{site['pid']}/forms/risk_screening/submissions/"
                            f"{first}")
                await page.goto(site["base"] + path)
                if name in ("summaries", "report"):
                    await page.wait_for_selector("html[data-charts]", timeout=15_000)
                    await page.wait_for_timeout(400)
                await page.screenshot(path=str(SHOTS / f"{name}-{lang}.png"))
                bad = await axe_problems(page)
                if bad:
                    problems[name] = bad
        finally:
            await context.close()
    assert not problems, json.dumps(problems, ensure_ascii=False)


@pytest.mark.parametrize("lang", LANGS)
async def test_login_page_language_survives_login(browser, site, pool, make_user, lang) -> None:
    """(4) The language chosen on the login page is the one after login, and is saved to the
    account, although the account had another one saved and the browser asks for English."""
    other = "tg" if lang == "ru" else "ru"
    user = await make_user("researcher", site["pid"])
    await pool.execute("UPDATE users SET locale = $1 WHERE actor_id = $2", other, user["id"])
    context = await browser.new_context(viewport=VIEWPORTS["phone"], locale="en")
    page = await context.new_page()
    try:
        await page.goto(f"{site['base']}/login")
        async with page.expect_navigation():
            await page.click(f"#language button[value={lang}]")
        assert await page.get_attribute("html", "lang") == lang
        await page.fill("input[name=email]", user["email"])
        await page.fill("input[name=password]", user["password"])
        async with page.expect_navigation():
            await page.click("main form[action='/login'] button[type=submit]")
        assert "/login" not in page.url
        assert await page.get_attribute("html", "lang") == lang
        assert await pool.fetchval("SELECT locale FROM users WHERE actor_id = $1", user["id"]) == lang
        # logging out forgets the choice on this browser: the next login page is the browser's
        async with page.expect_navigation():
            await page.click("header form.logout button[type=submit]")
        assert await page.get_attribute("html", "lang") == "en"
    finally:
        await context.close()


async def in_viewport(page, locator) -> bool:
    """Whether the element is wholly inside the window sideways once scrolled to vertically
    (a box that scrolls sideways inside the page, or the page itself, does not count)."""
    return await locator.evaluate("""el => {
        window.scrollTo(0, el.getBoundingClientRect().top + window.scrollY - 120);
        const box = el.getBoundingClientRect();
        let clip = el.parentElement;
        for (; clip; clip = clip.parentElement) {
            const c = clip.getBoundingClientRect();
            if (getComputedStyle(clip).overflowX !== 'visible'
                && (box.left < c.left || box.right > c.right)) return false;
        }
        return box.width > 0 && box.left >= 0 && box.right <= window.innerWidth
            && box.top >= 0 && box.bottom <= window.innerHeight;
    }""")


@pytest.mark.parametrize("lang", LANGS)
async def test_urgent_rows_first_and_marked(browser, site, lang) -> None:
    """(2) In the coordinator's list and the submissions table, urgent screenings come first
    and their badge is in the phone's viewport; the instance id is not shown on a phone."""
    pid = site["pid"]
    context, page = await phone(browser, site, site["manager"], lang)
    try:
        for path, table in ((f"/dashboard/projects/{pid}/coordinator", "#needs-review"),
                            (f"/projects/{pid}/forms/risk_screening/submissions", "#submissions")):
            await page.goto(site["base"] + path)
            rows = page.locator(f"{table} tbody tr")
            marked = [await rows.nth(i).locator(".flag.urgent").count() > 0
                      for i in range(await rows.count())]
            assert len(marked) > URGENT, path
            assert marked[:URGENT] == [True] * URGENT and not any(marked[URGENT:]), (path, marked)
            assert await in_viewport(page, rows.first.locator(".flag.urgent")), path
            assert not await page.locator(f"{table} td.mono").first.is_visible(), path
            assert "uuid:" not in await page.inner_text(table)
    finally:
        await context.close()


@pytest.mark.parametrize("lang", LANGS)
async def test_ministry_sees_numbers_and_risk_colours(browser, site, lang) -> None:
    """(1) The ministry's first summary table shows a number in the phone's viewport; (3) the
    risk levels are drawn red, amber and green."""
    context, page = await phone(browser, site, site["ministry"], lang)
    try:
        await page.goto(f"{site['base']}/dashboard/projects/{site['pid']}/summaries")
        await page.wait_for_selector("html[data-charts]", timeout=15_000)
        for table in ("#table-0", "#table-1"):
            number = page.locator(f"{table} tbody td").filter(has_text=re.compile(r"\d")).first
            assert await in_viewport(page, number), table
        colours = await page.evaluate("""() => {
            const chart = Chart.getChart(document.getElementById('chart-0'));
            const data = JSON.parse(document.getElementById('chart-data').textContent)[0];
            return Object.fromEntries(data.series.keys.map(
                (key, i) => [key, chart.data.datasets[i].backgroundColor]));
        }""")
        assert colours["high"] == "#b91c1c" and colours["medium"] == "#d97706", colours
        assert colours["low"] == "#15803d", colours
        await page.screenshot(path=str(ARTIFACTS / f"phones-summaries-{lang}.png"), full_page=True)
    finally:
        await context.close()


@pytest.mark.parametrize("lang", LANGS)
async def test_review_at_the_top_with_one_comment_box_and_next(browser, site, lang) -> None:
    """(7) A submission's review actions are in the phone's first viewport, its state stays in
    sight when scrolled, there is one comment box, and after a review a link leads to the next
    submission needing review (urgent first)."""
    pid = site["pid"]
    instance = site["urgent"][1 if lang == "ru" else 2]
    context, page = await phone(browser, site, site["manager"], lang)
    try:
        await page.goto(f"{site['base']}/projects/{pid}/forms/risk_screening/submissions/{instance}")
        for state in ("approved", "hasIssues", "rejected"):
            box = await page.locator(f"#review button[value={state}]").bounding_box()
            assert box and box["y"] + box["height"] <= VIEWPORTS["phone"]["height"], (state, box)
        assert await page.locator("textarea").count() == 1
        await page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
        bar = await page.locator("#review-bar").bounding_box()
        assert bar and 0 <= bar["y"] < 10, bar  # sticky at the top
        await page.fill("#review textarea[name=comment]", f"Проверено ({lang}).")
        async with page.expect_response(lambda r: r.url.endswith("/review")):
            await page.click("#review button[value=approved]")
        await page.wait_for_selector("#review .ok")
        await page.wait_for_selector("#review-bar #meta-review-state.state-approved", timeout=5_000)
        nxt = page.locator("#review a:has-text('›')")
        async with page.expect_navigation():
            await nxt.click()
        assert instance not in page.url and "/submissions/uuid" in page.url
        assert await page.locator("#review-bar .flag.urgent").count() == 1  # urgent ones first
        # a comment alone, from the same box
        await page.fill("#review textarea[name=comment]", "Позвонить завтра.")
        async with page.expect_response(lambda r: r.url.endswith("/comments")):
            await page.click("#review button.comment-only")
        await page.wait_for_selector("#review .ok")
        assert "Позвонить завтра." in await page.inner_text("#review .feed")
    finally:
        await context.close()


@pytest.mark.parametrize("lang", LANGS)
async def test_audit_log_is_readable(browser, site, pool, lang) -> None:
    """(9) The audit page shows no \\u escape and no action code: actions by name, targets by
    name, the raw record behind a toggle (which opens)."""
    await pool.execute("UPDATE actors SET display_name = 'Фарангис Каримова' WHERE id = $1",
                       site["researcher"]["id"])
    context, page = await phone(browser, site, site["admin"], lang)
    try:
        await page.goto(f"{site['base']}/admin/audits")
        text = await page.inner_text("main")
        codes = await pool.fetch("SELECT DISTINCT action FROM audits")
        assert "\\u" not in text
        shown = [c["action"] for c in codes if c["action"] in text]
        assert not shown, shown
        assert "user/" not in text and "project/" not in text
        await page.goto(f"{site['base']}/admin/audits?action=user")
        text = await page.inner_text("main")
        assert "Фарангис Каримова" in text  # a user by name, not user/N
        raw = page.locator("#audits details.raw").first
        await raw.locator("summary").click()
        assert "user." in await raw.locator("pre").inner_text()
        assert not await axe_problems(page)
    finally:
        await context.close()


CYRILLIC = re.compile(r"[А-Яа-яЁёӢӣӮӯҒғҚқҲҳҶҷ]")


@pytest.mark.parametrize("lang", LANGS)
async def test_researcher_xlsx_headers_and_checkboxes(browser, site, lang) -> None:
    """(5) The XLSX with labels in the page's language has every header in that language
    (the classification's values too); (10) the export page's checkboxes keep their size."""
    import openpyxl

    context, page = await phone(browser, site, site["researcher"], lang)
    try:
        await page.goto(f"{site['base']}/projects/{site['pid']}/data/risk_screening")
        sizes = await page.eval_on_selector_all(
            "input[type=checkbox]", "els => els.map(e => [e.getBoundingClientRect().width,"
            " e.getBoundingClientRect().height])")
        assert sizes and all(w >= 12 and h >= 12 for w, h in sizes), sizes
        language = await page.eval_on_selector(
            "select[name=lang]", f"s => [...s.options].map(o => o.value).find(v => v.endsWith('({lang})'))")
        assert language, "the form has labels in the page's language"
        names = await page.eval_on_selector("select[name=lang]",
                                            "s => [...s.options].map(o => o.textContent)")
        assert all(CYRILLIC.search(n) and "(" not in n for n in names), names  # (12) "русский"
        await page.select_option("select[name=lang]", language)
        await page.select_option("select[name=choices]", "label")
        async with page.expect_download() as info:
            await page.click("#download-xlsx")
        path = ARTIFACTS / f"phones-export-{lang}.xlsx"
        await (await info.value).save_as(str(path))
        book = openpyxl.load_workbook(path, read_only=True)
        rows = list(book[book.sheetnames[0]].iter_rows(values_only=True))
        header = rows[0]
        english = [h for h in header if not CYRILLIC.search(str(h))]
        assert not english, english
        risk = header.index({"ru": "Уровень риска", "tg": "Сатҳи хатар"}[lang])
        assert {r[risk] for r in rows[1:] if r[risk]} <= {
            {"ru": "Низкий", "tg": "Паст"}[lang], {"ru": "Средний", "tg": "Миёна"}[lang],
            {"ru": "Высокий", "tg": "Баланд"}[lang]}
    finally:
        await context.close()


@pytest.mark.parametrize("lang", LANGS)
async def test_submission_dates_and_technical_fields(browser, site, lang) -> None:
    """(13) A date answer is shown as the locale writes it, never as ISO; (6) unlabelled
    calculated fields are in a collapsed technical section, not among the answers."""
    from api.i18n import I18n

    pid = site["pid"]
    context, page = await phone(browser, site, site["manager"], lang)
    try:
        await page.goto(f"{site['base']}/projects/{pid}/forms/risk_screening/submissions/"
                        f"{site['urgent'][3]}")
        answers = await page.inner_text("#answers > dl.answers")
        assert "vulnerability_sum" not in answers
        assert not await page.locator("#technical").get_attribute("open")
        assert "vulnerability_sum" in await page.locator("#technical").inner_html()
        day = await page.locator("#answers .answer:has(.code:text-is('interview_date')) .value")\
            .inner_text()
        assert not re.fullmatch(r"\d{4}-\d{2}-\d{2}", day), day
        assert re.search(r"2026", day) and day == I18n.for_locale(lang).date(
            __import__("datetime").date.fromisoformat(
                await page.locator("#answers .answer:has(.code:text-is('interview_date')) "
                                   "dd .code").inner_text()))
    finally:
        await context.close()


@pytest.mark.parametrize("lang", LANGS)
async def test_home_page_shows_each_role_its_tasks(browser, site, lang) -> None:
    """(8) The researcher reaches "data and exports" from the home page, the ministry its
    summaries only; each task in the phone's first viewport."""
    for role, has, lacks in (("researcher", "data", "app-users"),
                             ("ministry", "summaries", "data")):
        context, page = await phone(browser, site, site[role], lang)
        try:
            await page.goto(f"{site['base']}/dashboard")
            task = page.locator(f".projects [data-task={has}]").first
            assert await task.count() == 1 and await in_viewport(page, task), role
            assert await page.locator(f".projects [data-task={lacks}]").count() == 0, role
        finally:
            await context.close()


@pytest.mark.parametrize("lang", LANGS)
async def test_unreachable_address_warned(browser, site, client, admin_headers, lang) -> None:
    """(14) The test server's address is 127.0.0.1 over plain HTTP: the QR page and the
    Connect page say that phones and other computers cannot use it, and how to set it."""
    pid = site["pid"]
    made = await client.post(f"/v1/projects/{pid}/app-users", json={"displayName": f"Тел {lang}"},
                             headers=admin_headers)
    context, page = await phone(browser, site, site["manager"], lang)
    try:
        for path in (f"/projects/{pid}/app-users/{made.json()['id']}/qr", f"/projects/{pid}/connect"):
            await page.goto(site["base"] + path)
            warning = page.locator("#address-warning")
            assert await warning.is_visible(), path
            assert "FIELDSURVEY_PUBLIC_URL" in await warning.inner_text()
            assert CYRILLIC.search(await warning.inner_text())
            overflow = await page.evaluate("document.documentElement.scrollWidth - innerWidth")
            assert overflow <= 1, (path, overflow)
        assert await page.locator("#plain-http").is_visible()
        assert not await axe_problems(page)
    finally:
        await context.close()


async def test_case_status_agrees_with_case_in_russian(browser, site) -> None:
    """(12) A case (случай, masculine) is "Открыт", and the filter reads "Открытые"; the
    feminine "Открыта" is a form's."""
    context, page = await phone(browser, site, site["manager"], "ru")
    try:
        await page.goto(f"{site['base']}/projects/{site['pid']}/cases")
        text = await page.inner_text("main")
        assert "Открытые" in text and "Открыт" in text and "Открыта" not in text
    finally:
        await context.close()
