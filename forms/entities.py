"""ODK Entities in forms and submissions (getodk.github.io/xforms-spec/entities), pure.

- `entity_declarations(xform)`: what a form version says about entity lists: for each
  `meta/entity` block, the dataset, the actions it may take (create, update), and which
  fields save to which property (`entities:saveto` on binds).
- `submission_entities(xml, declarations)`: the entity a submission declares: its system
  attributes (dataset, id, create, update, baseVersion, trunkVersion, branchId), its label and
  the values of the saved fields.
- Names and values are checked here (uuid, integers, names) with Central's rules; errors are
  `EntityDataError(field, message)`.
"""

from __future__ import annotations

import re
import uuid as uuid_mod
from dataclasses import dataclass, field
from typing import Any

from forms.numbers import MAX_INTEGER, whole_number
from forms.submission import SubmissionParseError, parse_untrusted_xml

XFORMS_NS = "http://www.w3.org/2002/xforms"
ENTITIES_NS = "http://www.opendatakit.org/xforms/entities"

# Central's rules (lib/data/dataset.js): no leading "__"; a dataset name starts with a letter,
# ":" or "_" and goes on with letters, digits, ":", "_", "-"; a property name may also hold "."
# (not ":") and is never "name" or "label" in any case.
_DATASET_NAME = re.compile(r"^(?!__)(?:[^\W\d]|:)[\w:-]*$", re.UNICODE)
_PROPERTY_NAME = re.compile(r"^(?!__)(?!name$)(?!label$)[^\W\d][\w.-]*$", re.UNICODE)
_UUID = re.compile(
    r"^(uuid:)?([0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12})$", re.I
)


class EntityDataError(ValueError):
    """A value that Central would refuse. `kind`: missing, invalid-uuid, not-integer,
    invalid-name."""

    def __init__(self, kind: str, field_name: str, message: str, value: Any = None):
        self.kind = kind
        self.field = field_name
        self.value = value  # the refused value (invalid-uuid, not-integer)
        super().__init__(message)


def valid_dataset_name(name: str) -> bool:
    return bool(name) and _DATASET_NAME.match(name) is not None


def valid_property_name(name: str) -> bool:
    return bool(name) and _PROPERTY_NAME.match(name.lower()) is not None


def normalize_uuid(value: str | None, field_name: str = "uuid") -> str:
    """A version-4 UUID, optionally prefixed with "uuid:", in lower case without the prefix."""
    if value is None or not value.strip():
        raise EntityDataError("missing", field_name, f"Required parameter {field_name} missing.")
    match = _UUID.match(value.strip())
    if match is None:
        raise EntityDataError(
            "invalid-uuid", field_name, f"{field_name} must be a version 4 UUID, not {value!r}.",
            value,
        )
    return match.group(2).lower()


def new_uuid() -> str:
    return str(uuid_mod.uuid4())


def parse_version(value: str | None, field_name: str) -> int | None:
    """An entity version attribute: blank is None, else a non-negative integer."""
    if value is None or not value.strip():
        return None
    number = whole_number(value, MAX_INTEGER)
    if number is None:
        raise EntityDataError(
            "not-integer", field_name, f"{field_name} must be an integer, not {value[:40]!r}.",
            value[:40],
        )
    return number


@dataclass(frozen=True)
class EntityDeclaration:
    dataset: str
    actions: tuple[str, ...]  # subset of ("create", "update"), in that order
    entity_path: tuple[str, ...]  # element names from the root's child to <entity>
    label_path: tuple[str, ...] | None
    properties: dict[str, tuple[str, ...]] = field(default_factory=dict)  # name -> path

    @property
    def property_paths(self) -> dict[str, str]:
        return {name: "/".join(path) for name, path in self.properties.items()}


@dataclass(frozen=True)
class SubmissionEntity:
    dataset: str
    id: str | None
    create: bool
    update: bool
    base_version: str | None
    trunk_version: str | None
    branch_id: str | None
    label: str | None
    data: dict[str, str]


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _truthy(value: str | None) -> bool:
    return (value or "").strip() in ("1", "true")


def _nodeset_path(nodeset: str) -> tuple[str, ...]:
    """'/data/meta/entity/label' -> ('meta', 'entity', 'label') (the root's name dropped)."""
    parts = [p for p in nodeset.strip().split("/") if p]
    return tuple(parts[1:])


def entity_declarations(xform: str | bytes) -> list[EntityDeclaration]:
    """The entity blocks of a form version's main instance (none for most forms)."""
    text = xform.encode("utf-8") if isinstance(xform, str) else xform
    if b"entities" not in text:
        return []
    root = parse_untrusted_xml(text, max_bytes=max(len(text), 1))
    model = None
    for el in root.iter(f"{{{XFORMS_NS}}}model"):
        model = el
        break
    if model is None:
        return []
    instance = model.find(f"{{{XFORMS_NS}}}instance")
    if instance is None or len(instance) == 0:
        return []
    data = instance[0]
    found: list[tuple[tuple[str, ...], object]] = []

    def visit(el, path: tuple[str, ...]) -> None:
        for child in el:
            name = _local(child.tag)
            if not name:
                continue
            child_path = (*path, name)
            if name == "entity" and path and path[-1] == "meta" and child.get("dataset"):
                found.append((child_path, child))
            else:
                visit(child, child_path)

    visit(data, ())
    if not found:
        return []
    saveto: dict[tuple[str, ...], str] = {}
    for bind in model.iter(f"{{{XFORMS_NS}}}bind"):
        prop = bind.get(f"{{{ENTITIES_NS}}}saveto")
        if prop and bind.get("nodeset"):
            saveto[_nodeset_path(bind.get("nodeset"))] = prop.strip()
    out = []
    for path, el in found:
        actions = tuple(a for a in ("create", "update") if el.get(a) is not None)
        has_label = any(_local(c.tag) == "label" for c in el)
        # A field saves to this entity when it sits in the entity's repeat (or the form's
        # top level for meta/entity): with no repeats, every saveto field.
        scope = path[:-2]
        properties = {
            prop: field_path
            for field_path, prop in saveto.items()
            if field_path[: len(scope)] == scope
        }
        out.append(
            EntityDeclaration(
                dataset=el.get("dataset").strip(),
                actions=actions,
                entity_path=path,
                label_path=(*path, "label") if has_label else None,
                properties=properties,
            )
        )
    return out


