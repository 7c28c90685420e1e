"""Submissions as ODK Central's OData feed shows them: service document, EDMX metadata and the
JSON rows of the root table (`Submissions`) and of each repeat (`Submissions.<path>`).

Pure apart from the async row stream at the end: a `FormSchema` and stored submission records
(the `answers` dict of `forms.submission`, plus metadata columns) in, dicts and bytes out.

What follows Central (so that Excel, Power BI, pyodk and ruODK read it unchanged):
- Names are sanitized as Central does: a leading character that is not a letter or `_` gets a
  `_` before it, and runs of other characters than letters, digits and `_` become `_`.
- A repeat at path `g1/rep1` is the table `Submissions.g1.rep1` (groups included). Each of its
  rows has `__id` (a SHA-1 over the submission's instanceID and the path of group names and
  repeat positions, so it is stable) and a key to its parent: `__Submissions-id` (the
  submission's instanceID) when no repeat encloses it, else `__Submissions-<path of the
  enclosing repeat, joined by ->-id` (that repeat row's `__id`).
- A row lists every field of its level, null when unanswered; groups are nested objects;
  a repeat present in the data gives `<name>@odata.navigationLink`, and with `$expand=*` also
  `<name>`: the array of its rows (without parent keys).
- Values: int -> JSON integer, decimal -> JSON number, boolean -> true/false, geopoint ->
  GeoJSON Point [lon, lat, alt] with properties.accuracy (or WKT `POINT (lon lat alt)` with
  `$wkt=true`), geotrace/geoshape -> LineString/Polygon (or WKT), dateTime offsets `+07` ->
  `+07:00`; everything else (dates, selects, files) stays a string.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import quoteattr

import msgspec

from exports.disclosure import N_
from exports.layout import OptionError
from forms.schema import Field, FormSchema

ROOT_TABLE = "Submissions"
FQDN_ROOT = "org.opendatakit.user"
SYSTEM_FIELDS = (
    "submissionDate",
    "updatedAt",
    "deletedAt",
    "submitterId",
    "submitterName",
    "attachmentsPresent",
    "attachmentsExpected",
    "status",
    "reviewState",
    "deviceId",
    "edits",
    "formVersion",
)
EDM_TYPES = {
    "int": "Edm.Int64",
    "decimal": "Edm.Decimal",
    "boolean": "Edm.Boolean",
    "geopoint": "Edm.GeographyPoint",
    "geotrace": "Edm.GeographyLineString",
    "geoshape": "Edm.GeographyPolygon",
    "date": "Edm.Date",
    "dateTime": "Edm.DateTimeOffset",
}
_LEADING = re.compile(r"^([^a-z_])", re.IGNORECASE)
_INVALID = re.compile(r"[^a-z0-9_]+", re.IGNORECASE)
_SHORT_OFFSET = re.compile(r"[+-]\d\d$")

_encoder = msgspec.json.Encoder()


class ODataRequestError(OptionError, ValueError):
    """A $select/$expand/table that this form cannot answer; the message says why (a catalogue
    template and its values)."""


NO_PROPERTY = N_("Could not find a property named '%(name)s'.")


def sanitize(name: str) -> str:
    return _INVALID.sub("_", _LEADING.sub(r"_\1", name))


def is_structure(f: Field) -> bool:
    return f.type == "structure"


def is_repeat(f: Field) -> bool:
    return f.kind == "repeat"


# ---------------------------------------------------------------------------------------------
# Tables


@dataclass(frozen=True)
class Table:
    name: str  # "Submissions" or "Submissions.g1.rep1"
    fields: tuple[Field, ...]  # the fields of one row
    parent_key: str | None  # "__Submissions-id", "__Submissions-g1-rep1-id"; None for the root
    repeat_path: tuple[str, ...] = ()  # raw names from the root to the repeat


@dataclass(frozen=True)
class ODataForm:
    schema: FormSchema
    tables: Mapping[str, Table]

    @property
    def fqdn(self) -> str:
        return f"{FQDN_ROOT}.{sanitize(self.schema.xml_form_id)}"


def odata_form(schema: FormSchema) -> ODataForm:
    tables: dict[str, Table] = {ROOT_TABLE: Table(ROOT_TABLE, schema.fields, None)}

    def visit(fields: Sequence[Field], parts: tuple[str, ...], raw: tuple[str, ...], key: str):
        for f in fields:
            if not is_structure(f):
                continue
            here = (*parts, sanitize(f.name))
            raw_here = (*raw, f.name)
            if is_repeat(f):
                name = ".".join((ROOT_TABLE, *here))
                tables[name] = Table(name, f.children, key, raw_here)
                visit(f.children, here, raw_here, "__" + "-".join((ROOT_TABLE, *here)) + "-id")
            else:
                visit(f.children, here, raw_here, key)

    visit(schema.fields, (), (), f"__{ROOT_TABLE}-id")
    return ODataForm(schema, tables)


# ---------------------------------------------------------------------------------------------
# Service document and EDMX


def service_document(form: ODataForm, service_url: str) -> dict[str, Any]:
    return {
        "@odata.context": f"{service_url}/$metadata",
        "value": [{"name": name, "kind": "EntitySet", "url": name} for name in form.tables],
    }


def edmx(form: ODataForm) -> str:
    fqdn = form.fqdn
    entity_types: list[str] = []
    complex_types: list[str] = []

    def properties(fields: Sequence[Field], parts: tuple[str, ...]) -> list[str]:
        out = []
        for f in fields:
            name = sanitize(f.name)
            here = (*parts, name)
            dotted = ".".join(here)
            if is_repeat(f):
                out.append(
                    f'<NavigationProperty Name="{name}" '
                    f'Type="Collection({fqdn}.{ROOT_TABLE}.{dotted})"/>'
                )
            elif is_structure(f):
                inner = properties(f.children, here)
                complex_types.append(
                    f'<ComplexType Name="{dotted}">' + "".join(inner) + "</ComplexType>"
                )
                out.append(f'<Property Name="{name}" Type="{fqdn}.{dotted}"/>')
            else:
                out.append(
                    f'<Property Name="{name}" Type="{EDM_TYPES.get(f.type, "Edm.String")}"/>'
                )
        return out

    for table in form.tables.values():
        parts = tuple(table.name.split(".")[1:])
        props = [
            '<Key><PropertyRef Name="__id"/></Key>',
            '<Property Name="__id" Type="Edm.String"/>',
        ]
        if table.parent_key is None:
            props.append('<Property Name="__system" Type="org.opendatakit.submission.metadata"/>')
        else:
            props.append(f'<Property Name="{table.parent_key}" Type="Edm.String"/>')
        props.extend(properties(table.fields, parts))
        entity_types.append(f'<EntityType Name="{table.name}">' + "".join(props) + "</EntityType>")

    root_annotations = (
        '<Annotation Term="Org.OData.Capabilities.V1.ConformanceLevel" '
        'EnumMember="Org.OData.Capabilities.V1.ConformanceLevelType/Minimal"/>'
        '<Annotation Term="Org.OData.Capabilities.V1.BatchSupported" Bool="false"/>'
        '<Annotation Term="Org.OData.Capabilities.V1.CountRestrictions">'
        '<Record><PropertyValue Property="Countable" Bool="true"/></Record></Annotation>'
        '<Annotation Term="Org.OData.Capabilities.V1.ExpandRestrictions">'
        '<Record><PropertyValue Property="Expandable" Bool="false"/></Record></Annotation>'
    )
    entity_sets = "".join(
        f'<EntitySet Name="{name}" EntityType="{fqdn}.{name}">'
        + (root_annotations if table.parent_key is None else "")
        + "</EntitySet>"
        for name, table in form.tables.items()
    )
    system = "".join(
        f'<Property Name="{name}" Type="{kind}"/>'
        for name, kind in (
            ("submissionDate", "Edm.DateTimeOffset"),
            ("updatedAt", "Edm.DateTimeOffset"),
            ("deletedAt", "Edm.DateTimeOffset"),
            ("submitterId", "Edm.String"),
            ("submitterName", "Edm.String"),
            ("attachmentsPresent", "Edm.Int64"),
            ("attachmentsExpected", "Edm.Int64"),
            ("status", "org.opendatakit.submission.Status"),
            ("reviewState", "org.opendatakit.submission.ReviewState"),
            ("deviceId", "Edm.String"),
            ("edits", "Edm.Int64"),
            ("formVersion", "Edm.String"),
        )
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<edmx:Edmx xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx" Version="4.0">'
        "<edmx:DataServices>"
        '<Schema xmlns="http://docs.oasis-open.org/odata/ns/edm" '
        'Namespace="org.opendatakit.submission">'
        f'<ComplexType Name="metadata">{system}</ComplexType>'
        '<EnumType Name="Status"><Member Name="notDecrypted"/>'
        '<Member Name="missingEncryptedFormData"/></EnumType>'
        '<EnumType Name="ReviewState"><Member Name="hasIssues"/><Member Name="edited"/>'
        '<Member Name="rejected"/><Member Name="approved"/></EnumType>'
        "</Schema>"
        f'<Schema xmlns="http://docs.oasis-open.org/odata/ns/edm" Namespace={quoteattr(fqdn)}>'
        + "".join(entity_types)
        + "".join(complex_types)
        + f"<EntityContainer Name={quoteattr(form.schema.xml_form_id)}>{entity_sets}</EntityContainer>"
        "</Schema></edmx:DataServices></edmx:Edmx>"
    )


# ---------------------------------------------------------------------------------------------
# Values


def _text(raw: Any) -> str | None:
    if isinstance(raw, list):  # the same element more than once where the form has one
        raw = next((r for r in raw if isinstance(r, str)), None)
    if not isinstance(raw, str):
        return None
    return raw


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _coordinates(point: str) -> tuple[list[float], float | None] | None:
    parts = [_number(p) for p in point.split()]
    if len(parts) < 2 or parts[0] is None or parts[1] is None:
        return None
    coordinates = [parts[1], parts[0]]
    if len(parts) > 2 and parts[2] is not None:
        coordinates.append(parts[2])
    accuracy = parts[3] if len(parts) > 3 else None
    return coordinates, accuracy


def _wkt_point(coordinates: list[float]) -> str:
    return " ".join(_format_number(c) for c in coordinates)


def _format_number(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)


def odata_value(field_type: str, raw: Any, *, wkt: bool = False) -> Any:
    """One answer, typed as Central's OData types it."""
    text = _text(raw)
    if text is None:
        return None
    stripped = text.strip()
    if field_type == "int":
        try:
            value = int(stripped)
        except ValueError:
            number = _number(stripped)
            value = int(number) if number is not None and number.is_integer() else None
        # Edm.Int64: a value beyond it (a phone's 4,000 digits) is no Int64, and no reader
        # (Power BI, Excel, pyodk) could take it
        return value if value is not None and -(2**63) <= value < 2**63 else None
    if field_type == "decimal":
        return _number(stripped) if stripped else None
    if field_type == "boolean":
        if stripped in ("true", "1"):
            return True
        if stripped in ("false", "0"):
            return False
        return None
    if field_type == "geopoint":
        parsed = _coordinates(stripped)
        if parsed is None:
            return None
        coordinates, accuracy = parsed
        if wkt:
            return f"POINT ({_wkt_point(coordinates)})"
        point: dict[str, Any] = {"type": "Point", "coordinates": coordinates}
        if accuracy is not None:
            point["properties"] = {"accuracy": accuracy}
        return point
    if field_type in ("geotrace", "geoshape"):
        points = []
        accuracies = []
        for part in stripped.split(";"):
            parsed = _coordinates(part)
            if parsed is not None:
                points.append(parsed[0])
                accuracies.append(parsed[1])
        if not points:
            return None
        if wkt:
            joined = ",".join(_wkt_point(p) for p in points)
            return f"LINESTRING ({joined})" if field_type == "geotrace" else f"POLYGON (({joined}))"
        shape: dict[str, Any] = (
            {"type": "LineString", "coordinates": points}
            if field_type == "geotrace"
            else {"type": "Polygon", "coordinates": [points]}
        )
        if any(a is not None for a in accuracies):
            shape["properties"] = {"accuracies": accuracies}
        return shape
    if field_type == "dateTime":
        return f"{stripped}:00" if _SHORT_OFFSET.search(stripped) else stripped
    return text


