"""Questions that identify a person: the XLSForm column, the XForm attribute, the bundled
forms' marks (forms/README.md's table), and masking answers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from forms.compile import FormCompileError, compile_xlsform
from forms.entities import entity_declarations
from forms.schema import parse_xform
from forms.sensitive import (
    MASKED,
    mask_answers,
    mask_client_audit_row,
    mask_submission_xml,
    masked_file_names,
    sensitive_leaks,
    withheld_file_names,
)

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


PATHS = frozenset({"full_name", "home/gps", "member/born", "photo"})


def test_mask_answers_masks_through_groups_and_repeats_and_keeps_the_rest():
    answers = {"full_name": "Zarina", "age": "19", "home": {"gps": "38 68 0 0", "town": "x"},
               "member": [{"born": "2001-01-01", "sex": "f"}, {"sex": "m"}, {"born": ""}],
               "photo": "a.jpg", "meta": {"instanceID": "uuid:1", "audit": "audit.csv"}}
    masked = mask_answers(answers, PATHS)
    assert masked == {"full_name": MASKED, "age": "19", "home": {"gps": MASKED, "town": "x"},
                      "member": [{"born": MASKED, "sex": "f"}, {"sex": "m"}, {"born": ""}],
                      "photo": MASKED, "meta": {"instanceID": "uuid:1", "audit": "audit.csv"}}
    assert answers["full_name"] == "Zarina"  # a copy
    assert mask_answers(answers, frozenset()) is answers
    assert masked_file_names(answers, PATHS) == {"a.jpg", "Zarina", "38 68 0 0", "2001-01-01"}
    # files: only those of file questions (a guessed name never tells a masked text answer)
    binary = frozenset({"photo"})
    assert withheld_file_names(answers, PATHS, binary) == {"a.jpg", "audit.csv"}
    assert withheld_file_names(answers, frozenset(), binary) == frozenset()


def test_mask_submission_xml_masks_elements_at_masked_paths():
    xml = (b'<?xml version="1.0"?><data id="f" xmlns:orx="http://openrosa.org/xforms">'
           b"<full_name>Zarina</full_name><age>19</age><home><gps>38 68 0 0</gps></home>"
           b"<member><born>2001-01-01</born></member><member><born/></member>"
           b"<orx:meta><orx:instanceID>uuid:1</orx:instanceID></orx:meta></data>")
    out = mask_submission_xml(xml, PATHS)
    for secret in (b"Zarina", b"38 68", b"2001-01-01"):
        assert secret not in out
    assert out.count(MASKED.encode()) == 3 and b"<age>19</age>" in out and b"uuid:1" in out
    assert b"<born/>" in out  # an empty answer stays empty
    assert mask_submission_xml(xml, frozenset()) == xml


def test_a_collect_audit_event_loses_its_place_and_the_values_of_masked_questions():
    row = ["uuid:1", "question", "/data/member[2]/born", "1", "2", "38.5", "68.7", "5",
           "2000-01-01", "2001-01-01", "DU07", ""]
    out = mask_client_audit_row(row, PATHS, 2, (5, 6, 7), (8, 9))
    assert out[5:10] == [MASKED] * 5 and out[2] == "/data/member[2]/born"
    other = ["uuid:1", "question", "/data/age", "1", "2", "", "", "", "18", "19", "DU07", ""]
    assert mask_client_audit_row(other, PATHS, 2, (5, 6, 7), (8, 9)) == other


def test_a_sensitive_answer_copied_into_a_name_or_an_entity_is_found():
    leaky = """
| survey |  |  |  |  |  |
|  | type | name | label | sensitive | save_to |
|  | text | full_name | Name | yes | person |
|  | text | phone | Phone | yes |  |
|  | integer | age | Age |  | age |
| entities | | | |
| | list_name | label | |
| | people | concat(${phone}, '-', ${age}) | |
| settings | | | |
| | form_id | instance_name | |
| | leaky | concat('P-', ${full_name}) | |
"""
    compiled = compile_xlsform(leaky.encode(), file_type="md", validate=False)
    leaks = sensitive_leaks(parse_xform(compiled.xform), entity_declarations(compiled.xform))
    assert leaks == ["instance_name: full_name", "entity label (people): phone",
                     "entity property person (people): full_name"]
    for path in sorted(LIBRARY.glob("*.xlsx")):
        compiled = compile_xlsform(path.read_bytes(), validate=False)
        assert sensitive_leaks(parse_xform(compiled.xform),
                               entity_declarations(compiled.xform)) == [], path.stem
