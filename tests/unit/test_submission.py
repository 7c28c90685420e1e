"""forms.submission: answers, meta, attachments, and refusal of malicious or broken XML."""

from xml.sax.saxutils import escape

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyxform.xls2xform import convert

from forms.schema import parse_xform
from forms.submission import ParsedSubmission, SubmissionParseError, parse_submission

FORM_MD = """
| survey |
| | type | name | label::English (en) | label::Russian (ru) | label::Tajik (tg) |
| | text | name | Name | Имя | Ном |
| | integer | age | Age | Возраст | Синну сол |
| | select_multiple risks | risks | Risks | Риски | Хатарҳо |
| | image | photo | Photo | Фото | Акс |
| | begin group | grp | Group | Группа | Гурӯҳ |
| | date | dob | DOB | ДР | ТР |
| | end group | | | | |
| | begin repeat | hh | Household | Хозяйство | Хонавода |
| | text | member | Member | Член | Аъзо |
| | begin repeat | visit | Visit | Визит | Ташриф |
| | date | vdate | Date | Дата | Сана |
| | audio | rec | Rec | Запись | Сабт |
| | end repeat | | | | |
| | end repeat | | | | |
| choices |
| | list_name | name | label::English (en) | label::Russian (ru) | label::Tajik (tg) |
| | risks | debt | Debt | Долг | Қарз |
| | risks | passport | Passport | Паспорт | Шиноснома |
| settings |
| | form_id | version |
| | hh_survey | 7 |
"""

FULL = """<?xml version="1.0" encoding="UTF-8"?>
<data xmlns:jr="http://openrosa.org/javarosa" xmlns:orx="http://openrosa.org/xforms"
      id="hh_survey" version="7" extra="ignored">
  <name>Фарида &amp; Co</name>
  <age/>
  <risks>debt passport</risks>
  <photo>1710050000000.jpg</photo>
  <grp><dob>1990-01-02</dob></grp>
  <hh>
    <member>Ali</member>
    <visit><vdate>2024-03-10</vdate><rec>a.m4a</rec></visit>
    <visit><vdate>2024-03-11</vdate><rec></rec></visit>
  </hh>
  <hh>
    <member>Zarina</member>
    <visit><vdate>2024-03-12</vdate><rec>b.m4a</rec></visit>
  </hh>
  <orx:meta>
    <orx:instanceID>uuid:22222222-2222-4222-8222-222222222222</orx:instanceID>
    <orx:deprecatedID>uuid:11111111-1111-4111-8111-111111111111</orx:deprecatedID>
    <orx:instanceName>Farida</orx:instanceName>
  </orx:meta>
</data>
""".encode()

ONE_EACH = b"""<data id="hh_survey"><name>A</name>
<hh><member>Ali</member><visit><vdate>2024-03-10</vdate><rec>a.m4a</rec></visit></hh>
<meta><instanceID>uuid:1</instanceID></meta></data>"""


@pytest.fixture(scope="module")
def schema():
    return parse_xform(convert(xlsform=FORM_MD, file_type=".md").xform)


def parse_with(schema, xml: bytes, **kwargs) -> ParsedSubmission:
    return parse_submission(
        xml, repeat_paths=schema.repeat_paths, binary_paths=schema.binary_paths, **kwargs
    )


def nested(depth: int) -> bytes:
    """A submission whose deepest element is at `depth` (the root is at depth 1)."""
    inner = "<x>" * (depth - 1) + "</x>" * (depth - 1)
    return f'<data id="f">{inner}<meta><instanceID>uuid:1</instanceID></meta></data>'.encode()