# ---------------------------------------------------------------------------------------------
# Rows


@dataclass(frozen=True)
class RowOptions:
    wkt: bool = False
    expand: bool = False


def repeat_row_id(instance_id: str, steps: Sequence[str]) -> str:
    """Stable id of a repeat row, as ODK Central computes it: SHA-1 over
    `Submissions#{instanceID}` and the group/repeat path joined by `%%`, where a group step is
    `{name}#` and a repeat step `{name}#{n}`, n its 0-based position among its siblings."""
    return hashlib.sha1("%%".join((f"Submissions#{instance_id}", *steps)).encode()).hexdigest()


def system_fields(record: Mapping[str, Any]) -> dict[str, Any]:
    submitter = record["submitter_id"]
    return {
        "submissionDate": record["created_at"],
        "updatedAt": record["updated_at"],
        "deletedAt": None,
        "submitterId": None if submitter is None else str(submitter),
        "submitterName": record["submitter_name"],
        "attachmentsPresent": record["attachments_present"] or 0,
        "attachmentsExpected": record["attachments_expected"] or 0,
        "status": None,
        "reviewState": record["review_state"],
        "deviceId": record["device_id"],
        "edits": record["edits"],
        "formVersion": record["form_version"],
    }


@dataclass
class _Walk:
    instance_id: str
    options: RowOptions
    target: str  # the table asked for
    rows: list[dict[str, Any]] = field(default_factory=list)

    def frame(
        self,
        fields: Sequence[Field],
        data: Any,
        parts: tuple[str, ...],
        steps: tuple[str, ...],
        links: tuple[str, ...],
        parent: tuple[str, str],
    ) -> dict[str, Any]:
        """The object of one level: fields, groups (nested), repeats (links, arrays)."""
        data = data if isinstance(data, dict) else {}
        out: dict[str, Any] = {}
        for f in fields:
            name = sanitize(f.name)
            raw = data.get(f.name)
            if is_repeat(f):
                occurrences = (
                    raw if isinstance(raw, list) else ([raw] if isinstance(raw, dict) else [])
                )
                if not occurrences:
                    continue
                here = (*parts, name)
                table = ".".join((ROOT_TABLE, *here))
                out[f"{name}@odata.navigationLink"] = "/".join((*links, name))
                at_target = table == self.target
                inside_target = self.target.startswith(table + ".")
                if not (at_target or inside_target or self.options.expand):
                    continue
                expanded = []
                for position, occurrence in enumerate(occurrences):
                    row_steps = (*steps, f"{f.name}#{position}")
                    row_id = repeat_row_id(self.instance_id, row_steps)
                    row = self.frame(
                        f.children,
                        occurrence,
                        here,
                        row_steps,
                        (*links, f"{name}('{row_id}')"),
                        ("__" + "-".join((ROOT_TABLE, *here)) + "-id", row_id),
                    )
                    row["__id"] = row_id
                    expanded.append(row)
                    if at_target:
                        self.rows.append({**row, parent[0]: parent[1]})
                if self.options.expand:
                    out[name] = expanded
            elif is_structure(f):
                out[name] = self.frame(
                    f.children,
                    raw,
                    (*parts, name),
                    (*steps, f"{f.name}#"),
                    (*links, name),
                    parent,
                )
            else:
                out[name] = odata_value(f.type, raw, wkt=self.options.wkt)
        return out


