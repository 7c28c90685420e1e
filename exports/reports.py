"""Per-question survey reports: counts, shares and number summaries, optionally broken
down by one select_one question and/or by period, with disclosure control for viewers who
may not see microdata (shared/spec/summaries.md). Free text never appears: only how many
answered.

`plan_report(merged, spec)` resolves everything before any record is read; `build_report(
records, plan)` reads the records once (memory bounded by the number of distinct values, not
of records) and returns a JSON-ready dict; `report_xlsx(report)` renders it as a workbook.

Every count table has the breakdown's columns plus a total column, and a "(not answered)"
row, so that each column adds up to the units counted in it (submissions, or occurrences of
a repeat). Those column totals are shared by all the questions of a scope, so disclosure
control decides them once (the population table) and locks them in every question's table.

Units: questions inside a repeat count repeat occurrences, not submissions.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import AsyncIterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from io import BytesIO
from typing import Any

from exports.layout import MergedForm, label_in
from exports.suppression import suppress
from forms.schema import Field

PERIODS = ("month", "quarter", "year")
CHOICE_TYPES = ("select_one", "select_multiple")
NUMBER_TYPES = ("int", "decimal", "range")
DATE_TYPES = ("date", "dateTime")
PERIOD_SOURCES = ("interview_date", "today", "start")  # else the submission date
DISTRICT_GUARD_FACTOR = 5
NOT_ANSWERED = "(not answered)"
TOTAL = "total"
HISTOGRAM_BINS = 10


class ReportOptionError(Exception):
    pass


@dataclass(frozen=True)
class ReportSpec:
    by: str | None = None
    period: str | None = None
    language: str | None = None
    restricted: bool = False  # disclosure control on
    k: int = 10


@dataclass(frozen=True)
class Question:
    field: Field
    kind: str  # choice | multi | number | date | text
    scope: str  # "" or the repeat's path
    steps: tuple[str, ...]  # names from the scope's instance down to the field


@dataclass(frozen=True)
class ReportPlan:
    merged: MergedForm
    spec: ReportSpec
    by: Field | None
    by_steps: tuple[str, ...]
    period_source: Field | None
    period_steps: tuple[str, ...]
    questions: tuple[Question, ...]
    scopes: tuple[str, ...]  # "" first, then repeat paths
    scope_steps: dict[str, tuple[tuple[str, ...], ...]]  # repeat path -> steps per level


def _kind(f: Field) -> str | None:
    if f.kind not in ("question", "calculate") or f.type in ("note", "structure"):
        return None
    if f.type == "select_one":
        return "choice"
    if f.type == "select_multiple":
        return "multi"
    if f.type in NUMBER_TYPES:
        return "number"
    if f.type in DATE_TYPES:
        return "date"
    return "text"


def plan_report(merged: MergedForm, spec: ReportSpec) -> ReportPlan:
    schema = merged.schema
    if spec.period is not None and spec.period not in PERIODS:
        raise ReportOptionError(f"period must be one of {', '.join(PERIODS)}")
    by = None
    if spec.by is not None:
        try:
            by = schema.field(spec.by)
        except KeyError:
            raise ReportOptionError(f"The form has no field {spec.by!r}.") from None
        if by.type != "select_one" or any(spec.by.startswith(r + "/") for r in schema.repeat_paths):
            raise ReportOptionError(
                f"by={spec.by!r}: a report is broken down by a select_one question outside repeats."
            )
    period_source = None
    for name in PERIOD_SOURCES:
        period_source = next(
            (
                f
                for f in schema.walk()
                if f.name == name
                and f.type in DATE_TYPES
                and not any(f.path.startswith(r + "/") for r in schema.repeat_paths)
            ),
            None,
        )
        if period_source is not None:
            break
    questions: list[Question] = []
    scopes = [""]
    scope_steps: dict[str, tuple[tuple[str, ...], ...]] = {}

    def visit(children, scope: str, prefix: tuple[str, ...], levels: tuple[tuple[str, ...], ...]):
        for f in children:
            if f.kind == "repeat":
                scopes.append(f.path)
                inner_levels = (*levels, (*prefix, f.name))
                scope_steps[f.path] = inner_levels
                visit(f.children, f.path, (), inner_levels)
            elif f.type == "structure":
                if f.kind != "meta":
                    visit(f.children, scope, (*prefix, f.name), levels)
            else:
                kind = _kind(f)
                if kind is None:
                    continue
                if spec.by is not None and f is by:
                    continue  # its distribution is the population table
                if spec.period is not None and period_source is not None and f is period_source:
                    continue
                questions.append(Question(f, kind, scope, (*prefix, f.name)))

    visit(schema.fields, "", (), ())
    return ReportPlan(
        merged=merged,
        spec=spec,
        by=by,
        by_steps=tuple(spec.by.split("/")) if spec.by else (),
        period_source=period_source,
        period_steps=tuple(period_source.path.split("/")) if period_source else (),
        questions=tuple(questions),
        scopes=tuple(scopes),
        scope_steps=scope_steps,
    )


def _get(data: Any, steps: tuple[str, ...]) -> Any:
    for step in steps:
        if data.__class__ is list:
            data = data[0] if data else None
        if data.__class__ is not dict:
            return None
        data = data.get(step)
    if data.__class__ is list:
        data = next((v for v in data if v.__class__ is str), None)
    return data if data.__class__ is str and data.strip() else None


def _occurrences(data: Any, levels: tuple[tuple[str, ...], ...]) -> list[dict]:
    current = [data] if data.__class__ is dict else []
    for level in levels:
        found = []
        for item in current:
            node: Any = item
            for step in level[:-1]:
                node = node.get(step) if node.__class__ is dict else None
            value = node.get(level[-1]) if node.__class__ is dict else None
            if value.__class__ is list:
                found += [v if v.__class__ is dict else {} for v in value]
            elif value.__class__ is dict:
                found.append(value)
        current = found
    return current


def period_of(text: str | date | datetime | None, period: str) -> str | None:
    if text is None:
        return None
    if isinstance(text, datetime | date):
        year, month = text.year, text.month
    else:
        try:
            year, month = int(text[:4]), int(text[5:7])
        except ValueError:
            return None
        if not 1 <= month <= 12:
            return None
    if period == "year":
        return f"{year:04d}"
    if period == "quarter":
        return f"{year:04d}-Q{(month - 1) // 3 + 1}"
    return f"{year:04d}-{month:02d}"


def _number(text: str) -> float | int | None:
    try:
        value = float(text)
    except ValueError:
        return None
    if not math.isfinite(value):
        return None
    return int(value) if value.is_integer() else value


class _Accumulator:
    def __init__(self, plan: ReportPlan):
        self.plan = plan
        self.population: dict[str, Counter] = {s: Counter() for s in plan.scopes}
        self.values: list[dict[Any, Counter]] = [{} for _ in plan.questions]
        self.answered: list[Counter] = [Counter() for _ in plan.questions]
        self.rubric_versions: Counter = Counter()
        self.by_scope: dict[str, list[int]] = {s: [] for s in plan.scopes}
        for n, q in enumerate(plan.questions):
            self.by_scope[q.scope].append(n)
        self.date_period = plan.spec.period or "month"

    def group_of(self, answers: Any, record: Mapping[str, Any]) -> tuple:
        plan = self.plan
        by = _get(answers, plan.by_steps) if plan.by is not None else None
        period = None
        if plan.spec.period is not None:
            source = _get(answers, plan.period_steps) if plan.period_source else None
            period = period_of(source or record["created_at"], plan.spec.period)
        return (by, period)

    def add(self, record: Mapping[str, Any]) -> None:
        answers = record["answers"]
        if answers.__class__ is not dict:
            answers = {}
        rubric = record.get("rubric_version")
        if rubric:
            self.rubric_versions[rubric] += 1
        group = self.group_of(answers, record)
        self.population[""][group] += 1
        self._count(answers, group, self.by_scope[""])
        for scope in self.plan.scopes[1:]:
            items = _occurrences(answers, self.plan.scope_steps[scope])
            if items:
                self.population[scope][group] += len(items)
                for item in items:
                    self._count(item, group, self.by_scope[scope])

    def _count(self, data: dict, group: tuple, indexes: list[int]) -> None:
        questions = self.plan.questions
        for n in indexes:
            q = questions[n]
            value = _get(data, q.steps)
            if value is None:
                continue
            kind = q.kind
            if kind == "number":
                value = _number(value)
                if value is None:
                    continue
            elif kind == "date":
                value = period_of(value, self.date_period)
                if value is None:
                    continue
            elif kind == "text":
                value = True
            self.answered[n][group] += 1
            counter = self.values[n].get(group)
            if counter is None:
                counter = self.values[n][group] = Counter()
            if kind == "multi":
                for chosen in set(value.split()):
                    counter[chosen] += 1
            else:
                counter[value] += 1


def _nice_width(span: float, bins: int, integer: bool) -> float:
    raw = span / bins if span > 0 else 1
    magnitude = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        width = factor * magnitude
        if width >= raw and (not integer or float(width).is_integer()):
            return width
    return 10 * magnitude


def _histogram_edges(values: Counter) -> list[float]:
    low, high = min(values), max(values)
    integer = all(isinstance(v, int) for v in values)
    width = _nice_width(high - low, HISTOGRAM_BINS, integer)
    start = math.floor(low / width) * width
    edges = [start]
    while edges[-1] <= high:
        edges.append(edges[-1] + width)
    return [int(e) if integer else e for e in edges]


def _bin_label(lo: float, hi: float, integer: bool) -> str:
    if integer:
        return f"{lo}–{hi - 1}" if hi - 1 != lo else f"{lo}"
    return f"[{lo:g}, {hi:g})"


def _median(counter: Counter) -> float | None:
    total = sum(counter.values())
    if not total:
        return None
    ordered = sorted(counter.items())
    middle = (total - 1) / 2
    lower_at, upper_at = math.floor(middle), math.ceil(middle)
    seen = 0
    lower = upper = None
    for value, count in ordered:
        if lower is None and seen + count > lower_at:
            lower = value
        if seen + count > upper_at:
            upper = value
            break
        seen += count
    return (lower + upper) / 2


class _Columns:
    """The breakdown's columns (raw group keys merged by the district guard) and total."""

    def __init__(self, plan: ReportPlan, population: Counter):
        spec = plan.spec
        language, default = spec.language, plan.merged.schema.default_language
        self.merge: dict[tuple, tuple] = {}
        by_values: list[str | None] = []
        by_labels: dict[str | None, str] = {}
        if plan.by is not None:
            for choice in plan.by.choices:
                by_values.append(choice.name)
                by_labels[choice.name] = label_in(choice.labels, language, default) or choice.name
            seen = {g[0] for g in population}
            by_values += sorted(v for v in seen if v is not None and v not in by_labels)
            by_values.append(None)
            by_labels[None] = NOT_ANSWERED
            if spec.restricted and plan.by.name == "district":
                self._district_guard(plan, population, by_values, by_labels)
        periods = sorted({g[1] for g in population if g[1] is not None}, key=str)
        if plan.spec.period is not None and any(g[1] is None for g in population):
            periods.append(None)
        keys: list[tuple] = []
        present = {self.merge.get(g, g) for g in population}
        for by_value in by_values if plan.by is not None else [None]:
            for period in periods if plan.spec.period is not None else [None]:
                key = (by_value, period)
                if key in present or (plan.spec.period is None and plan.by is not None):
                    keys.append(key)
        if plan.by is None and plan.spec.period is None:
            keys = []
        self.keys = keys
        self.index = {key: n for n, key in enumerate(keys)}
        self.describe = [
            {
                "key": "|".join(
                    "" if part is None else str(part)
                    for part, active in zip(
                        key, (plan.by is not None, plan.spec.period is not None), strict=True
                    )
                    if active
                ),
                "by": key[0],
                "byLabel": by_labels.get(key[0]) if plan.by is not None else None,
                "period": key[1],
                "label": " ".join(
                    p
                    for p in (
                        by_labels.get(key[0]) if plan.by is not None else None,
                        (key[1] or NOT_ANSWERED) if plan.spec.period is not None else None,
                    )
                    if p
                ),
            }
            for key in keys
        ] + [{"key": TOTAL, "by": None, "byLabel": None, "period": None, "label": "Total"}]

    def _district_guard(self, plan, population, by_values, by_labels) -> None:
        """Districts with fewer than 5k units are merged into 'other districts of <region>'
        (district codes start with their region's code: TJ-SU-KHUJAND is in TJ-SU)."""
        minimum = DISTRICT_GUARD_FACTOR * plan.spec.k
        totals: Counter = Counter()
        for (value, _), count in population.items():
            totals[value] += count
        schema = plan.merged.schema
        region = next((f for f in schema.walk() if f.name == "region" and f.choices), None)
        region_labels = {
            c.name: label_in(c.labels, plan.spec.language, schema.default_language) or c.name
            for c in (region.choices if region else ())
        }
        for value in list(by_values):
            if value is None or totals[value] >= minimum:
                continue
            region_code = value.rsplit("-", 1)[0] if value.count("-") >= 2 else ""
            other = f"other:{region_code}"
            if other not in by_labels:
                by_labels[other] = (
                    f"other districts of {region_labels.get(region_code, region_code or '?')}"
                )
                by_values.insert(by_values.index(None), other)
            for key in list(population):
                if key[0] == value:
                    self.merge[key] = (other, key[1])
            by_values.remove(value)

    def column_of(self, group: tuple) -> int | None:
        return self.index.get(self.merge.get(group, group))