def test_full_submission_with_schema(schema):
    parsed = parse_with(schema, FULL)
    assert parsed.xml_form_id == "hh_survey"
    assert parsed.version == "7"
    assert parsed.instance_id == "uuid:22222222-2222-4222-8222-222222222222"
    assert parsed.deprecated_id == "uuid:11111111-1111-4111-8111-111111111111"
    assert parsed.instance_name == "Farida"
    assert parsed.answers == {
        "name": "Фарида & Co",
        "age": None,
        "risks": "debt passport",
        "photo": "1710050000000.jpg",
        "grp": {"dob": "1990-01-02"},
        "hh": [
            {
                "member": "Ali",
                "visit": [
                    {"vdate": "2024-03-10", "rec": "a.m4a"},
                    {"vdate": "2024-03-11", "rec": None},
                ],
            },
            {"member": "Zarina", "visit": [{"vdate": "2024-03-12", "rec": "b.m4a"}]},
        ],
        "meta": {
            "instanceID": "uuid:22222222-2222-4222-8222-222222222222",
            "deprecatedID": "uuid:11111111-1111-4111-8111-111111111111",
            "instanceName": "Farida",
        },
    }
    assert parsed.attachment_names == ("1710050000000.jpg", "a.m4a", "b.m4a")


def test_single_occurrence_of_a_repeat_is_a_list_only_with_the_schema(schema):
    with_schema = parse_with(schema, ONE_EACH)
    assert with_schema.answers["hh"] == [
        {"member": "Ali", "visit": [{"vdate": "2024-03-10", "rec": "a.m4a"}]}
    ]
    without = parse_submission(ONE_EACH)
    assert without.answers["hh"] == {
        "member": "Ali",
        "visit": {"vdate": "2024-03-10", "rec": "a.m4a"},
    }
    assert without.attachment_names == ()


def test_same_name_siblings_become_a_list_without_schema():
    parsed = parse_submission(FULL)
    assert [h["member"] for h in parsed.answers["hh"]] == ["Ali", "Zarina"]
    assert [v["vdate"] for v in parsed.answers["hh"][0]["visit"]] == ["2024-03-10", "2024-03-11"]
    assert parsed.answers["hh"][1]["visit"] == {"vdate": "2024-03-12", "rec": "b.m4a"}
    dupes = b'<d id="f"><a>1</a><a/><a>3</a><meta><instanceID>u</instanceID></meta></d>'
    assert parse_submission(dupes).answers["a"] == ["1", None, "3"]


def test_empty_repeat_occurrence_is_an_empty_dict(schema):
    xml = b'<data id="hh_survey"><hh/><hh><member>B</member></hh><meta><instanceID>u</instanceID></meta></data>'
    assert parse_with(schema, xml).answers["hh"] == [{}, {"member": "B"}]


def test_attachments_by_part_names_when_there_is_no_schema():
    parsed = parse_submission(FULL, part_names=frozenset({"a.m4a", "1710050000000.jpg", "zz.jpg"}))
    assert parsed.attachment_names == ("1710050000000.jpg", "a.m4a")


def test_attachment_names_are_distinct_and_skip_blanks(schema):
    xml = b"""<data id="hh_survey"><photo>  </photo>
      <hh><visit><rec>same.m4a</rec></visit><visit><rec>same.m4a</rec></visit></hh>
      <meta><instanceID>u</instanceID></meta></data>"""
    assert parse_with(schema, xml).attachment_names == ("same.m4a",)


