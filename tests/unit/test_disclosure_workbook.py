"""The summaries' workbook (exports/summary_xlsx.py): a cross-tab per table with totals,
suppressed counts written as "x", a block per period, and the notes sheet."""

from __future__ import annotations

import io

import openpyxl

from exports.disclosure import Cell, CountTable, protect, published, unprotected
from exports.summary_xlsx import SummarySheet, summary_workbook


def region_by_level() -> CountTable:
    cells = {("TJ-SU", "low"): Cell(40, 11), ("TJ-SU", "high"): Cell(3, 5), ("TJ-KT", "low"): Cell(25, 7),
             ("TJ-KT", "high"): Cell(12, 3)}
    margins = ({"TJ-SU": Cell(43, 16), "TJ-KT": Cell(37, 10)}, {"low": Cell(65, 18), "high": Cell(15, 8)})
    return CountTable(("region", "risk_level"), (False, False), cells, margins, Cell(80, 26))


def test_cross_tab_with_totals_and_suppression() -> None:
    source = region_by_level()
    table = protect(source, 10)
    data = summary_workbook(
        [SummarySheet("Risk level by region", ("region", "risk_level"), [(None, table)], labels={"TJ-SU": "Sughd"})],
        [("k (threshold)", "10")],
    )
    book = openpyxl.load_workbook(io.BytesIO(data))
    assert book.sheetnames == ["Risk level by region", "Notes"]
    rows = [r for r in book["Risk level by region"].iter_rows(values_only=True) if any(v is not None for v in r)]
    assert rows[0] == ("Risk level by region", None, None, None)
    assert rows[1] == ("region \\ risk_level", "low", "high", "Total")
    def shown(cell):
        return published(cell, 10)

    c, m = source.cells, source.margins
    assert rows[2] == ("Sughd", shown(c[("TJ-SU", "low")]), "x", shown(m[0]["TJ-SU"]))
    assert rows[3] == ("TJ-KT", shown(c[("TJ-KT", "low")]), shown(c[("TJ-KT", "high")]), shown(m[0]["TJ-KT"]))
    assert rows[4] == ("Total", shown(m[1]["low"]), shown(m[1]["high"]), shown(source.total))
    assert list(book["Notes"].iter_rows(values_only=True))[1] == ("k (threshold)", "10")


def test_periods_one_d_and_long_titles() -> None:
    one = CountTable(("sex",), (False,), {("female",): Cell(12), ("male",): Cell(0)}, total=Cell(12))
    sheet = SummarySheet("A title that is much longer than thirty-one characters: yes",
                         ("sex",), [("2026-Q1", unprotected(one)), ("2026-Q2", unprotected(one))])
    book = openpyxl.load_workbook(io.BytesIO(summary_workbook([sheet, sheet], [])))
    assert len(book.sheetnames[0]) <= 31 and book.sheetnames[0] != book.sheetnames[1]
    values = [r[0] for r in book[book.sheetnames[0]].iter_rows(values_only=True)]
    assert "Period: 2026-Q1" in values and "Period: 2026-Q2" in values
    assert values.count("Total (persons)") == 2


def test_words_translate_titles_headings_and_template_notes() -> None:
    from exports.summary_xlsx import Words

    catalogue = {"Risk groups": "Группы риска", "Notes": "Примечания", "Total": "Итого",
                 "count": "число", "Total (persons)": "Всего (человек)",
                 "k (threshold)": "k (порог)", "Cells under %(k)s are x.": "Ячейки меньше %(k)s: x."}

    def translate(message, **variables):
        text = catalogue.get(message, message)
        return text % variables if variables else text

    one = CountTable(("risk_group",), (True,), {("CHILD",): Cell(12)}, total=Cell(12))
    words = Words(translate, {"risk_group": "Группа риска"},
                  lambda v: {"CHILD": "Ребёнок"}.get(v))
    data = summary_workbook([SummarySheet("Risk groups", ("risk_group",), [(None, unprotected(one))])],
                            [("k (threshold)", "Cells under %(k)s are x.", {"k": 10}), ("Project", "P")],
                            words=words)
    book = openpyxl.load_workbook(io.BytesIO(data))
    assert book.sheetnames == ["Группы риска", "Примечания"]
    rows = [r for r in book["Группы риска"].iter_rows(values_only=True) if any(r)]
    assert rows == [("Группы риска", None), ("Группа риска", "число"), ("Ребёнок", 12),
                    ("Всего (человек)", 12)]
    notes = list(book["Примечания"].iter_rows(values_only=True))
    assert notes[1:] == [("k (порог)", "Ячейки меньше 10: x."), ("Project", "P")]