def submission_rows(
    form: ODataForm, table: str, record: Mapping[str, Any], options: RowOptions = RowOptions()
) -> list[dict[str, Any]]:
    """The rows one submission contributes to `table` (one for Submissions; one per repeat
    occurrence for a repeat table)."""
    instance_id = record["instance_id"]
    walk = _Walk(instance_id, options, table)
    root = walk.frame(
        form.schema.fields,
        record["answers"],
        (),
        (),
        (f"Submissions('{instance_id}')",),
        (f"__{ROOT_TABLE}-id", instance_id),
    )
    if table == ROOT_TABLE:
        root["__id"] = instance_id
        root["__system"] = system_fields(record)
        return [root]
    return walk.rows


# ---------------------------------------------------------------------------------------------
# $select


def _field_map(fields: Sequence[Field]) -> dict[str, Field]:
    return {sanitize(f.name): f for f in fields}


def compile_select(form: ODataForm, table: str, select: str | None) -> dict[str, Any] | None:
    """$select -> a tree of what to keep ({name: True | subtree}); None keeps everything."""
    if select is None or select.strip() in ("", "*"):
        return None
    spec = form.tables[table]
    keep: dict[str, Any] = {}
    for item in (p.strip() for p in select.split(",")):
        if not item:
            continue
        if item == "__id" or (spec.parent_key is not None and item == spec.parent_key):
            keep[item] = True
            continue
        if spec.parent_key is None and item == "__system":
            keep["__system"] = True
            continue
        if spec.parent_key is None and item.startswith("__system/"):
            name = item[len("__system/") :]
            if name not in SYSTEM_FIELDS:
                raise ODataRequestError(NO_PROPERTY, {"name": item})
            system = keep.get("__system")
            if system is not True:
                keep.setdefault("__system", {})[name] = True
            continue
        fields = _field_map(spec.fields)
        node = keep
        steps = item.split("/")
        for index, step in enumerate(steps):
            f = fields.get(step)
            if f is None:
                raise ODataRequestError(NO_PROPERTY, {"name": item})
            last = index == len(steps) - 1
            if last:
                node[step] = True
            elif is_repeat(f):
                raise ODataRequestError(
                    N_("The property '%(name)s' is inside a repeat; select it on the repeat's "
                       "table."),
                    {"name": item},
                )
            elif is_structure(f):
                child = node.get(step)
                if child is True:
                    break
                node = node.setdefault(step, {})
                fields = _field_map(f.children)
            else:
                raise ODataRequestError(NO_PROPERTY, {"name": item})
    return keep


