"""Per-question survey reports: counts, shares and number summaries, optionally broken
down by one select_one question and/or by period, with disclosure control for viewers who
may not see microdata (shared/spec/summaries.md). Free text never appears: only how many
answered.

`plan_report(merged, spec)` resolves everything before any record is read; `build_report(
records, plan)` reads the records once (memory bounded by the number of distinct values, not
of records) and returns a JSON-ready dict; `report_xlsx(report)` renders it as a workbook.

Every count table has the breakdown's columns plus a total column, and a "(not answered)"
row, so that each column adds up to the units counted in it (submissions, or occurrences of
a repeat).

Under disclosure control (`spec.restricted`) the records are a publication's screenings
(db/publications.py), each with its record key, and every count is a cell published by the
one engine (exports/disclosure.py), as in the summaries: the same persons give the same
number in a report and in a summary. Only counts are shown then (no number statistics, no
histogram whose bins would tell the extremes), and rows or columns are listed from the form's
choices, or when they hold at least k persons, never because someone is in them.

Units: questions inside a repeat count repeat occurrences, not submissions.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import AsyncIterable, Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from io import BytesIO
from typing import Any

from exports.disclosure import (
    ACROSS_PUBLICATIONS_TEXT,
    DISTRICT_GUARD_FACTOR,
    EMPTY,
    N_,
    Cell,
    method,
    method_text,
    published,
)
from exports.layout import MergedForm, OptionError, label_in
from forms.schema import Field
from forms.vocabulary import PERIODS, region_of_district

CHOICE_TYPES = ("select_one", "select_multiple")
NUMBER_TYPES = ("int", "decimal", "range")
DATE_TYPES = ("date", "dateTime")
PERIOD_SOURCES = ("interview_date", "today", "start")  # else the submission date
NOT_ANSWERED = "(not answered)"
TOTAL = "total"
HISTOGRAM_BINS = 10


PERIOD_ONE_OF = N_("period must be one of %(values)s.")


class ReportOptionError(OptionError):
    """A report option the form cannot serve (its text a catalogue template)."""


@dataclass(frozen=True)
class ReportSpec:
    by: str | None = None
    period: str | None = None
    language: str | None = None
    restricted: bool = False  # disclosure control on
    k: int = 10
    # questions the reader may not read (sensitive): counted as answered or not, no values
    masked: frozenset[str] = frozenset()


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
        raise ReportOptionError(PERIOD_ONE_OF, {"values": ", ".join(PERIODS)})
    by = None
    if spec.by is not None:
        try:
            by = schema.field(spec.by)
        except KeyError:
            raise ReportOptionError(N_("The form has no field %(names)s."),
                                    {"names": repr(spec.by)}) from None
        if by.type != "select_one" or any(spec.by.startswith(r + "/") for r in schema.repeat_paths):
            raise ReportOptionError(
                N_("by=%(name)s: a report is broken down by a select_one question outside "
                   "repeats."),
                {"name": repr(spec.by)},
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
                if f.path in spec.masked:
                    kind = "text"
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
            if plan.spec.restricted:  # the month the publication counts the screening in
                month = record["month"]
                period = period_of(f"{month // 100:04d}-{month % 100:02d}", plan.spec.period) if month else None
            else:
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
        # a count under disclosure control is a cell: the persons and the sum of their keys
        self.unit = Cell(1, record["record_key"]) if self.plan.spec.restricted else 1
        group = self.group_of(answers, record)
        self.population[""][group] += self.unit
        self._count(answers, group, self.by_scope[""])
        for scope in self.plan.scopes[1:]:
            items = _occurrences(answers, self.plan.scope_steps[scope])
            if items:
                for item in items:
                    self.population[scope][group] += self.unit
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
            unit = self.unit
            self.answered[n][group] += unit
            counter = self.values[n].get(group)
            if counter is None:
                counter = self.values[n][group] = Counter()
            if kind == "multi":
                for chosen in set(value.split()):
                    counter[chosen] += unit
            elif kind == "number" and unit.__class__ is Cell:
                counter[value] += 1  # under disclosure control numbers give no statistics
            else:
                counter[value] += unit


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
        self.merge_labels: set[str] = set()
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
        if spec.restricted:
            # listed because at least k persons are in them, never because someone is
            per_period: dict = {}
            per_value: dict = {}
            for (value, period), cell in population.items():
                per_period[period] = per_period.get(period, EMPTY) + cell
                merged = self.merge.get((value, period), (value, period))[0]
                per_value[merged] = per_value.get(merged, EMPTY) + cell
            periods = [p for p in periods if per_period[p].n >= spec.k]
            known = {c.name for c in plan.by.choices} if plan.by is not None else set()
            by_values = [
                v for v in by_values
                if v in known or v in self.merge_labels or per_value.get(v, EMPTY).n >= spec.k
            ]
            present = {(v, p) for v in by_values for p in periods}
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
        (forms.vocabulary.region_of_district)."""
        minimum = DISTRICT_GUARD_FACTOR * plan.spec.k
        totals: dict = {}
        for (value, _), count in population.items():
            totals[value] = totals.get(value, 0) + (count.n if count.__class__ is Cell else count)
        schema = plan.merged.schema
        region = next((f for f in schema.walk() if f.name == "region" and f.choices), None)
        region_labels = {
            c.name: label_in(c.labels, plan.spec.language, schema.default_language) or c.name
            for c in (region.choices if region else ())
        }
        for value in list(by_values):
            if value is None or totals.get(value, 0) >= minimum:
                continue
            region_code = region_of_district(value) or ""
            other = f"other:{region_code}"
            if other not in by_labels:
                by_labels[other] = (
                    f"other districts of {region_labels.get(region_code, region_code or '?')}"
                )
                by_values.insert(by_values.index(None), other)
                self.merge_labels.add(other)
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
        self, row_specs: list[dict], counts: list[list], *, share_of: list | None = None
    ) -> dict:
        """counts: rows x (breakdown columns, total): numbers, or under disclosure control
        cells, each published by the engine (totals are cells of their own)."""
        spec = self.plan.spec
        if spec.restricted:
            shown = [[published(c if c.__class__ is Cell else EMPTY, spec.k) for c in row] for row in counts]
            denominators = (
                [published(c if c.__class__ is Cell else EMPTY, spec.k) for c in share_of]
                if share_of is not None else None
            )
        else:
            shown = [list(row) for row in counts]
            denominators = share_of
        suppressed = [[i, j] for i, row in enumerate(shown) for j, value in enumerate(row) if value is None]
        self.suppressed_cells += len(suppressed)
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
        return {"rows": row_specs, "counts": shown, "shares": shares, "suppressed": suppressed}


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
    populations: dict[str, list] = {}
    for scope in plan.scopes:
        counts = tables.spread(accumulator.population[scope])
        populations[scope] = counts
        label = "submissions" if scope == "" else f"occurrences of {scope}"
        table = tables.table([{"value": None, "label": label}], [counts])
        population_out.append({"scope": scope, "label": label, "table": table})
    questions_out = []
    for n, q in enumerate(plan.questions):
        f = q.field
        population = populations[q.scope]
        per_group = accumulator.values[n]
        answered = tables.spread(accumulator.answered[n])
        not_answered = [p - a for p, a in zip(population, answered, strict=True)]  # cells: the others
        entry: dict[str, Any] = {
            "path": f.path,
            "name": f.name,
            "label": label_in(f.labels, language, default),
            "type": f.type,
            "kind": q.kind,
            "scope": q.scope,
            **({"masked": True} if f.path in spec.masked else {}),
        }
        missing_row = {"value": None, "label": NOT_ANSWERED, "missing": True}
        if q.kind in ("choice", "multi", "date"):
            found = {v for c in per_group.values() for v in c}
            if spec.restricted:  # a value found in the data is listed when k persons have it
                found = {v for v in found if sum((c[v] for c in per_group.values() if c[v]), EMPTY).n >= spec.k}
            if q.kind == "date":
                values = sorted(found)
                row_specs = [{"value": v, "label": v} for v in values]
            else:
                known = [c.name for c in f.choices]
                extra = sorted(found - set(known))
                labels = {c.name: label_in(c.labels, language, default) for c in f.choices}
                values = known + extra
                row_specs = [{"value": v, "label": labels.get(v) or v} for v in values]
            counts = [
                tables.spread({g: c[v] for g, c in per_group.items() if c[v]}) for v in values
            ]
            if q.kind == "multi":
                entry["table"] = tables.table(row_specs, counts, share_of=answered)
                entry["answered"] = tables.table(
                    [{"value": "answered", "label": "answered"}, missing_row],
                    [answered, not_answered],
                    share_of=population,
                )
            else:
                entry["table"] = tables.table(
                    [*row_specs, missing_row], [*counts, not_answered], share_of=population
                )
        elif q.kind == "number" and spec.restricted:
            # no histogram (its bins would tell the smallest and largest answers), no statistics
            entry["table"] = tables.table(
                [{"value": "answered", "label": "answered"}, missing_row],
                [answered, not_answered],
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
                [*row_specs, missing_row], [*counts, not_answered], share_of=population
            )
            entry["stats"] = _number_stats(per_group, columns, spec)
        else:
            entry["table"] = tables.table(
                [{"value": "answered", "label": "answered"}, missing_row],
                [answered, not_answered],
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
                method(spec.k)["description"] + " Reports under disclosure control count the "
                "screenings of the current publication and show counts only (no number "
                "statistics or histograms)."
                if spec.restricted
                else None
            ),
            **({"method": method(spec.k)} if spec.restricted else {}),
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


