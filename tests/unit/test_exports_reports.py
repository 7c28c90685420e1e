"""exports.reports on generated records: counts, shares, number summaries, periods, and
disclosure control (threshold, complements, district guard, no free text)."""

from __future__ import annotations

import asyncio
import json
import random
from datetime import UTC, datetime

import pytest
from pyxform.xls2xform import convert

from exports.layout import merge_versions
from exports.reports import ReportOptionError, ReportSpec, build_report, plan_report
from forms.schema import parse_xform
from tests.unit.test_exports_suppression import derivable

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
        out.append(
            {
                "instance_id": f"uuid:{i}",
                "created_at": datetime(2026, 1, 1, tzinfo=UTC),
                "rubric_version": None,
                "answers": {
                    "interview_date": f"2026-{rng.randint(1, 6):02d}-10",
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


def test_ministry_view_hides_small_counts_and_cannot_be_undone() -> None:
    k = 10
    result = report(ReportSpec(by="region", restricted=True, k=k), records(60))
    assert result["disclosure"] == {
        **result["disclosure"], "applied": True, "k": k,
    }
    tables = [p["table"] for p in result["population"]]
    for q in result["questions"]:
        tables.append(q["table"])
        assert all(v is None for v in q.get("stats", {}).get("min", []))
    suppressed_any = False
    for table in tables:
        hidden = {tuple(c) for c in table["suppressed"]}
        suppressed_any |= bool(hidden)
        for i, row in enumerate(table["counts"]):
            for j, value in enumerate(row):
                assert value is None or not (0 < value < k)
                assert (value is None) == ((i, j) in hidden)
    assert suppressed_any
    # within an additive table (rows + not answered = population), nothing is derivable
    age = question(result, "age")["table"]
    assert age["suppressed"]


def test_district_guard_merges_small_districts() -> None:
    result = report(ReportSpec(by="district", restricted=True, k=5), records(300))
    labels = [c["label"] for c in result["breakdown"]["columns"]]
    assert "Isfara" not in labels  # ~9 of 300: below 5k = 25
    assert "other districts of Sughd" in labels
    assert "Khujand" in labels and "Bokhtar" in labels


def test_suppression_property_on_report_tables() -> None:
    result = report(ReportSpec(by="district", restricted=True, k=10), records(80, seed=11))
    population = result["population"][0]["table"]
    for q in result["questions"]:
        table = q["table"]
        if q["kind"] == "multi":
            continue
        # rebuild the additive grid from the unsuppressed data to audit it
        full = report(ReportSpec(by="district", restricted=False, k=10), records(80, seed=11))
        grid = next(x for x in full["questions"] if x["path"] == q["path"])["table"]["counts"]
        grid = [*grid, [sum(col) for col in zip(*grid, strict=True)]]
        hidden = {tuple(c) for c in table["suppressed"]}
        margin = len(grid) - 1
        hidden |= {(margin, j) for j, v in enumerate(population["counts"][0]) if v is None}
        assert derivable(grid, hidden) == set(), q["path"]
