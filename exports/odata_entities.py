"""OData v4 of an entity list, as ODK Central serves `.../datasets/{name}.svc`: one table
`Entities` with `__id`, `label`, `__system` and one string per property."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any
from xml.sax.saxutils import quoteattr

from exports.disclosure import N_
from exports.odata import ODataRequestError

SYSTEM_FIELDS = ("createdAt", "creatorId", "creatorName", "updates", "updatedAt", "deletedAt",
                 "version", "conflict")
_SYSTEM_TYPES = {
    "createdAt": "Edm.DateTimeOffset", "creatorId": "Edm.String", "creatorName": "Edm.String",
    "updates": "Edm.Int64", "updatedAt": "Edm.DateTimeOffset", "deletedAt": "Edm.DateTimeOffset",
    "version": "Edm.Int64", "conflict": "Edm.String",
}


def odata_name(name: str) -> str:
    """Central's sanitizeOdataIdentifier: characters OData names cannot hold become _."""
    out = re.sub(r"[^\w]", "_", name)
    return f"_{out}" if out[:1].isdigit() else out


def entities_edmx(properties: Sequence[str]) -> str:
    system = "".join(
        f'<Property Name="{n}" Type="{t}"/>' for n, t in _SYSTEM_TYPES.items()
    )
    props = "".join(
        f"<Property Name={quoteattr(odata_name(p))} Type=\"Edm.String\"/>" for p in properties
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<edmx:Edmx xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx" Version="4.0">'
        '<edmx:DataServices>'
        '<Schema xmlns="http://docs.oasis-open.org/odata/ns/edm" Namespace="org.opendatakit.entity">'
        f'<ComplexType Name="metadata">{system}</ComplexType>'
        "</Schema>"
        '<Schema xmlns="http://docs.oasis-open.org/odata/ns/edm" Namespace="org.opendatakit.user.entities">'
        '<EntityType Name="Entities"><Key><PropertyRef Name="__id"/></Key>'
        '<Property Name="__id" Type="Edm.String"/>'
        '<Property Name="label" Type="Edm.String"/>'
        '<Property Name="__system" Type="org.opendatakit.entity.metadata"/>'
        f"{props}</EntityType>"
        '<EntityContainer Name="Entities">'
        '<EntitySet Name="Entities" EntityType="org.opendatakit.user.entities.Entities"/>'
        "</EntityContainer></Schema></edmx:DataServices></edmx:Edmx>"
    )


def select_keys(select: str | None, properties: Sequence[str]) -> set[str] | None:
    """The names a `$select` keeps (None: everything). Raises ODataRequestError for an unknown
    name."""
    if not select or select.strip() == "*":
        return None
    keys = {p.strip() for p in select.split(",") if p.strip()}
    known = {"__id", "label", "__system", *properties, *(f"__system/{f}" for f in SYSTEM_FIELDS)}
    for key in keys:
        if key not in known:
            raise ODataRequestError(N_("Could not find a property named '%(name)s'"),
                                    {"name": key})
    return keys


def _iso(value) -> str | None:
    if value is None:
        return None
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def entity_row(
    row: Mapping[str, Any], properties: Sequence[str], keep: set[str] | None
) -> dict[str, Any]:
    system = {
        "createdAt": _iso(row["created_at"]),
        "creatorId": str(row["creator_id"]) if row["creator_id"] is not None else None,
        "creatorName": row["creator_name"],
        "updates": row["updates"],
        "updatedAt": _iso(row["updated_at"]),
        "deletedAt": _iso(row["deleted_at"]),
        "version": row["version"],
        "conflict": row["conflict"],
    }
    out: dict[str, Any] = {}
    if keep is None or "__id" in keep:
        out["__id"] = row["uuid"]
    if keep is None or "label" in keep:
        out["label"] = row["label"]
    if keep is None or "__system" in keep:
        out["__system"] = system
    else:
        chosen = {f: system[f] for f in SYSTEM_FIELDS if f"__system/{f}" in keep}
        if chosen:
            out["__system"] = chosen
    data = row["data"]
    for p in properties:
        if keep is None or p in keep:
            out[odata_name(p)] = data.get(p, "")
    return out
