"""A submission's answers as a page shows them: the form's own labels in the reader's language
(question and choice labels from the XForm's translations), groups and repeats nested, files
marked as image / audio / video for inline display, and the difference between two versions.

Pure: a `FormSchema` and the stored answers (JSON, as `forms.submission` collects them) in,
plain dataclasses out.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from api.form_cache import version_schema
from api.http import media_kind
from exports.layout import ExportOptionError, label_in, resolve_language
from forms.schema import Field, FormSchema
from forms.sensitive import MASKED
from forms.vocabulary import METADATA_NAMES


async def schema_for_def(conn, def_id: int) -> FormSchema:
    """The parsed schema of a form version (api/form_cache.py keeps it)."""
    return await version_schema(conn, def_id)


def language_of(schema: FormSchema, locale: str) -> str | None:
    """The form's language for a page locale ("ru" -> "Russian (ru)"), else its default."""
    try:
        return resolve_language(schema, locale)
    except ExportOptionError:
        return schema.default_language


@dataclass
class Answer:
    path: str  # "/"-joined from the root, with [n] for repeat instances
    name: str
    label: str  # the question's label, else its name
    kind: str  # "value" | "group" | "repeat" | "instance"
    text: str | None = None  # the answer as shown (choice labels), None when blank
    code: str | None = None  # the raw value when a label was shown instead
    media: str | None = None  # "image" | "audio" | "video" | "file" for a binary answer
    masked: bool = False  # a question that identifies a person, masked for this reader
    type: str | None = None  # the field's type (date, dateTime, time... are formatted)
    technical: bool = False  # metadata (start, end, deviceid...) or an unlabelled calculation
    children: list[Answer] = field(default_factory=list)


def choice_text(f: Field, value: str, language: str | None, default: str | None) -> str | None:
    names = value.split() if f.type == "select_multiple" else [value]
    by_name = {c.name: c for c in f.choices}
    labels = []
    for name in names:
        choice = by_name.get(name)
        if choice is None:
            return None
        labels.append(label_in(choice.labels, language, default) or name)
    return ", ".join(labels)


def _value(f: Field, value: Any, language: str | None, default: str | None) -> Answer:
    label = label_in(f.labels, language, default)
    technical = not label and (f.name in METADATA_NAMES or f.kind == "calculate")
    answer = Answer(f.path, f.name, label or f.name, "value", type=f.type, technical=technical)
    if value is None or value == "" or isinstance(value, dict | list):
        return answer
    text = str(value)
    answer.text = text
    if text == MASKED:  # shown translated, never as a file link
        answer.masked = True
        return answer
    if f.type in ("select_one", "select_multiple") and f.choices:
        shown = choice_text(f, text, language, default)
        if shown is not None and shown != text:
            answer.text, answer.code = shown, text
    elif f.type == "binary":
        answer.media = media_kind(text)[0]
    return answer


def _shown(f: Field) -> bool:
    return f.kind != "meta" and f.type != "note" and f.name != "meta"


def _children(
    fields: tuple[Field, ...], answers: dict, language: str | None, default: str | None,
    prefix: str,
) -> list[Answer]:
    out = []
    for f in fields:
        if not _shown(f):
            continue
        value = answers.get(f.name) if isinstance(answers, dict) else None
        label = label_in(f.labels, language, default) or f.name
        path = prefix + f.name
        if f.kind == "repeat":
            instances = value if isinstance(value, list) else ([value] if value else [])
            node = Answer(path, f.name, label, "repeat")
            for n, item in enumerate(instances, start=1):
                node.children.append(Answer(
                    f"{path}[{n}]", f.name, label, "instance",
                    children=_children(f.children, item if isinstance(item, dict) else {},
                                       language, default, f"{path}[{n}]/"),
                ))
            out.append(node)
        elif f.children:
            children = _children(f.children, value if isinstance(value, dict) else {}, language,
                                 default, path + "/")
            if children or not f.relevant:
                out.append(Answer(path, f.name, label, "group", children=children))
        else:
            answer = _value(f, value, language, default)
            if answer.text is None and f.relevant:
                continue  # not asked: the form's logic skipped it
            answer.path = path
            out.append(answer)
    return out


def answer_tree(schema: FormSchema, answers: dict, language: str | None) -> list[Answer]:
    """The answers in form order, nested as the form nests them."""
    return _children(schema.fields, answers or {}, language, schema.default_language, "")


def _leaves(nodes: list[Answer], trail: tuple[str, ...] = ()) -> Iterator[tuple[str, str, Answer]]:
    for node in nodes:
        if node.kind == "value":
            yield node.path, " › ".join((*trail, node.label)), node
        elif node.kind == "instance":
            number = node.path.rsplit("[", 1)[-1].rstrip("]")
            yield from _leaves(node.children, (*trail, f"{node.label} {number}"))
        elif node.kind == "repeat":
            yield from _leaves(node.children, trail)
        else:
            yield from _leaves(node.children, (*trail, node.label))


@dataclass(frozen=True)
class Change:
    path: str
    label: str  # the question's label with its groups ("Call › Operator code")
    before: str | None
    after: str | None


def diff(
    schema: FormSchema, before: dict, after: dict, language: str | None
) -> list[Change]:
    """What changed from one version's answers to the next, question by question."""
    old = {path: (label, node) for path, label, node in _leaves(answer_tree(schema, before, language))}
    new = {path: (label, node) for path, label, node in _leaves(answer_tree(schema, after, language))}
    changes = []
    for path in [*new, *(p for p in old if p not in new)]:
        was = old.get(path, (None, None))[1]
        now = new.get(path, (None, None))[1]
        was_text = was.text if was else None
        now_text = now.text if now else None
        if was_text != now_text:
            label = (new.get(path) or old[path])[0]
            changes.append(Change(path, label, was_text, now_text))
    return changes


def walk_answers(nodes: list[Answer]) -> Iterator[Answer]:
    """Every node of an answer tree, depth first."""
    for node in nodes:
        yield node
        yield from walk_answers(node.children)
