"""A small household form with the shapes the data API must handle (typed values, a geopoint,
a photo, a name with a dash, a repeat inside a group with a repeat inside it, and a top-level
repeat), and a writer of its submissions."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

from tests.xlsforms import xlsx_bytes

FORM_ID = "household_api"


def household_xlsx(version: str = "1") -> bytes:
    return xlsx_bytes(
        {
            "survey": [
                ["type", "name", "label"],
                ["text", "name", "Name"],
                ["integer", "age", "Age"],
                ["integer", "hh-size", "Household size"],
                ["decimal", "income", "Income"],
                ["geopoint", "location", "Location"],
                ["image", "photo", "Photo"],
                ["begin group", "g1", "Group"],
                ["begin repeat", "member", "Member"],
                ["text", "mname", "Member name"],
                ["integer", "mage", "Member age"],
                ["begin repeat", "visit", "Visit"],
                ["date", "vdate", "Visit date"],
                ["end repeat", None, None],
                ["end repeat", None, None],
                ["end group", None, None],
                ["begin repeat", "asset", "Asset"],
                ["text", "kind", "Kind"],
                ["end repeat", None, None],
            ],
            "settings": [
                ["form_id", "version", "form_title", "instance_name"],
                [FORM_ID, version, "Household (data API tests)", "concat(${name}, ' ', ${age})"],
            ],
        }
    )


@dataclass
class Household:
    name: str = "Alice"
    age: int | None = 40
    size: int = 3
    income: str = "1250.5"
    location: str = "38.56 68.78 800 4.5"
    photo: str | None = "photo.jpg"
    members: list[tuple[str, int, list[str]]] = field(
        default_factory=lambda: [("Bob", 12, ["2026-01-02", "2026-02-03"]), ("Cy", 9, [])]
    )
    assets: list[str] = field(default_factory=lambda: ["cow"])
    instance_id: str = field(default_factory=lambda: f"uuid:{uuid.uuid4()}")
    deprecated_id: str | None = None
    version: str = "1"

    def xml(self) -> bytes:
        members = "".join(
            f"<member><mname>{escape(n)}</mname><mage>{a}</mage>"
            + "".join(f"<visit><vdate>{d}</vdate></visit>" for d in visits)
            + "</member>"
            for n, a, visits in self.members
        )
        assets = "".join(f"<asset><kind>{escape(k)}</kind></asset>" for k in self.assets)
        deprecated = f"<deprecatedID>{self.deprecated_id}</deprecatedID>" if self.deprecated_id else ""
        age = "<age/>" if self.age is None else f"<age>{self.age}</age>"
        photo = f"<photo>{self.photo}</photo>" if self.photo else "<photo/>"
        return (
            f'<data xmlns:jr="http://openrosa.org/javarosa" xmlns:orx="http://openrosa.org/xforms" '
            f'id="{FORM_ID}" version="{self.version}">'
            f"<name>{escape(self.name)}</name>{age}<hh-size>{self.size}</hh-size>"
            f"<income>{self.income}</income><location>{self.location}</location>{photo}"
            f"<g1>{members}</g1>{assets}"
            f"<meta><instanceID>{self.instance_id}</instanceID>{deprecated}"
            f"<instanceName>{escape(self.name)} {self.age}</instanceName></meta></data>"
        ).encode()

    def edited(self, **changes) -> Household:
        values = {**self.__dict__, **changes}
        values["deprecated_id"] = self.instance_id
        values["instance_id"] = f"uuid:{uuid.uuid4()}"
        return Household(**values)
