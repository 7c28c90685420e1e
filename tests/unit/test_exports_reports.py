"""exports.reports on generated records: counts, shares, number summaries, periods, and
disclosure control (the engine's cells, district guard, no free text)."""

from __future__ import annotations

import asyncio
import json
import random
from datetime import UTC, datetime

import pytest
from pyxform.xls2xform import convert

from exports.disclosure import EMPTY, KEY_MODULUS, MAX_ADJUSTMENT, Cell, published
from exports.layout import merge_versions
from exports.reports import ReportOptionError, ReportSpec, build_report, plan_report
from forms.schema import parse_xform

MD = """
| survey |
| | type | name | label | choice_filter |
| | date | interview_date | Date | |
| | select_one region | region | Region | |
| | select_one district | district | District | region=${region} |
| | integer | age | Age | |
| | select_multiple risk | risks | Risks | |
| | text | story | Story | |
| choices |
| | list_name | name | label | region |
| | region | TJ-SU | Sughd | |
| | region | TJ-KT | Khatlon | |
| | district | TJ-SU-KHUJAND | Khujand | TJ-SU |
| | district | TJ-SU-ISFARA | Isfara | TJ-SU |
| | district | TJ-KT-BOKHTAR | Bokhtar | TJ-KT |
| | risk | debt | Debt | |
| | risk | offer | Offer | |
| settings |
| | form_id | version |
| | rep | 1 |
"""
MERGED = merge_versions([parse_xform(convert(xlsform=MD, file_type=".md", pretty_print=False).xform)])
SECRET = "my secret story"


def records(n: int, seed: int = 3) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        district = rng.choices(["TJ-SU-KHUJAND", "TJ-SU-ISFARA", "TJ-KT-BOKHTAR"], [60, 3, 37])[0]
        month = rng.randint(1, 6)
        out.append(
            {
                "instance_id": f"uuid:{i}",
                "record_key": rng.randrange(KEY_MODULUS),
                "month": 202600 + month,
                "created_at": datetime(2026, 1, 1, tzinfo=UTC),
                "rubric_version": None,
                "answers": {
                    "interview_date": f"2026-{month:02d}-10",
                    "region": district[:5],
                    "district": district,
                    "age": str(rng.randint(14, 60)) if i % 7 else None,
                    "risks": rng.choice(["debt", "offer", "debt offer", None]),
                    "story": SECRET if i % 2 else None,
                },
            }
        )
    return out


def report(spec: ReportSpec, data: list[dict]) -> dict:
    async def source():
        for r in data:
            yield r

    return asyncio.run(build_report(source(), plan_report(MERGED, spec)))


def question(result: dict, path: str) -> dict:
    return next(q for q in result["questions"] if q["path"] == path)


def test_counts_shares_and_numbers() -> None:
    data = records(200)
    result = report(ReportSpec(), data)
    region = question(result, "region")["table"]
    counts = {r["value"]: c[-1] for r, c in zip(region["rows"], region["counts"], strict=True)}
    assert counts["TJ-SU"] == sum(1 for r in data if r["answers"]["region"] == "TJ-SU")
    assert counts[None] == 0
    assert sum(region["counts"][i][-1] for i in range(len(region["rows"]))) == 200
    ages = sorted(int(r["answers"]["age"]) for r in data if r["answers"]["age"])
    stats = question(result, "age")["stats"]
    assert stats["n"][-1] == len(ages) and stats["min"][-1] == ages[0] and stats["max"][-1] == ages[-1]
    middle = len(ages) // 2
    expected_median = ages[middle] if len(ages) % 2 else (ages[middle - 1] + ages[middle]) / 2
    assert stats["median"][-1] == expected_median
    histogram = question(result, "age")["table"]
    assert sum(row[-1] for row in histogram["counts"][:-1]) == len(ages)
    risks = question(result, "risks")["table"]
    debt = next(c for r, c in zip(risks["rows"], risks["counts"], strict=True) if r["value"] == "debt")
    assert debt[-1] == sum(1 for r in data if "debt" in (r["answers"]["risks"] or "").split())
    assert question(result, "story")["table"]["counts"][0][-1] == 100
    assert SECRET not in json.dumps(result)