# The words the report engine writes itself (row and column labels, statistics, the about
# sheet's keys): marked for the catalogues; the page and the workbook translate them with the
# reader's gettext (api/pages/research.py), REST keeps them in English.
REPORT_WORDS = {
    "(not answered)": N_("(not answered)"),
    "answered": N_("answered"),
    "submissions": N_("submissions"),
    "total": N_("total"),
    "Total": N_("Total"),
}
# The statistics of a number question (its `stats` keys), in order.
REPORT_STATS = {"n": N_("Answers"), "mean": N_("Mean"), "median": N_("Median"),
                "min": N_("Smallest"), "max": N_("Largest")}
ABOUT_WORDS = (
    N_("form"), N_("title"), N_("versions"), N_("breakdown by"), N_("period"),
    N_("period from"), N_("disclosure control"), N_("suppressed cells"), N_("rubric versions"),
    N_("rules"), N_("publication"), N_("revised months"), N_("maximum adjustment D"),
    N_("variance of the adjustment"), N_("perturbation table, count %(count)s"),
    N_("filter %(name)s"), N_("yes"), N_("no"), N_("none"), N_("suppressed"),
    N_("%(question)s: answered"), N_("about"), N_("report"), N_("method"),
    N_("across publications"),
)


def report_xlsx(report: dict, translate: Callable[[str], str] | None = None) -> bytes:
    """The report as a workbook: an `about` sheet, then one block per table in `report`.
    `translate` (a gettext) puts the engine's own words in the reader's language; labels come
    from the form in the report's language already."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    from exports.spreadsheet import append_text_safe

    _ = translate or (lambda text: text)

    def word(text):
        return _(REPORT_WORDS[text]) if text in REPORT_WORDS else text

    bold = Font(bold=True)
    book = Workbook()
    about = book.active
    about.title = _("about")
    disclosure = report["disclosure"]
    for key, value in (
        (_("form"), report["xmlFormId"]),
        (_("title"), report["title"]),
        (_("versions"), " ".join(report["versions"])),
        (_("breakdown by"), report["breakdown"]["by"] or ""),
        (_("period"), report["breakdown"]["period"] or ""),
        (_("period from"), report["breakdown"]["periodSource"] or ""),
        (_("disclosure control"), _("yes") if disclosure["applied"] else _("no")),
        ("k", disclosure["k"] if disclosure["k"] is not None else ""),
        (_("suppressed cells"), disclosure["suppressedCells"]),
        (_("rubric versions"), " ".join(disclosure["rubricVersions"])),
        (_("rules"), disclosure["rules"] or ""),
        *(
            (_("filter %(name)s") % {"name": name}, str(value))
            for name, value in (report.get("filters") or {}).items()
            if value
        ),
        *(
            (
                (_("publication"), report["publication"]["throughMonth"]),
                (_("revised months"),
                 ", ".join(report["publication"]["revisedMonths"]) or _("none")),
            )
            if report.get("publication")
            else ()
        ),
        *(
            (
                (_("method"), method_text(disclosure["k"], _)),
                (_("across publications"), _(ACROSS_PUBLICATIONS_TEXT)),
                (_("maximum adjustment D"), disclosure["method"]["maxAdjustment"]),
                (_("variance of the adjustment"), disclosure["method"]["variance"]),
                *(
                    (_("perturbation table, count %(count)s") % {"count": row["count"]},
                     ", ".join(f"{a}: {p}" for a, p in (row["adjustments"] or {}).items())
                     or _("suppressed"))
                    for row in disclosure["method"]["perturbationTable"]
                ),
            )
            if "method" in disclosure
            else ()
        ),
    ):
        append_text_safe(about, [key, value])
    sheet = book.create_sheet(_("report"))
    column_labels = [word(c["label"]) for c in report["breakdown"]["columns"]]

    def block(title: str, table: dict, *, subtitle: str = "") -> None:
        append_text_safe(sheet, [title, subtitle])
        sheet.cell(sheet.max_row, 1).font = bold
        append_text_safe(sheet, ["", *column_labels])
        for row_spec, counts in zip(table["rows"], table["counts"], strict=True):
            append_text_safe(
                sheet, [word(row_spec["label"]), *(_("suppressed") if c is None else c
                                                   for c in counts)]
            )
        append_text_safe(sheet, [])

    for population in report["population"]:
        block(population["label"], population["table"])
    for q in report["questions"]:
        title = q["label"] or q["name"]
        subtitle = f"{q['path']} ({q['type']})"
        block(title, q["table"], subtitle=subtitle)
        if "answered" in q:
            block(_("%(question)s: answered") % {"question": title}, q["answered"],
                  subtitle=subtitle)
        if "stats" in q:
            for name, values in q["stats"].items():
                label = _(REPORT_STATS[name]) if name in REPORT_STATS else name
                append_text_safe(sheet, [label, *("" if v is None else v for v in values)])
            append_text_safe(sheet, [])
    buffer = BytesIO()
    book.save(buffer)
    return buffer.getvalue()
