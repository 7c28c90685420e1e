"""The researcher's pages: the project's data, the export options and the XLSX / CSV zip
downloads (checked: sheets, rows, file names in the user's language), the survey report page
and workbook, the connect page; and who may reach them."""

from __future__ import annotations

import csv
import io
import random
import re
import zipfile
from urllib.parse import unquote

import openpyxl
import pytest

from tests.integration.test_pages_infra import assert_no_english
from tests.pages_client import signed_in
from tests.summaries_seed import (
    publish_now,
    random_answers,
    screening_project,
    submission_xml,
    submit,
)

N = 24


@pytest.fixture(scope="module")
async def site(client, admin_headers, make_user, pool, settings):
    pid = await screening_project(client, admin_headers)
    rng = random.Random(3)
    for _ in range(N):
        await submit(client, admin_headers, pid, submission_xml(random_answers(rng)))
    users = {role: await make_user(role, pid) for role in ("researcher", "ministry", "collector")}
    await publish_now(pool, settings, pid)
    browsers = {role: await signed_in(client, u["email"], u["password"]) for role, u in users.items()}
    return {"pid": pid, "users": users, "browsers": browsers}


def filename_of(response) -> str:
    header = response.headers["content-disposition"]
    return unquote(header.split("filename*=UTF-8''", 1)[1])


async def test_researcher_downloads_xlsx_and_csv_zip(client, site) -> None:
    pid, browser = site["pid"], site["browsers"]["researcher"]
    data = await browser.get(client, f"/projects/{pid}/data")
    assert data.status_code == 200 and 'data-form="risk_screening"' in data.text
    page = await browser.get(client, f"/projects/{pid}/data/risk_screening")
    assert page.status_code == 200 and 'id="download-xlsx"' in page.text and "Russian (ru)" in page.text
    browser.lang = "ru"
    try:
        xlsx = await browser.get(client, f"/projects/{pid}/data/risk_screening/submissions.xlsx?lang=ru&choices=label")
        assert xlsx.status_code == 200, xlsx.text[:500]
        assert filename_of(xlsx).endswith(".xlsx") and " - данные " in filename_of(xlsx)
        book = openpyxl.load_workbook(io.BytesIO(xlsx.content), read_only=True)
        first = book[book.sheetnames[0]]
        rows = list(first.iter_rows(values_only=True))
        assert len(rows) == N + 1  # a header row and one row per submission
        header = rows[0]
        assert any(h and any("а" <= ch <= "я" for ch in str(h).lower()) for h in header)  # Russian labels
        zipped = await browser.get(client, f"/projects/{pid}/data/risk_screening/submissions.csv.zip")
        assert zipped.status_code == 200 and filename_of(zipped).endswith(".csv.zip")
        with zipfile.ZipFile(io.BytesIO(zipped.content)) as archive:
            main = archive.read("risk_screening.csv").decode("utf-8-sig")
        assert len(list(csv.reader(io.StringIO(main)))) == N + 1
        # options: a review state nobody has, and a date range before any submission
        none = await browser.get(client, f"/projects/{pid}/data/risk_screening/submissions.csv.zip?reviewState=approved")
        with zipfile.ZipFile(io.BytesIO(none.content)) as archive:
            assert len(archive.read("risk_screening.csv").decode("utf-8-sig").splitlines()) == 1
        bad = await browser.get(client, f"/projects/{pid}/data/risk_screening/submissions.xlsx?since=yesterday")
        assert bad.status_code == 400 and 'role="alert"' in bad.text and '<html lang="ru">' in bad.text
        fields = await browser.get(client, f"/projects/{pid}/data/risk_screening/submissions.xlsx?fields=consent")
        assert fields.status_code == 200
    finally:
        browser.lang = None


async def test_export_page_offers_csv_for_excel_beside_centrals_layout(client, site) -> None:
    pid, browser = site["pid"], site["browsers"]["researcher"]
    browser.lang = "ru"
    try:
        page = await browser.get(client, f"/projects/{pid}/data/risk_screening")
        assert 'id="download-excel-csv"' in page.text and 'id="download-csv"' in page.text
        assert "CSV для Excel" in page.text and "в формате ODK Central" in page.text  # which is which
        excel = await browser.get(
            client, f"/projects/{pid}/data/risk_screening/submissions.excel.csv.zip?lang=ru&choices=label")
        assert excel.status_code == 200, excel.text[:500]
        assert " - данные для Excel " in filename_of(excel) and filename_of(excel).endswith(".csv.zip")
        with zipfile.ZipFile(io.BytesIO(excel.content)) as archive:
            main = archive.read("risk_screening.csv")
        assert main.startswith(b"\xef\xbb\xbf")
        rows = list(csv.reader(io.StringIO(main.decode("utf-8-sig"))))
        assert len(rows) == N + 1 and "Дата отправки" in rows[0]
    finally:
        browser.lang = None


