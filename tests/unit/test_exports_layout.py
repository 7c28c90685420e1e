"""exports.layout / exports.flatten / exports.csv without a database: Central's column names
and keys (its own nested-repeat test, reproduced), and merging published versions."""

from __future__ import annotations

import asyncio
import io
import zipfile
from datetime import UTC, datetime

import pytest
from pyxform.xls2xform import convert

from exports.csv import stream_csv_zip, table_filenames
from exports.layout import (
    ExportOptionError,
    ExportOptions,
    build_layout,
    merge_versions,
    resolve_language,
)
from forms.schema import parse_xform

# central-backend test/unit/data/briefcase.js, "should handle nested repeats, with PARENT_KEY/KEY"
MULTIREPEAT = """<?xml version="1.0"?>
<h:html xmlns="http://www.w3.org/2002/xforms" xmlns:h="http://www.w3.org/1999/xhtml"
 xmlns:jr="http://openrosa.org/javarosa" xmlns:orx="http://openrosa.org/xforms">
 <h:head><model>
  <instance><data id="multirepeat"><orx:meta><orx:instanceID/></orx:meta><name/><age/>
   <children><child><name/><age/><toy><name/></toy></child></children></data></instance>
  <bind nodeset="/data/meta/instanceID" preload="uid" type="string"/>
  <bind nodeset="/data/name" type="string"/><bind nodeset="/data/age" type="integer"/>
  <bind nodeset="/data/children/child/name" type="string"/>
  <bind nodeset="/data/children/child/age" type="integer"/>
  <bind nodeset="/data/children/child/toy/name" type="string"/>
 </model></h:head>
 <h:body>
  <input ref="/data/name"><label>Name</label></input>
  <input ref="/data/age"><label>Age</label></input>
  <group ref="/data/children/child"><label>Child</label>
   <repeat nodeset="/data/children/child">
    <input ref="/data/children/child/name"><label>Child name</label></input>
    <input ref="/data/children/child/age"><label>Child age</label></input>
    <group ref="/data/children/child/toy"><label>Toy</label>
     <repeat nodeset="/data/children/child/toy">
      <input ref="/data/children/child/toy/name"><label>Toy name</label></input>
     </repeat></group>
   </repeat></group>
 </h:body></h:html>"""

CENTRAL_EXPECTED = {
    "multirepeat.csv": (
        "SubmissionDate,meta-instanceID,name,age,KEY,SubmitterID,SubmitterName,"
        "AttachmentsPresent,AttachmentsExpected,Status,ReviewState,DeviceID,Edits,FormVersion\n"
        "2018-01-01T00:00:00.000Z,one,Alice,30,one,,,0,0,,,,0,version\n"
        "2018-01-01T00:00:00.000Z,two,Bob,34,two,,,0,0,,,,0,version\n"
        "2018-01-01T00:00:00.000Z,three,Chelsea,38,three,,,0,0,,,,0,version\n"
    ),
    "multirepeat-child.csv": (
        "name,age,PARENT_KEY,KEY\n"
        "Billy,4,two,two/children/child[1]\n"
        "Blaine,6,two,two/children/child[2]\n"
        "Baker,7,two,two/children/child[3]\n"
        "Candace,2,three,three/children/child[1]\n"
    ),
    "multirepeat-toy.csv": (
        "name,PARENT_KEY,KEY\n"
        "R2-D2,two/children/child[1],two/children/child[1]/toy[1]\n"
        "BB-8,two/children/child[2],two/children/child[2]/toy[1]\n"
        "Porg plushie,two/children/child[2],two/children/child[2]/toy[2]\n"
        "Millennium Falcon,three/children/child[1],three/children/child[1]/toy[1]\n"
        "X-Wing,three/children/child[1],three/children/child[1]/toy[2]\n"
        "Pod racer,three/children/child[1],three/children/child[1]/toy[3]\n"
    ),
}


def record(instance_id: str, answers: dict) -> dict:
    return {
        "instance_id": instance_id,
        "created_at": datetime(2018, 1, 1, tzinfo=UTC),
        "submitter_id": None,
        "submitter_name": None,
        "attachments_present": 0,
        "attachments_expected": 0,
        "review_state": None,
        "device_id": None,
        "edits": 0,
        "form_version": "version",
        "answers": {"meta": {"instanceID": instance_id}, **answers},
    }


