"""One submission's nested answers -> one row per table (the root, then its repeats' rows).

Pure and stateful only in its counters: `RowBuilder.rows(record)` returns the rows of one
submission record in document order, with the values as the answers hold them (text), the
system columns as the record holds them, and 0/1 for split select_multiple choices (all
left empty when the question was not answered). Writers (CSV, XLSX) turn values into cells.

Keys follow Central: the root's KEY is the submission's instanceID; a repeat row's KEY is
its parent's KEY (the instanceID for the root) extended by the groups between them and
`<repeat>[n]` (n counts from 1 within the parent); PARENT_KEY is the parent's KEY.

`record` is a mapping with the columns of `db.submissions.stream_submissions_for_export`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from exports.layout import ExportLayout
from forms.sensitive import MASKED

_LEAF, _GEO, _MULTI, _GROUP, _REPEAT = range(5)

_SYSTEM_SOURCES = {
    "SubmissionDate": "created_at",
    "SubmitterID": "submitter_id",
    "SubmitterName": "submitter_name",
    "AttachmentsPresent": "attachments_present",
    "AttachmentsExpected": "attachments_expected",
    "ReviewState": "review_state",
    "DeviceID": "device_id",
    "Edits": "edits",
    "FormVersion": "form_version",
    "Status": None,  # Central: encryption status; no encrypted forms here
}


def _text(value: Any) -> str | None:
    """A leaf's value: text, or None. Repeated siblings where one was expected give the
    first text (the submission XML disagreed with the form)."""
    if value is None or value.__class__ is str:
        return value
    if value.__class__ is list:
        for item in value:
            if item.__class__ is str:
                return item
    return None


class RowBuilder:
    def __init__(self, layout: ExportLayout, table_names: list[str] | None = None):
        """table_names: what `_parent_table_name` calls each table (default: its name)."""
        self.layout = layout
        self.tables = layout.tables
        self.table_names = table_names or [t.name for t in layout.tables]
        self.widths = [len(t.columns) for t in self.tables]
        self.counters = [0] * len(self.tables)
        self.submissions = 0
        # column positions of the system/link columns per table
        self._system: list[tuple[int, str]] = []
        self._screening: list[tuple[int, str]] = []
        self._links: list[dict[str, int]] = []
        for t_index, table in enumerate(self.tables):
            links: dict[str, int] = {}
            for c_index, column in enumerate(table.columns):
                if column.source in (
                    "key",
                    "parent_key",
                    "index",
                    "parent_index",
                    "parent_table",
                    "submission_key",
                ):
                    links[column.source] = c_index
                elif t_index == 0 and column.source == "system":
                    source = _SYSTEM_SOURCES[column.name]
                    if source is not None:
                        self._system.append((c_index, source))
                elif t_index == 0 and column.source == "screening":
                    self._screening.append((c_index, column.part))
            self._links.append(links)
        self._plans = [self._plan(t_index) for t_index in range(len(self.tables))]

    def _plan(self, t_index: int) -> tuple:
        table = self.tables[t_index]
        positions: dict[tuple[str, Any], int] = {}
        for c_index, column in enumerate(table.columns):
            if column.field is not None:
                key = column.choice.name if column.source == "choice" else column.part
                positions.setdefault((column.field.path, column.source, key), c_index)

        def plan_of(children) -> tuple:
            steps = []
            for f in children:
                if f.kind == "repeat":
                    child = self.layout.table_of_repeat.get(f.path)
                    if child is not None:
                        steps.append((_REPEAT, f.name, child))
                elif f.type == "structure":
                    sub = plan_of(f.children)
                    if sub:
                        steps.append((_GROUP, f.name, sub))
                elif f.type == "geopoint":
                    first = positions.get((f.path, "geo", 0))
                    if first is not None:
                        parts = sum(1 for part in range(4) if (f.path, "geo", part) in positions)
                        steps.append((_GEO, f.name, first, parts))
                else:
                    at = positions.get((f.path, "field", None))
                    if at is None:
                        continue
                    choices = {
                        c.name: positions[(f.path, "choice", c.name)]
                        for c in f.choices
                        if (f.path, "choice", c.name) in positions
                    }
                    if choices:
                        steps.append((_MULTI, f.name, at, choices, tuple(choices.values())))
                    else:
                        steps.append((_LEAF, f.name, at))
            return tuple(steps)

        children = table.field.children if table.field is not None else self.layout.schema.fields
        return plan_of(children)

    def _fill(
        self,
        steps: tuple,
        data: Mapping[str, Any],
        row: list,
        path: str,
        row_key: str,
        out: list,
        row_index: int,
        submission_key: str,
    ) -> None:
        """Fill `row` (the table row whose KEY is `row_key`) from `data`; `path` is the KEY
        prefix of `data` (the row's key and the groups below it)."""
        for step in steps:
            kind = step[0]
            value = data.get(step[1])
            if kind == _LEAF:
                if value is not None:
                    row[step[2]] = value if value.__class__ is str else _text(value)
            elif kind == _GROUP:
                if value.__class__ is list:
                    value = value[0] if value else None
                if value.__class__ is dict:
                    self._fill(
                        step[2],
                        value,
                        row,
                        f"{path}/{step[1]}",
                        row_key,
                        out,
                        row_index,
                        submission_key,
                    )
            elif kind == _GEO:
                text = _text(value)
                if text == MASKED:  # every part of a masked point
                    for i in range(step[3]):
                        row[step[2] + i] = MASKED
                elif text:
                    at = step[2]
                    parts = text.split()
                    for i in range(min(4, len(parts))):
                        row[at + i] = parts[i]
            elif kind == _MULTI:
                text = _text(value)
                row[step[2]] = text
                if text == MASKED:  # a masked choice is masked in its 0/1 columns too
                    for at in step[4]:
                        row[at] = MASKED
                elif text is not None:
                    for at in step[4]:
                        row[at] = 0
                    choices = step[3]
                    for chosen in text.split():
                        at = choices.get(chosen)
                        if at is not None:
                            row[at] = 1
            else:  # _REPEAT
                if value is None:
                    continue
                occurrences = value if value.__class__ is list else [value]
                self._repeat(step, occurrences, path, row_key, out, row_index, submission_key)

    def _repeat(
        self,
        step: tuple,
        occurrences: list,
        path: str,
        parent_key: str,
        out: list,
        parent_index: int,
        submission_key: str,
    ) -> None:
        t_index = step[2]
        name = step[1]
        links = self._links[t_index]
        width = self.widths[t_index]
        parent_table = self.table_names[self.tables[t_index].parent]
        for n, occurrence in enumerate(occurrences, start=1):
            self.counters[t_index] += 1
            index = self.counters[t_index]
            row = [None] * width
            row_key = f"{path}/{name}[{n}]"
            row[links["key"]] = row_key
            row[links["parent_key"]] = parent_key
            if "index" in links:
                row[links["index"]] = index
                row[links["parent_index"]] = parent_index
                row[links["parent_table"]] = parent_table
                row[links["submission_key"]] = submission_key
            out.append((t_index, row))
            if occurrence.__class__ is dict:
                self._fill(
                    self._plans[t_index],
                    occurrence,
                    row,
                    row_key,
                    row_key,
                    out,
                    index,
                    submission_key,
                )

    def rows(self, record: Mapping[str, Any]) -> list[tuple[int, list]]:
        self.submissions += 1
        self.counters[0] += 1
        row: list = [None] * self.widths[0]
        instance_id = record["instance_id"]
        links = self._links[0]
        row[links["key"]] = instance_id
        if "index" in links:
            row[links["index"]] = self.counters[0]
        for at, source in self._system:
            row[at] = record[source]
        for at, source in self._screening:
            row[at] = record[source]
        out: list[tuple[int, list]] = [(0, row)]
        answers = record["answers"]
        if answers.__class__ is dict:
            self._fill(
                self._plans[0],
                answers,
                row,
                instance_id,
                instance_id,
                out,
                self.counters[0],
                instance_id,
            )
        return out