class _Tables:
    def __init__(self, plan: ReportPlan, columns: _Columns):
        self.plan = plan
        self.columns = columns
        self.width = len(columns.keys)
        self.suppressed_cells = 0

    def spread(self, per_group: Mapping[tuple, int]) -> list[int]:
        """Counts per breakdown column, then the total."""
        row = [0] * (self.width + 1)
        for group, count in per_group.items():
            at = self.columns.column_of(group)
            if at is not None:
                row[at] += count
            row[-1] += count
        return row

    def table(
        self,
        row_specs: list[dict],
        counts: list[list[int]],
        *,
        additive: bool,
        locked_margin: dict[int, bool] | None = None,
        complements: list[list[int]] | None = None,
        share_of: list[int] | None = None,
    ) -> dict:
        """counts: rows x (breakdown columns, total). additive: the rows add up to the
        scope's population (appended as the column totals for disclosure control)."""
        grid = counts
        spec = self.plan.spec
        suppressed: set[tuple[int, int]] = set()
        if spec.restricted:
            cells = [list(r) for r in grid]
            locked: dict[tuple[int, int], bool] = {}
            also: set[tuple[int, int]] = set()
            if additive:
                cells.append([sum(col) for col in zip(*grid, strict=True)] if grid else [])
                for j, hidden in (locked_margin or {}).items():
                    locked[(len(cells) - 1, j)] = hidden
            if complements is not None:
                for i, row in enumerate(complements):
                    for j, value in enumerate(row):
                        if 0 < value < spec.k:
                            also.add((i, j))
            if cells and cells[0]:
                suppressed = suppress(
                    cells,
                    spec.k,
                    row_totals=True,
                    column_totals=additive,
                    locked=locked,
                    also=also,
                )
            suppressed = {(i, j) for i, j in suppressed if i < len(grid)}
        self.suppressed_cells += len(suppressed)
        shown = [
            [None if (i, j) in suppressed else value for j, value in enumerate(row)]
            for i, row in enumerate(grid)
        ]
        denominators = share_of
        shares = None
        if denominators is not None:
            shares = [
                [
                    None
                    if value is None or not denominators[j]
                    else round(value / denominators[j], 4)
                    for j, value in enumerate(row)
                ]
                for row in shown
            ]
        return {
            "rows": row_specs,
            "counts": shown,
            "shares": shares,
            "suppressed": sorted([i, j] for i, j in suppressed),
        }