def test_breakdown_by_select_and_period() -> None:
    result = report(ReportSpec(by="region", period="quarter"), records(200))
    columns = result["breakdown"]["columns"]
    assert result["breakdown"]["periodSource"] == "interview_date"
    assert {(c["by"], c["period"]) for c in columns[:-1]} == {
        (r, q) for r in ("TJ-SU", "TJ-KT") for q in ("2026-Q1", "2026-Q2")
    }
    population = result["population"][0]["table"]["counts"][0]
    assert sum(population[:-1]) == population[-1] == 200
    assert all(q["path"] not in ("region", "interview_date") for q in result["questions"])
    with pytest.raises(ReportOptionError):
        plan_report(MERGED, ReportSpec(by="risks"))


def test_ministry_view_publishes_cells_of_the_engine() -> None:
    k = 10
    data = records(120)
    result = report(ReportSpec(by="region", restricted=True, k=k), data)
    assert result["disclosure"]["applied"] is True and result["disclosure"]["k"] == k
    assert result["disclosure"]["method"]["maxAdjustment"] == MAX_ADJUSTMENT
    tables = [p["table"] for p in result["population"]]
    for q in result["questions"]:
        tables.append(q["table"])
        assert "stats" not in q  # no number statistics under disclosure control
    suppressed_any = False
    for table in tables:
        hidden = {tuple(c) for c in table["suppressed"]}
        suppressed_any |= bool(hidden)
        for i, row in enumerate(table["counts"]):
            for j, value in enumerate(row):
                assert value is None or value >= k
                assert (value is None) == ((i, j) in hidden)
    assert suppressed_any
    # every count is the engine's value for exactly those persons
    risks = question(result, "risks")["table"]
    columns = [c["by"] for c in result["breakdown"]["columns"]]
    for row_spec, row in zip(risks["rows"], risks["counts"], strict=True):
        for column, value in zip(columns, row, strict=True):
            persons = [r for r in data if row_spec["value"] in (r["answers"]["risks"] or "").split()
                       and (column is None or r["answers"]["region"] == column)]
            assert value == published(sum((Cell(1, r["record_key"]) for r in persons), EMPTY), k)
    # number questions: answered or not, no histogram whose bins tell the extremes
    assert [r["label"] for r in question(result, "age")["table"]["rows"]] == ["answered", "(not answered)"]


def test_district_guard_merges_small_districts() -> None:
    result = report(ReportSpec(by="district", restricted=True, k=5), records(300))
    labels = [c["label"] for c in result["breakdown"]["columns"]]
    assert "Isfara" not in labels  # ~9 of 300: below 5k = 25
    assert "other districts of Sughd" in labels
    assert "Khujand" in labels and "Bokhtar" in labels


def test_ministry_workbook_states_the_method_and_the_rule_across_publications() -> None:
    import io

    import openpyxl

    from api.i18n import translations
    from exports.disclosure import (
        ACROSS_PUBLICATIONS_TEXT,
        METHOD_TEXT,
        method_text,
        method_values,
    )
    from exports.reports import report_xlsx

    result = report(ReportSpec(by="region", restricted=True, k=10), records(120))

    def about(translate=None) -> dict:
        book = openpyxl.load_workbook(io.BytesIO(report_xlsx(result, translate)))
        return {row[0]: row[1] for row in book.worksheets[0].iter_rows(values_only=True)}

    english = about()
    assert english["method"] == method_text(10)
    assert english["across publications"] == ACROSS_PUBLICATIONS_TEXT
    russian = about(translations("ru").gettext)
    assert russian["метод"] == translations("ru").gettext(METHOD_TEXT) % method_values(10)
    assert russian["метод"] != method_text(10)
    assert russian["между публикациями"] == translations("ru").gettext(ACROSS_PUBLICATIONS_TEXT)
    assert russian["между публикациями"] != ACROSS_PUBLICATIONS_TEXT
