"""Questions that identify a person: the XLSForm column, the XForm attribute, the bundled
forms' marks (forms/README.md's table), and masking answers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from forms.compile import FormCompileError, compile_xlsform
from forms.schema import parse_xform

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = ROOT / "forms" / "library"

XLSFORM = """
| survey |  |  |  |  |
|  | type | name | label | sensitive |
|  | text | full_name | Name | yes |
|  | text | district | District | no |
|  | geopoint | home | Home | TRUE |
|  | begin repeat | member | Member | yes |
|  | date | birth_date | Born |  |
|  | end repeat | member |  |  |
|  | integer | age | Age |  |
| settings | | |
| | form_id | version |
| | marked | 1 |
"""


def test_the_column_becomes_a_bind_attribute_the_schema_reads():
    compiled = compile_xlsform(XLSFORM.encode(), file_type="md", validate=False)
    assert 'xmlns:fs="urn:fieldsurvey:xforms"' in compiled.xform
    assert 'fs:sensitive="yes"' in compiled.xform
    schema = parse_xform(compiled.xform)
    assert schema.sensitive_paths == {"full_name", "home", "member/birth_date"}
    assert not schema.field("age").sensitive and not schema.field("district").sensitive


def test_a_form_without_the_column_has_no_namespace_added():
    plain = XLSFORM.replace("| sensitive |", "| hint |")
    compiled = compile_xlsform(plain.encode(), file_type="md", validate=False)
    assert "urn:fieldsurvey:xforms" not in compiled.xform
    assert parse_xform(compiled.xform).sensitive_paths == frozenset()


def test_an_unknown_value_in_the_column_is_refused_with_its_row():
    bad = XLSFORM.replace("| District | no |", "| District | maybe |")
    with pytest.raises(FormCompileError) as caught:
        compile_xlsform(bad.encode(), file_type="md", validate=False)
    assert caught.value.kind == "xlsform-invalid"
    assert caught.value.problems[0].row == 3 and "maybe" in caught.value.problems[0].message


@pytest.mark.parametrize(
    ("attribute", "sensitive"),
    [
        ('xmlns:x="urn:other" x:sensitive="yes"', True),
        ('sensitive="true()"', True),
        ('sensitive="oui"', True),  # a value not understood marks it: never leaks by a typo
        ('sensitive="no"', False),
        ('sensitive=""', False),
        ("", False),
    ],
)
def test_an_uploaded_xform_marks_a_question_with_any_sensitive_attribute(attribute, sensitive):
    xform = (
        '<h:html xmlns="http://www.w3.org/2002/xforms" xmlns:h="http://www.w3.org/1999/xhtml">'
        '<h:head><h:title>t</h:title><model><instance><data id="t"><n/></data></instance>'
        f'<bind nodeset="/data/n" type="string" {attribute}/></model></h:head>'
        '<h:body><input ref="/data/n"><label>N</label></input></h:body></h:html>'
    )
    assert parse_xform(xform).field("n").sensitive is sensitive


def readme_table() -> dict[str, set[str]]:
    text = (ROOT / "forms" / "README.md").read_text(encoding="utf-8")
    section = text.split("## Sensitive questions of the bundled forms", 1)[1].split("\n## ", 1)[0]
    table = {}
    for line in section.splitlines():
        match = re.match(r"\| `(\w+)` \| (.*) \|$", line)
        if match:
            table[match.group(1)] = set(re.findall(r"`([\w/]+)`", match.group(2)))
    return table


def test_the_bundled_forms_mark_what_their_readme_lists():
    table = readme_table()
    assert set(table) == {p.stem for p in LIBRARY.glob("*.xlsx")}
    for path in sorted(LIBRARY.glob("*.xlsx")):
        compiled = compile_xlsform(path.read_bytes(), validate=False)
        assert parse_xform(compiled.xform).sensitive_paths == table[path.stem], path.stem
    # the free-text notes and the GPS points of where people live or were met
    assert "location/location_gps" in table["community_awareness"]
    assert "visit_notes" in table["support_center_followup"]