def _population_margin(table: dict) -> dict[int, bool]:
    return {j: value is None for j, value in enumerate(table["counts"][0])}


async def build_report(records: AsyncIterable[Mapping[str, Any]], plan: ReportPlan) -> dict:
    accumulator = _Accumulator(plan)
    async for record in records:
        accumulator.add(record)
    return finish_report(accumulator, plan)


def finish_report(accumulator: _Accumulator, plan: ReportPlan) -> dict:
    spec = plan.spec
    schema = plan.merged.schema
    language, default = spec.language, schema.default_language
    columns = _Columns(plan, accumulator.population[""])
    tables = _Tables(plan, columns)
    population_out = []
    margins: dict[str, dict[int, bool]] = {}
    populations: dict[str, list[int]] = {}
    for scope in plan.scopes:
        counts = tables.spread(accumulator.population[scope])
        populations[scope] = counts
        label = "submissions" if scope == "" else f"occurrences of {scope}"
        table = tables.table([{"value": None, "label": label}], [counts], additive=False)
        margins[scope] = _population_margin(table)
        population_out.append({"scope": scope, "label": label, "table": table})
    questions_out = []
    for n, q in enumerate(plan.questions):
        f = q.field
        population = populations[q.scope]
        per_group = accumulator.values[n]
        answered = tables.spread(accumulator.answered[n])
        not_answered = [p - a for p, a in zip(population, answered, strict=True)]
        entry: dict[str, Any] = {
            "path": f.path,
            "name": f.name,
            "label": label_in(f.labels, language, default),
            "type": f.type,
            "kind": q.kind,
            "scope": q.scope,
        }
        missing_row = {"value": None, "label": NOT_ANSWERED, "missing": True}
        if q.kind in ("choice", "multi", "date"):
            if q.kind == "date":
                values = sorted({v for c in per_group.values() for v in c})
                row_specs = [{"value": v, "label": v} for v in values]
            else:
                known = [c.name for c in f.choices]
                extra = sorted({v for c in per_group.values() for v in c} - set(known))
                labels = {c.name: label_in(c.labels, language, default) for c in f.choices}
                values = known + extra
                row_specs = [{"value": v, "label": labels.get(v) or v} for v in values]
            counts = [
                tables.spread({g: c[v] for g, c in per_group.items() if c[v]}) for v in values
            ]
            if q.kind == "multi":
                complements = [
                    [a - c for a, c in zip(answered, row, strict=True)] for row in counts
                ]
                entry["table"] = tables.table(
                    row_specs, counts, additive=False, complements=complements, share_of=answered
                )
                entry["answered"] = tables.table(
                    [{"value": "answered", "label": "answered"}, missing_row],
                    [answered, not_answered],
                    additive=True,
                    locked_margin=margins[q.scope],
                    share_of=population,
                )
            else:
                entry["table"] = tables.table(
                    [*row_specs, missing_row],
                    [*counts, not_answered],
                    additive=True,
                    locked_margin=margins[q.scope],
                    share_of=population,
                )
        elif q.kind == "number":
            everything: Counter = Counter()
            for counter in per_group.values():
                everything.update(counter)
            row_specs, counts = [], []
            if everything:
                edges = _histogram_edges(everything)
                integer = all(isinstance(v, int) for v in everything)
                for lo, hi in zip(edges, edges[1:], strict=False):
                    row_specs.append({"value": [lo, hi], "label": _bin_label(lo, hi, integer)})
                    counts.append(
                        tables.spread(
                            {
                                g: sum(c for v, c in counter.items() if lo <= v < hi)
                                for g, counter in per_group.items()
                            }
                        )
                    )
            entry["table"] = tables.table(
                [*row_specs, missing_row],
                [*counts, not_answered],
                additive=True,
                locked_margin=margins[q.scope],
                share_of=population,
            )
            entry["stats"] = _number_stats(per_group, columns, spec)
        else:
            entry["table"] = tables.table(
                [{"value": "answered", "label": "answered"}, missing_row],
                [answered, not_answered],
                additive=True,
                locked_margin=margins[q.scope],
                share_of=population,
            )
        questions_out.append(entry)
    return {
        "xmlFormId": schema.xml_form_id,
        "title": schema.title,
        "versions": list(plan.merged.versions),
        "language": language,
        "breakdown": {
            "by": spec.by,
            "byLabel": label_in(plan.by.labels, language, default) if plan.by else None,
            "period": spec.period,
            "periodSource": (
                (plan.period_source.path if plan.period_source else "SubmissionDate")
                if spec.period
                else None
            ),
            "columns": columns.describe,
        },
        "population": population_out,
        "questions": questions_out,
        "disclosure": {
            "applied": spec.restricted,
            "k": spec.k if spec.restricted else None,
            "suppressedCells": tables.suppressed_cells,
            "rubricVersions": sorted(accumulator.rubric_versions),
            "rules": (
                "Counts from 1 to k-1 are suppressed, with complementary cells so none can be "
                "recovered from totals; minimum and maximum are not shown; mean and median "
                "only for at least k answers."
                if spec.restricted
                else None
            ),
        },
    }


