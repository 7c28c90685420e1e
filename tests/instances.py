"""Build submission XML for a form from flat answers (name -> value), nesting each answer in
the groups the form puts it in, as ODK Collect would write it. For tests and benchmarks."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from xml.sax.saxutils import escape

from forms.schema import Field, FormSchema


def _render(fields: tuple[Field, ...], answers: Mapping[str, object]) -> str:
    parts = []
    for field in fields:
        if field.kind == "repeat":
            for item in answers.get(field.name, []) or []:
                parts.append(f"<{field.name}>{_render(field.children, item)}</{field.name}>")
        elif field.children:
            if field.name == "meta":
                continue
            parts.append(f"<{field.name}>{_render(field.children, answers)}</{field.name}>")
        else:
            value = answers.get(field.name)
            if value is None:
                parts.append(f"<{field.name}/>")
            else:
                if isinstance(value, (list, tuple)):
                    value = " ".join(value)
                parts.append(f"<{field.name}>{escape(str(value))}</{field.name}>")
    return "".join(parts)


def instance_xml(
    schema: FormSchema,
    answers: Mapping[str, object],
    *,
    instance_id: str | None = None,
    deprecated_id: str | None = None,
    version: str | None = None,
) -> bytes:
    instance_id = instance_id or f"uuid:{uuid.uuid4()}"
    deprecated = f"<deprecatedID>{deprecated_id}</deprecatedID>" if deprecated_id else ""
    body = _render(schema.fields, answers)
    return (
        f'<?xml version="1.0"?><{schema.root_name} xmlns:jr="http://openrosa.org/javarosa" '
        f'xmlns:orx="http://openrosa.org/xforms" id="{schema.xml_form_id}" '
        f'version="{version if version is not None else schema.version}">{body}'
        f"<meta><instanceID>{instance_id}</instanceID>{deprecated}</meta>"
        f"</{schema.root_name}>"
    ).encode()