def _find(el, path: tuple[str, ...]):
    for name in path:
        nxt = None
        for child in el:
            if _local(child.tag) == name:
                nxt = child
                break
        if nxt is None:
            return None
        el = nxt
    return el


def submission_entities(
    xml: bytes, declarations: list[EntityDeclaration]
) -> list[SubmissionEntity]:
    """The entities a submission declares, one per declaration whose block is present."""
    try:
        root = parse_untrusted_xml(xml)
    except SubmissionParseError:
        raise
    out = []
    for decl in declarations:
        block = _find(root, decl.entity_path)
        if block is None:
            continue
        label_el = _find(root, decl.label_path) if decl.label_path else None
        data = {}
        for prop, path in decl.properties.items():
            value_el = _find(root, path)
            if value_el is not None:
                data[prop] = "".join(value_el.itertext())
        out.append(
            SubmissionEntity(
                dataset=(block.get("dataset") or "").strip(),
                id=block.get("id"),
                create=_truthy(block.get("create")),
                update=_truthy(block.get("update")),
                base_version=block.get("baseVersion"),
                trunk_version=block.get("trunkVersion"),
                branch_id=block.get("branchId"),
                label=("".join(label_el.itertext()) if label_el is not None else None),
                data=data,
            )
        )
    return out


def changed_keys(received: dict[str, str], other: dict[str, str]) -> list[str]:
    """Keys of `received` whose value differs from (or is absent in) `other`."""
    return [k for k in received if k not in other or received[k] != other[k]]


def diff_versions(versions: list[dict[str, str]]) -> list[list[dict[str, str | None]]]:
    """Central's /diffs: for each version after the first, what changed from the one before
    (label included as a property)."""
    diffs = []
    for prev, curr in zip(versions, versions[1:], strict=False):
        diffs.append(
            [
                {"old": prev.get(k), "new": curr[k], "propertyName": k}
                for k in curr
                if curr[k] != prev.get(k)
            ]
        )
    return diffs


@dataclass
class _Branch:
    """An offline branch's contiguity with its trunk (Central's Branch): the last version of
    the branch with no update from elsewhere between it and the trunk version."""

    last_contiguous: int

    @classmethod
    def starting_at(cls, version: int, trunk_version: int | None) -> _Branch:
        if trunk_version is not None:
            return cls(version if version == trunk_version + 1 else 0)
        # a branch that began with an offline create: version 2 follows the create
        return cls(2 if version == 2 else 1)

    def add(self, version: int, base_version: int | None) -> None:
        if base_version == self.last_contiguous and version == base_version + 1:
            self.last_contiguous = version


def versions_with_conflicts(
    defs: list[dict], last_resolved_def_id: int | None
) -> list[dict]:
    """Central's conflict details of an entity's versions (oldest first). Each def has
    id, version, base_version, branch_id, trunk_version, label, data, data_received,
    conflicting_properties. Adds conflict (None/soft/hard), resolved, baseDiff, serverDiff,
    lastGoodVersion and relevantToConflict."""
    out: list[dict] = []
    branches: dict[str, _Branch] = {}
    by_version = {d["version"]: d for d in defs}
    last_good = 0
    relevant_bases: set[int] = set()
    for d in defs:
        v = {**d, "conflict": None, "resolved": False, "baseDiff": [], "serverDiff": [],
             "lastGoodVersion": False}
        branch_id = d.get("branch_id")
        if branch_id is not None:
            if branch_id in branches:
                branches[branch_id].add(d["version"], d["base_version"])
            else:
                branches[branch_id] = _Branch.starting_at(d["version"], d.get("trunk_version"))
        if d["version"] > 1 and d["base_version"] is not None:
            base_off_trunk = (
                branch_id is not None and branches[branch_id].last_contiguous < d["base_version"]
            )
            conflict = d["version"] != d["base_version"] + 1 or base_off_trunk
            received = d["data_received"] or {}
            base = by_version.get(d["base_version"])
            prev = by_version.get(d["version"] - 1)
            if base is not None:
                v["baseDiff"] = changed_keys(received, {**base["data"], "label": base["label"]})
            if prev is not None:
                v["serverDiff"] = changed_keys(received, {**prev["data"], "label": prev["label"]})
            if conflict:
                v["conflict"] = "hard" if d.get("conflicting_properties") else "soft"
                v["resolved"] = last_resolved_def_id is not None and last_resolved_def_id >= d["id"]
                if not v["resolved"] and last_good == 0:
                    last_good = d["version"] - 1
                    if out:
                        out[-1]["lastGoodVersion"] = True
            if last_good > 0:
                relevant_bases.add(d["base_version"])
        out.append(v)
    for v in out:
        v["relevantToConflict"] = last_good > 0 and (
            v["version"] >= last_good or v["version"] in relevant_bases
        )
    if last_good == 0 and out:
        out[-1]["lastGoodVersion"] = True
    return out