def project(row: Mapping[str, Any], keep: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        rule = keep.get(key.split("@", 1)[0])
        if rule is True:
            out[key] = value
        elif rule is not None and isinstance(value, Mapping):
            out[key] = project(value, rule)
    return out


# ---------------------------------------------------------------------------------------------
# The JSON body of a table page, streamed


@dataclass(frozen=True)
class Page:
    """What to take from the rows: `skip`, then at most `top` (None: all); `after_row` skips
    rows up to and including the repeat row with that `__id` (a repeat table's $skiptoken)."""

    top: int | None = None
    skip: int = 0
    after_row: str | None = None
    count: bool = False


@dataclass
class PageResult:
    emitted: int = 0
    total: int = 0
    remaining: int = 0
    last_instance_id: str | None = None
    last_row_id: str | None = None
    found_after_row: bool = True


def encode(value: Any) -> bytes:
    return _encoder.encode(value)


async def stream_table(
    form: ODataForm,
    table: str,
    records: AsyncIterator[Mapping[str, Any]],
    *,
    options: RowOptions,
    keep: Mapping[str, Any] | None,
    page: Page,
    footer: Callable[[PageResult], dict[str, Any]],
) -> AsyncIterator[bytes]:
    """`{"value":[...], <footer>}` for the records (already filtered and, for Submissions,
    already paged by the database). `footer` gets the counts when the rows are done and
    returns the @odata.* members."""
    result = PageResult(found_after_row=page.after_row is None)
    started = False
    yield b'{"value":['
    async for record in records:
        for row in submission_rows(form, table, record, options):
            result.total += 1
            if not result.found_after_row:
                if row.get("__id") == page.after_row:
                    result.found_after_row = True
                continue
            if result.total <= page.skip and page.after_row is None:
                continue
            if page.top is not None and result.emitted >= page.top:
                result.remaining += 1
                continue
            out = project(row, keep) if keep is not None else row
            yield (b"," if started else b"") + encode(out)
            started = True
            result.emitted += 1
            result.last_instance_id = record["instance_id"]
            result.last_row_id = row.get("__id")
    tail = encode(footer(result))
    yield b"]," + tail[1:] if len(tail) > 2 else b"]}"