@pytest.mark.parametrize(
    "meta",
    [
        "<meta><instanceID>uuid:x</instanceID></meta>",
        "<orx:meta><orx:instanceID>uuid:x</orx:instanceID></orx:meta>",
        '<meta xmlns="http://openrosa.org/xforms"><instanceID>uuid:x</instanceID></meta>',
        "<meta><instanceID>\n  uuid:x\n</instanceID><deprecatedID/><instanceName> </instanceName></meta>",
    ],
)
def test_meta_is_namespace_agnostic(meta):
    xml = f'<data xmlns:orx="http://openrosa.org/xforms" id="f">{meta}</data>'.encode()
    parsed = parse_submission(xml)
    assert (parsed.instance_id, parsed.deprecated_id, parsed.instance_name) == (
        "uuid:x",
        None,
        None,
    )
    assert parsed.version == ""
    assert parsed.answers["meta"]["instanceID"].strip() == "uuid:x"


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<data id="f"><a>&lol9;</a><meta><instanceID>uuid:1</instanceID></meta></data>"""

XXE = b"""<?xml version="1.0"?><!-- a comment first -->
<!DOCTYPE data [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<data id="f"><a>&xxe;</a><meta><instanceID>uuid:1</instanceID></meta></data>"""

EXTERNAL_DTD = b"""<!DOCTYPE data SYSTEM "http://127.0.0.1:9/evil.dtd">
<data id="f"><meta><instanceID>uuid:1</instanceID></meta></data>"""

UTF16_DOCTYPE = (
    '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE data>'
    '<data id="f"><meta><instanceID>uuid:1</instanceID></meta></data>'
).encode("utf-16")


@pytest.mark.parametrize(
    ("xml", "kwargs", "kind"),
    [
        (BILLION_LAUGHS, {}, "xml-doctype-forbidden"),
        (XXE, {}, "xml-doctype-forbidden"),
        (EXTERNAL_DTD, {}, "xml-doctype-forbidden"),
        (UTF16_DOCTYPE, {}, "xml-doctype-forbidden"),
        (nested(10_000), {}, "xml-too-deep"),
        (nested(100), {}, "xml-too-deep"),
        (nested(65), {}, "xml-too-deep"),
        (nested(11), {"max_depth": 10}, "xml-too-deep"),
        (FULL, {"max_bytes": len(FULL) - 1}, "xml-too-large"),
        (b"<data id='f'>" + b"x" * 10_000_001 + b"</data>", {}, "xml-too-large"),
        (
            b"<data id='f'><t>" + b"x" * 10_000_001 + b"</t></data>",
            {"max_bytes": 20_000_000},
            "xml-too-large",
        ),
        (b"", {}, "xml-invalid"),
        (b"<data id='f'><a></data>", {}, "xml-invalid"),
        (b"<data id='f'><a>&undefined;</a></data>", {}, "xml-invalid"),
        # an undeclared prefix is read as Central reads it (issue 12); still well-formedness
        (b"<data id='f'><orx:meta/></data>", {}, "instance-id-missing"),
        (b"<data id='f'><orx:meta></meta></data>", {}, "xml-invalid"),
        (b"<data><meta><instanceID>uuid:1</instanceID></meta></data>", {}, "form-id-missing"),
        (
            b"<data id=' '><meta><instanceID>uuid:1</instanceID></meta></data>",
            {},
            "form-id-missing",
        ),
        (b"<data id='f'><name>x</name></data>", {}, "instance-id-missing"),
        (b"<data id='f'><meta><instanceID/></meta></data>", {}, "instance-id-missing"),
        (
            b"<data id='f'><meta><instanceID><x>1</x></instanceID></meta></data>",
            {},
            "instance-id-missing",
        ),
        (b"<data id='f' instanceID='uuid:1'><meta/></data>", {}, "instance-id-missing"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_refused(xml, kwargs, kind):
    with pytest.raises(SubmissionParseError) as caught:
        parse_submission(xml, **kwargs)
    assert caught.value.kind == kind
    assert "root:" not in str(caught.value)  # nothing of /etc/passwd leaks into messages


def test_instance_id_directly_under_the_root_is_accepted_as_central_does():
    xml = b"<data id='f'><a>1</a><instanceID>uuid:top</instanceID></data>"
    parsed = parse_submission(xml)
    assert parsed.instance_id == "uuid:top"
    assert parsed.answers == {"a": "1", "instanceID": "uuid:top"}
    both = b"<data id='f'><instanceID>uuid:top</instanceID><meta><instanceID>uuid:m</instanceID></meta></data>"
    assert parse_submission(both).instance_id == "uuid:m"


def test_depth_limit_is_inclusive():
    parsed = parse_submission(nested(64))
    depth, node = 1, parsed.answers
    while isinstance(node, dict) and "x" in node:
        depth, node = depth + 1, node["x"]
    assert depth == 64  # the root, then 63 nested <x>; the deepest is empty
    assert node is None
    assert parse_submission(nested(11), max_depth=11).instance_id == "uuid:1"


# Property: any tree of answers survives serialisation and parsing unchanged.
_names = st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True).filter(lambda n: n != "meta")
_text = st.text(
    alphabet=st.characters(
        codec="utf-8", exclude_categories=("Cs", "Cc"), exclude_characters="\ufffe\uffff"
    ),
    min_size=1,
)
_trees = st.recursive(
    st.none() | _text,
    lambda inner: st.dictionaries(_names, inner, min_size=1, max_size=4),
    max_leaves=12,
)


def _to_xml(name: str, value) -> str:
    if value is None:
        return f"<{name}/>"
    if isinstance(value, str):
        return f"<{name}>{escape(value)}</{name}>"
    return f"<{name}>" + "".join(_to_xml(k, v) for k, v in value.items()) + f"</{name}>"


@settings(max_examples=30, deadline=None)
@given(answers=st.dictionaries(_names, _trees, max_size=5))
def test_answers_round_trip(answers):
    body = "".join(_to_xml(k, v) for k, v in answers.items())
    xml = f'<data id="f" version="v1">{body}<meta><instanceID>uuid:p</instanceID></meta></data>'
    parsed = parse_submission(xml.encode("utf-8"))
    assert parsed.answers == {**answers, "meta": {"instanceID": "uuid:p"}}


def test_undeclared_odk_prefixes_are_read_as_central_reads_them() -> None:
    """central-backend's fixtures write <orx:meta> and orx:version without declaring orx."""
    xml = (
        b'<?xml version="1.0"?>\n<!-- sent by a script -->\n'
        b'<data id="doubleRepeat" orx:version="1.0">'
        b"<orx:meta><orx:instanceID>double</orx:instanceID>"
        b"<orx:instanceName>Twice</orx:instanceName></orx:meta>"
        b"<name>Vick</name><odd:thing>1</odd:thing></data>"
    )
    parsed = parse_submission(xml)
    assert (parsed.xml_form_id, parsed.version, parsed.instance_id) == (
        "doubleRepeat", "1.0", "double"
    )
    assert parsed.instance_name == "Twice"
    assert parsed.answers["name"] == "Vick" and parsed.answers["thing"] == "1"
    # the plain attribute wins over a prefixed one, as in Central
    both = b'<data id="f" version="2" orx:version="1"><meta><instanceID>x</instanceID></meta></data>'
    assert parse_submission(both).version == "2"


def test_declaring_prefixes_keeps_doctypes_and_entities_off() -> None:
    for xml in (
        b'<!DOCTYPE d [<!ENTITY e "boom">]><data id="f"><orx:meta>&e;</orx:meta></data>',
        b'<data id="f"><orx:meta><orx:instanceID>&e;</orx:instanceID></orx:meta></data>',
    ):
        with pytest.raises(SubmissionParseError) as caught:
            parse_submission(xml)
        assert caught.value.kind in ("xml-doctype-forbidden", "xml-invalid")


def test_bare_ampersands_are_text_as_central_reads_them() -> None:
    xml = (b'<data id="f"><meta><instanceID>sena_~~!@#$%^&*()_+=-\xe2\x9c\x85</instanceID>'
           b"</meta><a>Tom & Jerry&co &amp; &#38;</a></data>")
    parsed = parse_submission(xml)
    assert parsed.instance_id == "sena_~~!@#$%^&*()_+=-\u2705"
    assert parsed.answers["a"] == "Tom & Jerry&co & &"
    with pytest.raises(SubmissionParseError):  # a complete reference to an unknown entity
        parse_submission(b'<data id="f"><meta><instanceID>x</instanceID></meta>&nope;</data>')