async def test_report_page_and_workbook(client, site) -> None:
    pid, browser = site["pid"], site["browsers"]["researcher"]
    page = await browser.get(client, f"/projects/{pid}/data/risk_screening/report?period=year")
    assert page.status_code == 200 and 'id="report-data"' in page.text and 'id="question-0"' in page.text
    assert "/static/dashboard/report.js" in page.text
    # a number question's statistics, named (the engine's keys n/mean/median/min/max are not)
    stats = re.search(r'<table class="stats">.*?</table>', page.text, re.S).group(0)
    assert [*re.findall(r"<tr><th>([^<]+)</th>", stats)] == [
        "Answers", "Mean", "Median", "Smallest", "Largest"]
    book = await browser.get(client, f"/projects/{pid}/data/risk_screening/report.xlsx")
    assert book.status_code == 200 and " - report " in filename_of(book)
    assert openpyxl.load_workbook(io.BytesIO(book.content)).sheetnames == ["about", "report"]
    assert (await client.get("/static/dashboard/report.js")).status_code == 200
    # the workbook speaks the page's language: the engine's own words from the catalogue
    browser.lang = "ru"
    try:
        russian = await browser.get(client, f"/projects/{pid}/data/risk_screening/report.xlsx")
    finally:
        browser.lang = None
    workbook = openpyxl.load_workbook(io.BytesIO(russian.content))
    assert workbook.sheetnames == ["об отчёте", "отчёт"]
    keys = [row[0] for row in workbook["об отчёте"].iter_rows(values_only=True)]
    assert keys[:3] == ["форма", "название", "версии"] and "контроль раскрытия" in keys
    words = {cell for row in workbook["отчёт"].iter_rows(values_only=True) for cell in row
             if isinstance(cell, str)}
    assert "Ответы" in words  # a number question's statistics (English: Answers)
    assert not words & {"Answers", "Mean", "total", "Total", "suppressed", "(not answered)"}


async def test_connect_page(client, site) -> None:
    pid, browser = site["pid"], site["browsers"]["researcher"]
    page = await browser.get(client, f"/projects/{pid}/connect")
    assert page.status_code == 200
    assert f"/v1/projects/{pid}/forms/risk_screening.svc" in page.text and "ru_setup(" in page.text
    assert "default_project_id = " + str(pid) in page.text and site["users"]["researcher"]["email"] in page.text


async def test_who_reaches_the_research_pages(client, site) -> None:
    pid = site["pid"]
    ministry, collector = site["browsers"]["ministry"], site["browsers"]["collector"]
    for path in (f"/projects/{pid}/data", f"/projects/{pid}/data/risk_screening",
                 f"/projects/{pid}/data/risk_screening/submissions.xlsx",
                 f"/projects/{pid}/data/risk_screening/submissions.csv.zip", f"/projects/{pid}/connect"):
        assert (await ministry.get(client, path)).status_code == 403, path
        assert (await collector.get(client, path)).status_code == 403, path
    # the report is an aggregate: the ministry gets it under disclosure control, whole months only
    report = await ministry.get(client, f"/projects/{pid}/data/risk_screening/report")
    assert report.status_code == 200 and 'class="supp"' in report.text
    assert f'href="/projects/{pid}/data"' not in report.text
    assert (await collector.get(client, f"/projects/{pid}/data/risk_screening/report")).status_code == 403
    home = await ministry.get(client, f"/dashboard/projects/{pid}/summaries")
    assert 'data-nav="data"' not in home.text


@pytest.mark.parametrize("locale", ["ru", "tg"])
async def test_research_pages_in_russian_and_tajik(client, site, pool, locale) -> None:
    pid, browser = site["pid"], site["browsers"]["researcher"]
    browser.lang = locale
    user_text = [r["display_name"] for r in await pool.fetch("SELECT display_name FROM actors")]
    user_text += [r["name"] for r in await pool.fetch("SELECT name FROM projects")]
    user_text += [r["title"] for r in await pool.fetch("SELECT DISTINCT title FROM form_defs")]
    try:
        for path in (f"/projects/{pid}/data", f"/projects/{pid}/data/risk_screening",
                     f"/projects/{pid}/connect",
                     f"/projects/{pid}/data/risk_screening/report?by=respondent/region&period=quarter"):
            page = await browser.get(client, path)
            assert page.status_code == 200 and f'<html lang="{locale}">' in page.text
            assert_no_english(page.text, f"{locale} {path}", user_text)
    finally:
        browser.lang = None
