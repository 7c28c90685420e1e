"""XForm -> `FormSchema`: the field tree that exports, OData, reports and ingest rely on.

Pure: XForm text in, frozen dataclasses out, or `FormSchemaError` with a stable `kind`.
Parsing goes through `forms.submission.parse_untrusted_xml` (no DTD, no entities, no network).

Rules, in the order they are applied:
- Order and nesting follow the main instance (what Central does for exports); repeated
  instance elements (pyxform writes a `jr:template` copy and a default copy) count once.
- A repeat is an instance element with a `jr:template` attribute or a body `<repeat nodeset>`;
  a group is any other element with child elements or a body `<group ref>`. Both have
  type "structure". The top-level `meta` element is a group; every field below it has
  kind "meta".
- A leaf with no body control and a `calculate` bind is kind "calculate"; every other leaf is
  kind "question" (including preloads without a control such as `start`/`end`).
- Types come from the bind `type` (namespace prefix stripped, "integer" -> "int"); no type is
  "string". Body controls decide select types: select1 -> "select_one",
  select -> "select_multiple", odk:rank -> "rank". A readonly string with a control, no
  calculate and no default value is a "note".
- `required` / `readonly` are True only for the literal "true()"; a conditional expression
  counts as False.
- Labels and hints: `jr:itext('id')` is resolved to {language: text} (only the plain value,
  not image/audio/video/guidance forms); a plain label is {"default": text}. `<output
  value="/data/x"/>` is rendered as `${x}` (any other expression as `${expression}`).
- Sensitive (identifying) fields: a bind attribute whose local name is `sensitive` (the
  XLSForm column `sensitive`, written by forms/compile.py as `fs:sensitive` in the namespace
  `SENSITIVE_NS`; an uploaded XForm may use any prefix) with a value other than `no`,
  `false`, `false()`, `0` or empty marks the field, and every field below a marked group or
  repeat. An unknown value marks it too: a typo never leaves a name readable.
- Choices: inline `<item>`s, or every item of the secondary instance an `<itemset>` points at
  (the predicate is kept verbatim in `choice_filter`). Itemsets over the main instance or over
  external files (`jr://file-csv/...`) have no choices here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from lxml import etree

from forms.submission import SubmissionParseError, local_attribute, parse_untrusted_xml

XHTML_NS = "http://www.w3.org/1999/xhtml"
XFORMS_NS = "http://www.w3.org/2002/xforms"
JR_NS = "http://openrosa.org/javarosa"

DEFAULT_MAX_XFORM_BYTES = 50_000_000
DEFAULT_LABEL_KEY = "default"

# The namespace of the `sensitive` bind attribute the XLSForm column becomes.
SENSITIVE_NS = "urn:fieldsurvey:xforms"
_NOT_SENSITIVE = frozenset({"", "no", "false", "false()", "0"})

FIELD_KINDS = ("group", "repeat", "question", "calculate", "meta")

_BODY_CONTROLS = frozenset({"input", "select1", "select", "rank", "upload", "trigger", "range"})
_SELECT_TYPES = {"select1": "select_one", "select": "select_multiple", "rank": "rank"}
_TYPE_ALIASES = {"integer": "int", "select1": "select_one", "select": "select_multiple"}


class FormSchemaError(Exception):
    """The XForm cannot be read. `kind` is one of: xform-invalid, form-id-missing."""

    def __init__(self, kind: str, message: str):
        self.kind = kind
        super().__init__(message)


@dataclass(frozen=True)
class Choice:
    name: str
    labels: dict[str, str]


@dataclass(frozen=True)
class Field:
    name: str
    path: str
    kind: str
    type: str
    labels: dict[str, str]
    hints: dict[str, str]
    relevant: str | None
    constraint: str | None
    constraint_message: dict[str, str] | str | None
    required: bool
    calculate: str | None
    readonly: bool
    choices: tuple[Choice, ...]
    choice_filter: str | None
    children: tuple[Field, ...]
    sensitive: bool = False  # identifies a person: masked for readers without sensitive.read


@dataclass(frozen=True)
class FormSchema:
    xml_form_id: str
    version: str
    title: str
    languages: tuple[str, ...]
    default_language: str | None
    root_name: str
    fields: tuple[Field, ...]

    def walk(self) -> Iterator[Field]:
        """Every field, depth first, parents before their children, in instance order."""
        stack = list(reversed(self.fields))
        while stack:
            current = stack.pop()
            yield current
            stack.extend(reversed(current.children))

    @cached_property
    def _by_path(self) -> dict[str, Field]:
        return {f.path: f for f in self.walk()}

    @cached_property
    def repeat_paths(self) -> frozenset[str]:
        return frozenset(f.path for f in self.walk() if f.kind == "repeat")

    @cached_property
    def sensitive_paths(self) -> frozenset[str]:
        """The paths of the leaves that identify a person (groups' marks passed down)."""
        return frozenset(
            f.path for f in self.walk() if f.sensitive and f.type != "structure"
        )

    @cached_property
    def binary_paths(self) -> frozenset[str]:
        return frozenset(f.path for f in self.walk() if f.type == "binary")

    def field(self, path: str) -> Field:
        """The field at a "/"-joined path relative to the root; KeyError if there is none."""
        return self._by_path[path]


def _local(tag: Any) -> str:
    if tag.__class__ is not str:
        return ""
    return tag[tag.index("}") + 1 :] if tag[0] == "{" else tag


def _elements(parent: etree._Element) -> Iterator[etree._Element]:
    for child in parent:
        if child.tag.__class__ is str:
            yield child


def _child(parent: etree._Element, name: str) -> etree._Element | None:
    for child in _elements(parent):
        if _local(child.tag) == name:
            return child
    return None


def _render_output(expression: str) -> str:
    expression = expression.strip()
    if expression.startswith("/") and all(c not in expression for c in " ()[]'\"=<>+*|,"):
        return "${" + expression.rstrip("/").rsplit("/", 1)[-1].rpartition(":")[2] + "}"
    return "${" + expression + "}"


def _render_text(element: etree._Element) -> str:
    """Text of a label/hint/value element, with `<output>`s rendered as ${name}."""
    parts = [element.text or ""]
    for child in element:
        if child.tag.__class__ is str:
            if _local(child.tag) == "output":
                parts.append(_render_output(child.get("value") or child.get("ref") or ""))
            else:
                parts.append(_render_text(child))
        parts.append(child.tail or "")
    return "".join(parts).strip()


def _itext_id(reference: str | None) -> str | None:
    """'jr:itext('/data/x:label')' -> '/data/x:label'; None for anything else."""
    if not reference:
        return None
    reference = reference.strip()
    if not (reference.startswith("jr:itext(") and reference.endswith(")")):
        return None
    inner = reference[len("jr:itext(") : -1].strip()
    if len(inner) >= 2 and inner[0] == inner[-1] and inner[0] in "'\"":
        return inner[1:-1]
    return None


class _Itext:
    def __init__(self, model: etree._Element):
        self.languages: list[str] = []
        self.default_language: str | None = None
        self.texts: dict[str, dict[str, str]] = {}
        itext = _child(model, "itext")
        if itext is None:
            return
        for translation in _elements(itext):
            if _local(translation.tag) != "translation":
                continue
            lang = translation.get("lang") or DEFAULT_LABEL_KEY
            if lang not in self.languages:
                self.languages.append(lang)
            if self.default_language is None and (translation.get("default") or "").strip():
                self.default_language = lang
            for text in _elements(translation):
                text_id = text.get("id")
                if _local(text.tag) != "text" or not text_id:
                    continue
                for value in _elements(text):
                    if _local(value.tag) == "value" and not value.get("form"):
                        self.texts.setdefault(text_id, {})[lang] = _render_text(value)
                        break
        if self.default_language is None and self.languages:
            # XForms: without a marked default, the first translation is the default.
            self.default_language = self.languages[0]

    def lookup(self, text_id: str) -> dict[str, str]:
        return dict(self.texts.get(text_id, {}))


def _label_of(element: etree._Element | None, which: str, itext: _Itext) -> dict[str, str]:
    """Labels (which="label") or hints (which="hint") of a body element."""
    if element is None:
        return {}
    node = _child(element, which)
    if node is None:
        return {}
    text_id = _itext_id(node.get("ref"))
    if text_id is not None:
        return itext.lookup(text_id)
    text = _render_text(node)
    return {DEFAULT_LABEL_KEY: text} if text else {}


def _relative_path(reference: str, root_name: str, context: str) -> str | None:
    """An absolute ("/data/grp/x") or context-relative ("x") nodeset -> "grp/x"."""
    reference = reference.strip()
    if reference.startswith("/"):
        steps = [s.rpartition(":")[2] for s in reference.strip("/").split("/")]
        if not steps or steps[0] != root_name:
            return None
        return "/".join(steps[1:])
    steps = [s.rpartition(":")[2] for s in reference.split("/") if s and s != "."]
    return "/".join(([context] if context else []) + steps)


def _split_itemset(nodeset: str) -> tuple[str, str | None]:
    """Split "instance('x')/root/item[a = b]" into ("instance('x')/root/item", "a = b")."""
    nodeset = nodeset.strip()
    start = nodeset.find("[")
    if start == -1 or not nodeset.endswith("]"):
        return nodeset, None
    return nodeset[:start].strip(), nodeset[start + 1 : -1].strip() or None


class _Body:
    """Body controls, groups and repeats by instance path, and the choices of selects."""

    def __init__(self, body: etree._Element | None, root_name: str):
        self.root_name = root_name
        self.controls: dict[str, etree._Element] = {}
        self.groups: dict[str, etree._Element] = {}
        self.repeats: dict[str, etree._Element] = {}
        self.repeat_labels: dict[str, etree._Element] = {}
        if body is not None:
            self._visit(body, "", None)

    def _visit(self, parent: etree._Element, context: str, group: etree._Element | None):
        for element in _elements(parent):
            name = _local(element.tag)
            if name == "group":
                path = _relative_path(element.get("ref") or "", self.root_name, context)
                if element.get("ref") and path is not None:
                    self.groups.setdefault(path, element)
                    self._visit(element, path, element)
                else:
                    self._visit(element, context, element)
            elif name == "repeat":
                path = _relative_path(element.get("nodeset") or "", self.root_name, context)
                if path is None:
                    continue
                self.repeats.setdefault(path, element)
                # pyxform puts the repeat's label on the group around it
                if _child(element, "label") is not None:
                    self.repeat_labels[path] = element
                elif group is not None and path in self.groups and self.groups[path] is group:
                    self.repeat_labels[path] = group
                self._visit(element, path, None)
            elif name in _BODY_CONTROLS:
                path = _relative_path(element.get("ref") or "", self.root_name, context)
                if path is not None:
                    self.controls.setdefault(path, element)


class _Builder:
    def __init__(self, model: etree._Element, data: etree._Element, body: _Body, itext: _Itext):
        self.itext = itext
        self.body = body
        self.root_name = _local(data.tag)
        self.binds: dict[str, dict[str, str]] = {}
        self.secondary: dict[str, etree._Element] = {}
        for element in _elements(model):
            name = _local(element.tag)
            if name == "bind":
                path = _relative_path(element.get("nodeset") or "", self.root_name, "")
                if path:
                    merged = self.binds.setdefault(path, {})
                    merged.update({_local(k): v for k, v in element.attrib.items()})
            elif name == "instance" and element.get("id"):
                self.secondary.setdefault(element.get("id"), element)

    def fields(
        self, parent: etree._Element, prefix: str, under_meta: bool, sensitive: bool = False
    ) -> tuple[Field, ...]:
        seen: set[str] = set()
        out: list[Field] = []
        for element in _elements(parent):
            name = _local(element.tag)
            if name in seen:
                continue
            seen.add(name)
            path = prefix + name
            out.append(self.field(element, name, path, under_meta, sensitive))
        return tuple(out)

    def field(
        self, element: etree._Element, name: str, path: str, under_meta: bool,
        inherited_sensitive: bool = False,
    ) -> Field:
        bind = self.binds.get(path, {})
        sensitive = inherited_sensitive or (
            (bind.get("sensitive") or "").strip().lower() not in _NOT_SENSITIVE
        )
        has_children = any(True for _ in _elements(element))
        is_repeat = path in self.body.repeats or f"{{{JR_NS}}}template" in element.attrib
        is_group = has_children or path in self.body.groups
        control = self.body.controls.get(path)
        calculate = bind.get("calculate")
        common = dict(
            name=name,
            path=path,
            relevant=bind.get("relevant"),
            constraint=bind.get("constraint"),
            constraint_message=self._constraint_message(bind.get("constraintMsg")),
            required=(bind.get("required") or "").strip() == "true()",
            calculate=calculate,
            readonly=(bind.get("readonly") or "").strip() == "true()",
            sensitive=sensitive,
        )
        if is_repeat or is_group:
            if is_repeat:
                kind = "repeat"
                label_from = self.body.repeat_labels.get(path)
            else:
                kind = "meta" if under_meta else "group"
                label_from = self.body.groups.get(path)
            children = self.fields(
                element, path + "/", under_meta or (path == "meta" and not is_repeat), sensitive
            )
            return Field(
                kind=kind,
                type="structure",
                labels=_label_of(label_from, "label", self.itext),
                hints=_label_of(label_from, "hint", self.itext),
                choices=(),
                choice_filter=None,
                children=children,
                **common,
            )
        if under_meta:
            kind = "meta"
        elif control is None and calculate is not None:
            kind = "calculate"
        else:
            kind = "question"
        field_type = self._type(bind, control, element)
        choices: tuple[Choice, ...] = ()
        choice_filter = None
        if control is not None and _local(control.tag) in _SELECT_TYPES:
            choices, choice_filter = self._choices(control)
        return Field(
            kind=kind,
            type=field_type,
            labels=_label_of(control, "label", self.itext),
            hints=_label_of(control, "hint", self.itext),
            choices=choices,
            choice_filter=choice_filter,
            children=(),
            **common,
        )

    def _type(
        self, bind: dict[str, str], control: etree._Element | None, element: etree._Element
    ) -> str:
        if control is not None and _local(control.tag) in _SELECT_TYPES:
            return _SELECT_TYPES[_local(control.tag)]
        raw = (bind.get("type") or "string").strip().rpartition(":")[2] or "string"
        field_type = _TYPE_ALIASES.get(raw, raw)
        if (
            field_type == "string"
            and control is not None
            and (bind.get("readonly") or "").strip() == "true()"
            and bind.get("calculate") is None
            and not (element.text or "").strip()
        ):
            return "note"
        return field_type

    def _constraint_message(self, message: str | None) -> dict[str, str] | str | None:
        if message is None:
            return None
        text_id = _itext_id(message)
        if text_id is not None:
            return self.itext.lookup(text_id)
        return message

    def _choices(self, control: etree._Element) -> tuple[tuple[Choice, ...], str | None]:
        itemset = _child(control, "itemset")
        if itemset is None:
            choices = []
            for item in _elements(control):
                if _local(item.tag) != "item":
                    continue
                value = _child(item, "value")
                if value is None:
                    continue
                choices.append(
                    Choice(
                        name=(value.text or "").strip(),
                        labels=_label_of(item, "label", self.itext),
                    )
                )
            return tuple(choices), None
        location, choice_filter = _split_itemset(itemset.get("nodeset") or "")
        value_node = _child(itemset, "value")
        label_node = _child(itemset, "label")
        value_ref = (value_node.get("ref") if value_node is not None else None) or "name"
        label_ref = (label_node.get("ref") if label_node is not None else None) or "label"
        return tuple(self._itemset_choices(location, value_ref, label_ref)), choice_filter

    def _itemset_choices(self, location: str, value_ref: str, label_ref: str) -> Iterator[Choice]:
        if not location.startswith("instance("):
            return
        close = location.find(")")
        instance_id = location[len("instance(") : close].strip().strip("'\"")
        instance = self.secondary.get(instance_id)
        if instance is None:
            return
        steps = [s for s in location[close + 1 :].split("/") if s]
        items = [instance]
        for step in steps:
            step = step.rpartition(":")[2]
            items = [c for node in items for c in _elements(node) if _local(c.tag) == step]
        label_key = _itext_id_field(label_ref)
        for item in items:
            value = _child(item, value_ref.strip())
            if value is None:
                continue
            if label_key is not None:
                key_node = _child(item, label_key)
                labels = (
                    self.itext.lookup((key_node.text or "").strip()) if key_node is not None else {}
                )
            else:
                label_node = _child(item, label_ref.strip())
                text = _render_text(label_node) if label_node is not None else ""
                labels = {DEFAULT_LABEL_KEY: text} if text else {}
            yield Choice(name=(value.text or "").strip(), labels=labels)


def _itext_id_field(label_ref: str) -> str | None:
    """'jr:itext(itextId)' -> 'itextId' (the item child naming the itext id)."""
    label_ref = label_ref.strip()
    if label_ref.startswith("jr:itext(") and label_ref.endswith(")"):
        return label_ref[len("jr:itext(") : -1].strip()
    return None


def _to_bytes(xform: str | bytes) -> bytes:
    if isinstance(xform, bytes):
        return xform
    text = xform.lstrip("\ufeff")
    if text.startswith("<?xml"):
        # The text is already decoded; its declared encoding no longer applies.
        end = text.find("?>")
        if end != -1:
            text = text[end + 2 :]
    return text.encode("utf-8")


def parse_xform(xform: str | bytes, *, max_bytes: int = DEFAULT_MAX_XFORM_BYTES) -> FormSchema:
    """Read an XForm's identity and field tree. Raises FormSchemaError."""
    try:
        root = parse_untrusted_xml(_to_bytes(xform), max_bytes=max_bytes)
    except SubmissionParseError as exc:
        raise FormSchemaError("xform-invalid", str(exc)) from exc
    head = _child(root, "head")
    model = _child(head, "model") if head is not None else None
    if model is None:
        raise FormSchemaError("xform-invalid", "The XForm has no h:head/model.")
    main_instance = next((e for e in _elements(model) if _local(e.tag) == "instance"), None)
    data = next(_elements(main_instance), None) if main_instance is not None else None
    if data is None:
        raise FormSchemaError("xform-invalid", "The XForm has no main instance.")
    xml_form_id = (data.get("id") or "").strip()
    if not xml_form_id:
        raise FormSchemaError("form-id-missing", "The main instance's root has no id attribute.")
    title_node = _child(head, "title")
    title = _render_text(title_node) if title_node is not None else ""
    itext = _Itext(model)
    root_name = _local(data.tag)
    body = _Body(_child(root, "body"), root_name)
    builder = _Builder(model, data, body, itext)
    return FormSchema(
        xml_form_id=xml_form_id,
        version=local_attribute(data, "version") or "",
        title=title or xml_form_id,
        languages=tuple(itext.languages),
        default_language=itext.default_language,
        root_name=root_name,
        fields=builder.fields(data, "", False),
    )
