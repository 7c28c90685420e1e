"""Masking the answers of questions that identify a person (`Field.sensitive`, issue 24).

Pure: answers (the nested dict ingest stores) or submission XML in, the same shape out, with
every value at a masked path replaced by MASKED. Whether a reader sees them is decided in one
place, `api.auth.may_read_sensitive`; what to mask is `FormSchema.sensitive_paths`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import replace
from typing import Any

from lxml import etree

from forms.entities import entity_declarations
from forms.schema import Field, FormSchema, parse_xform
from forms.submission import parse_untrusted_xml

# What a reader without `sensitive.read` sees in a masked field (pages show it translated).
MASKED = "[masked]"


def _split(paths: Iterable[str]) -> dict[str, Any]:
    """{"a/b", "a/c", "d"} -> {"a": {"b": None, "c": None}, "d": None}."""
    tree: dict[str, Any] = {}
    for path in paths:
        node = tree
        steps = path.split("/")
        for step in steps[:-1]:
            child = node.get(step)
            if child is None:
                child = node[step] = {}
            node = child
        node[steps[-1]] = None
    return tree


def _mask(data: Any, tree: dict[str, Any]) -> Any:
    if data.__class__ is list:
        return [_mask(item, tree) for item in data]
    if data.__class__ is not dict:
        return data
    out = dict(data)
    for name, below in tree.items():
        if name not in out:
            continue
        if below is None:
            value = out[name]
            if value is not None and value != "":
                out[name] = [MASKED] * len(value) if value.__class__ is list else MASKED
        else:
            out[name] = _mask(out[name], below)
    return out


def mask_answers(answers: Any, paths: frozenset[str]) -> Any:
    """A copy of `answers` with the value at every path of `paths` (relative to the root,
    through repeats and groups) replaced by MASKED; unanswered fields stay empty."""
    if not paths:
        return answers
    return _mask(answers, _split(paths))


def _values(data: Any, tree: dict[str, Any]) -> Iterator[str]:
    if data.__class__ is list:
        for item in data:
            yield from _values(item, tree)
        return
    if data.__class__ is not dict:
        return
    for name, below in tree.items():
        value = data.get(name)
        if below is not None:
            yield from _values(value, below)
        elif value.__class__ is str:
            yield value.strip()
        elif value.__class__ is list:
            yield from (v.strip() for v in value if v.__class__ is str)


def masked_file_names(answers: Any, paths: frozenset[str]) -> frozenset[str]:
    """The file names the masked fields of `answers` hold (their attachments are not served)."""
    if not paths:
        return frozenset()
    return frozenset(v for v in _values(answers, _split(paths)) if v)


def withheld_file_names(
    answers: Any, paths: frozenset[str], binary_paths: frozenset[str]
) -> frozenset[str]:
    """The files a reader who gets `paths` masked may not fetch: those its masked file
    questions (`paths` & `binary_paths`) hold, and Collect's audit log (meta/audit), which can
    record the masked values (track changes) and where the interview happened. Only file
    questions count: a guessed name never tells a masked text answer."""
    if not paths:
        return frozenset()
    names = set(masked_file_names(answers, paths & binary_paths))
    meta = answers.get("meta") if answers.__class__ is dict else None
    audit = meta.get("audit") if meta.__class__ is dict else None
    if audit.__class__ is str and audit.strip():
        names.add(audit.strip())
    return frozenset(names)


def mask_client_audit_row(row: list, paths: frozenset[str], node_at: int,
                          masked_at: tuple[int, ...], values_at: tuple[int, ...]) -> list:
    """One event of a Collect audit log for a reader who gets `paths` masked: where it
    happened (latitude, longitude, accuracy: `masked_at`) always, and the old and new values
    (`values_at`) of a masked question."""
    row = list(row)
    for at in masked_at:
        if row[at]:
            row[at] = MASKED
    node = row[node_at] or ""
    steps = [s.split("[", 1)[0] for s in node.strip("/").split("/")[1:]]
    if "/".join(steps) in paths:
        for at in values_at:
            if row[at]:
                row[at] = MASKED
    return row


def mask_submission_xml(xml: bytes, paths: frozenset[str]) -> bytes:
    """The submission XML with the text of every element at a masked path replaced by MASKED
    (its children dropped); attributes and the rest are kept."""
    if not paths:
        return xml
    root = parse_untrusted_xml(xml)
    tree = _split(paths)

    def visit(element: etree._Element, node: dict[str, Any]) -> None:
        for child in element:
            if child.tag.__class__ is not str:
                continue
            name = etree.QName(child).localname
            if name not in node:
                continue
            below = node[name]
            if below is None:
                if (child.text or "").strip() or len(child):
                    for grandchild in list(child):
                        child.remove(grandchild)
                    child.text = MASKED
            else:
                visit(child, below)

    visit(root, tree)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def masked_schema(schema: FormSchema, paths: frozenset[str]) -> FormSchema:
    """The schema as a reader who gets `paths` masked sees it: those questions are text (they
    hold MASKED, whatever their type), with no choices. For typed feeds (OData's $metadata)."""
    if not paths:
        return schema

    def visit(fields: tuple[Field, ...]) -> tuple[Field, ...]:
        out = []
        for f in fields:
            if f.children:
                f = replace(f, children=visit(f.children))
            elif f.path in paths:
                f = replace(f, type="string", choices=(), choice_filter=None)
            out.append(f)
        return tuple(out)

    return replace(schema, fields=visit(schema.fields))


def sensitive_leaks(schema: FormSchema, declarations: Iterable) -> list[str]:
    """The places a form would copy a sensitive answer where masking does not reach: the
    instance name (shown in every list), an entity's label or a property it saves (entity
    lists, cases.csv on phones). Each is named by the sensitive question(s) it uses; a form
    with any is refused on upload."""
    paths = schema.sensitive_paths
    if not paths:
        return []
    root = schema.root_name

    def used_in(expression: str | None) -> list[str]:
        return sorted(p for p in paths if expression and re.search(
            rf"/{re.escape(root)}/{re.escape(p)}(?![\w.:/-])", expression))

    leaks = []
    try:
        name = schema.field("meta/instanceName")
    except KeyError:
        name = None
    if name is not None and used_in(name.calculate):
        leaks.append(f"instance_name: {', '.join(used_in(name.calculate))}")
    for declaration in declarations:
        if declaration.label_path:
            try:
                label = schema.field("/".join(declaration.label_path))
            except KeyError:
                label = None
            if label is not None and used_in(label.calculate):
                leaks.append(f"entity label ({declaration.dataset}): "
                             f"{', '.join(used_in(label.calculate))}")
        for prop, path in sorted(declaration.property_paths.items()):
            if path in paths:
                leaks.append(f"entity property {prop} ({declaration.dataset}): {path}")
    return leaks


def sensitive_leaks_in(xform: str) -> list[str]:
    """`sensitive_leaks` of a form not yet stored, from its XForm text (raises
    FormSchemaError when the XForm cannot be read)."""
    return sensitive_leaks(parse_xform(xform), entity_declarations(xform))
