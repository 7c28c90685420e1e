"""The summaries' workbook (exports/summary_xlsx.py): a cross-tab per table with totals,
suppressed counts written as "x", a block per period, and the notes sheet."""

from __future__ import annotations

import io

import openpyxl

from exports.disclosure import CountTable, protect, unprotected
from exports.summary_xlsx import SummarySheet, summary_workbook


def region_by_level() -> CountTable:
    cells = {("TJ-SU", "low"): 40, ("TJ-SU", "high"): 3, ("TJ-KT", "low"): 25, ("TJ-KT", "high"): 12}
    margins = ({"TJ-SU": 43, "TJ-KT": 37}, {"low": 65, "high": 15})
    return CountTable(("region", "risk_level"), (False, False), cells, margins, 80)


def test_cross_tab_with_totals_and_suppression() -> None:
    table = protect(region_by_level(), 10)
    data = summary_workbook(
        [SummarySheet("Risk level by region", ("region", "risk_level"), [(None, table)], labels={"TJ-SU": "Sughd"})],
        [("k (threshold)", "10")],
    )
    book = openpyxl.load_workbook(io.BytesIO(data))
    assert book.sheetnames == ["Risk level by region", "Notes"]
    rows = [r for r in book["Risk level by region"].iter_rows(values_only=True) if any(v is not None for v in r)]
    assert rows[0] == ("Risk level by region", None, None, None)
    assert rows[1] == ("region \\ risk_level", "low", "high", "Total")
    assert rows[2] == ("Sughd", "x", "x", 43)
    assert rows[3] == ("TJ-KT", "x", "x", 37)
    assert rows[4] == ("Total", 65, 15, 80)
    assert list(book["Notes"].iter_rows(values_only=True))[1] == ("k (threshold)", "10")


def test_periods_one_d_and_long_titles() -> None:
    one = CountTable(("sex",), (False,), {("female",): 12, ("male",): 0}, total=12)
    sheet = SummarySheet("A title that is much longer than thirty-one characters: yes",
                         ("sex",), [("2026-Q1", unprotected(one)), ("2026-Q2", unprotected(one))])
    book = openpyxl.load_workbook(io.BytesIO(summary_workbook([sheet, sheet], [])))
    assert len(book.sheetnames[0]) <= 31 and book.sheetnames[0] != book.sheetnames[1]
    values = [r[0] for r in book[book.sheetnames[0]].iter_rows(values_only=True)]
    assert "Period: 2026-Q1" in values and "Period: 2026-Q2" in values
    assert values.count("Total (persons)") == 2