def csv_files(layout, records) -> dict[str, str]:
    async def source():
        for r in records:
            yield r

    async def collect():
        return b"".join([chunk async for chunk in stream_csv_zip(source(), layout)])

    archive = zipfile.ZipFile(io.BytesIO(asyncio.run(collect())))
    return {name: archive.read(name).decode() for name in archive.namelist()}


def test_central_nested_repeats_csv_byte_for_byte() -> None:
    schema = parse_xform(MULTIREPEAT)
    layout = build_layout(merge_versions([schema]))
    records = [
        record("one", {"name": "Alice", "age": "30"}),
        record("two", {"name": "Bob", "age": "34", "children": {"child": [
            {"name": "Billy", "age": "4", "toy": [{"name": "R2-D2"}]},
            {"name": "Blaine", "age": "6", "toy": [{"name": "BB-8"}, {"name": "Porg plushie"}]},
            {"name": "Baker", "age": "7"},
        ]}}),
        record("three", {"name": "Chelsea", "age": "38", "children": {"child": [
            {"name": "Candace", "age": "2", "toy": [
                {"name": "Millennium Falcon"}, {"name": "X-Wing"}, {"name": "Pod racer"}]},
        ]}}),
    ]
    assert csv_files(layout, records) == CENTRAL_EXPECTED


def test_repeats_sharing_a_name_are_numbered_as_central_does() -> None:
    # pyxform refuses this; hand-written XForms (and older forms) can have it
    xform = """<h:html xmlns="http://www.w3.org/2002/xforms" xmlns:h="http://www.w3.org/1999/xhtml"
 xmlns:jr="http://openrosa.org/javarosa"><h:head><model><instance>
 <data id="dup/name"><a><item jr:template=""><x/></item></a><b><item jr:template=""><y/></item></b>
 </data></instance></model></h:head><h:body/></h:html>"""
    layout = build_layout(merge_versions([parse_xform(xform)]))
    assert table_filenames(layout) == ["dupname.csv", "dupname-item~1.csv", "dupname-item~2.csv"]


def form(version: str, rows: str, choices: str) -> str:
    md = f"""
| survey |
| | type | name | label::English (en) | label::Russian (ru) |
{rows}
| choices |
| | list_name | name | label::English (en) | label::Russian (ru) |
{choices}
| settings |
| | form_id | version |
| | merged | {version} |
"""
    return convert(xlsform=md, file_type=".md", pretty_print=False).xform


def test_versions_merge_in_the_newest_order() -> None:
    v1 = form(
        "1",
        "| | text | a | A | А |\n| | text | gone | Gone | Нет |\n| | select_one c | pick | P | В |",
        "| | c | x | X | Х |\n| | c | old | Old | Старый |",
    )
    v2 = form(
        "2",
        "| | select_one c | pick | Pick | Выбор |\n| | text | a | A | А |\n| | integer | new | N | Н |",
        "| | c | x | X | Х |\n| | c | y | Y | У |",
    )
    merged = merge_versions([parse_xform(v1), parse_xform(v2)])
    names = [f.name for f in merged.schema.fields if f.name != "meta"]
    assert names == ["pick", "a", "gone", "new"]  # v2's order; "gone" after "a" as in v1
    assert [c.name for c in merged.schema.field("pick").choices] == ["x", "y", "old"]
    assert merged.schema.field("pick").labels["English (en)"] == "Pick"  # newest label
    assert merged.field_versions["gone"] == ("1",)
    assert merged.field_versions["pick"] == ("1", "2")


def test_options_and_errors() -> None:
    schema = parse_xform(MULTIREPEAT)
    merged = merge_versions([schema])
    names = [c.name for c in build_layout(merged, ExportOptions(group_paths=False)).tables[0].columns]
    assert "instanceID" in names
    only = build_layout(merged, ExportOptions(fields=("children/child/toy",)))
    assert [t.name for t in only.tables] == ["multirepeat", "child", "toy"]
    assert [c.name for c in only.tables[1].columns] == ["PARENT_KEY", "KEY"]
    assert [c.name for c in only.tables[2].columns] == ["name", "PARENT_KEY", "KEY"]
    with pytest.raises(ExportOptionError):
        build_layout(merged, ExportOptions(fields=("nope",)))
    multilingual = merge_versions([parse_xform(form("1", "| | text | a | A | А |", "| | c | x | X | Х |"))])
    assert resolve_language(multilingual.schema, "ru") == "Russian (ru)"
    with pytest.raises(ExportOptionError):
        resolve_language(multilingual.schema, "fr")