def _number_stats(per_group: dict[tuple, Counter], columns: _Columns, spec: ReportSpec) -> dict:
    merged: list[Counter] = [Counter() for _ in columns.keys]
    total: Counter = Counter()
    for group, counter in per_group.items():
        at = columns.column_of(group)
        if at is not None:
            merged[at].update(counter)
        total.update(counter)
    out: dict[str, list] = {"n": [], "mean": [], "median": [], "min": [], "max": []}
    for counter in [*merged, total]:
        n = sum(counter.values())
        hidden = spec.restricted and n < spec.k
        mean = sum(v * c for v, c in counter.items()) / n if n else None
        median = _median(counter)
        out["n"].append(None if spec.restricted else n)
        out["mean"].append(None if hidden or mean is None else round(mean, 4))
        out["median"].append(None if hidden else median)
        out["min"].append(None if spec.restricted or not n else min(counter))
        out["max"].append(None if spec.restricted or not n else max(counter))
    return out


def report_xlsx(report: dict) -> bytes:
    """The report as a workbook: an `about` sheet, then one block per table in `report`."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    bold = Font(bold=True)
    book = Workbook()
    about = book.active
    about.title = "about"
    disclosure = report["disclosure"]
    for key, value in (
        ("form", report["xmlFormId"]),
        ("title", report["title"]),
        ("versions", " ".join(report["versions"])),
        ("breakdown by", report["breakdown"]["by"] or ""),
        ("period", report["breakdown"]["period"] or ""),
        ("period from", report["breakdown"]["periodSource"] or ""),
        ("disclosure control", "yes" if disclosure["applied"] else "no"),
        ("k", disclosure["k"] if disclosure["k"] is not None else ""),
        ("suppressed cells", disclosure["suppressedCells"]),
        ("rubric versions", " ".join(disclosure["rubricVersions"])),
        ("rules", disclosure["rules"] or ""),
        *(
            (f"filter {name}", str(value))
            for name, value in (report.get("filters") or {}).items()
            if value
        ),
    ):
        about.append([key, value])
    sheet = book.create_sheet("report")
    column_labels = [c["label"] for c in report["breakdown"]["columns"]]

    def block(title: str, table: dict, *, subtitle: str = "") -> None:
        sheet.append([title, subtitle])
        sheet.cell(sheet.max_row, 1).font = bold
        sheet.append(["", *column_labels])
        for row_spec, counts in zip(table["rows"], table["counts"], strict=True):
            sheet.append([row_spec["label"], *("suppressed" if c is None else c for c in counts)])
        sheet.append([])

    for population in report["population"]:
        block(population["label"], population["table"])
    for q in report["questions"]:
        title = q["label"] or q["name"]
        subtitle = f"{q['path']} ({q['type']})"
        block(title, q["table"], subtitle=subtitle)
        if "answered" in q:
            block(f"{title}: answered", q["answered"], subtitle=subtitle)
        if "stats" in q:
            for name, values in q["stats"].items():
                sheet.append([name, *("" if v is None else v for v in values)])
            sheet.append([])
    buffer = BytesIO()
    book.save(buffer)
    return buffer.getvalue()
