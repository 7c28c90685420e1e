"""forms.schema: XForms built by pyxform from markdown XLSForms, plus hand-written XForms for
constructs pyxform no longer emits (inline items, relative refs, xsd: types)."""

import ast
from pathlib import Path

import pytest
from pyxform.xls2xform import convert

from forms.schema import Choice, FormSchemaError, parse_xform

HOUSEHOLD_MD = """
| survey |
| | type | name | label::English (en) | label::Russian (ru) | label::Tajik (tg) | hint::English (en) | hint::Russian (ru) | hint::Tajik (tg) | constraint_message::English (en) | constraint_message::Russian (ru) | constraint_message::Tajik (tg) | relevant | constraint | required | calculation | choice_filter |
| | start | start | | | | | | | | | | | | | | |
| | text | name | Name | Имя | Ном | Full name | Полное имя | Номи пурра | | | | | | yes | | |
| | integer | age | Age | Возраст | Синну сол | | | | Bad age | Неверный возраст | Синни нодуруст | | . >= 0 and . < 120 | yes | | |
| | select_one region | region | Region | Регион | Вилоят | | | | | | | | | | | |
| | select_one district | district | District | Район | Ноҳия | | | | | | | | | | | region=${region} |
| | select_multiple risks | risks | Risks | Риски | Хатарҳо | | | | | | | | | | | |
| | geopoint | loc | Location | Место | Ҷой | | | | | | | | | | | |
| | image | photo | Photo | Фото | Акс | | | | | | | | | | | |
| | calculate | age2 | | | | | | | | | | | | | ${age} * 2 | |
| | note | n1 | Hello ${name} | Привет ${name} | Салом ${name} | | | | | | | | | | | |
| | begin group | grp | Group | Группа | Гурӯҳ | | | | | | | ${age} > 10 | | | | |
| | decimal | income | Income | Доход | Даромад | | | | | | | | | | | |
| | date | dob | DOB | ДР | ТР | | | | | | | | | | | |
| | end group | | | | | | | | | | | | | | | |
| | begin repeat | hh | Household | Хозяйство | Хонавода | | | | | | | | | | | |
| | text | member | Member | Член | Аъзо | | | | | | | | | | | |
| | begin repeat | visit | Visit | Визит | Ташриф | | | | | | | | | | | |
| | date | vdate | Date | Дата | Сана | | | | | | | | | | | |
| | audio | rec | Rec | Запись | Сабт | | | | | | | | | | | |
| | end repeat | | | | | | | | | | | | | | | |
| | end repeat | | | | | | | | | | | | | | | |
| choices |
| | list_name | name | label::English (en) | label::Russian (ru) | label::Tajik (tg) | region |
| | region | sughd | Sughd | Согд | Суғд | |
| | region | khatlon | Khatlon | Хатлон | Хатлон | |
| | district | khujand | Khujand | Худжанд | Хуҷанд | sughd |
| | district | bokhtar | Bokhtar | Бохтар | Бохтар | khatlon |
| | risks | debt | Debt | Долг | Қарз | |
| | risks | passport | Passport held | Паспорт | Шиноснома | |
| settings |
| | form_id | version | form_title | default_language | instance_name |
| | hh_survey | 2024010101 | Household survey | Russian (ru) | concat(${name}, '-', ${age}) |
"""

PLAIN_MD = """
| survey |
| | type | name | label | choice_filter |
| | select_one yn | q1 | Q1 | |
| | select_one yn | q2 | Q2 | name != 'no' |
| | rank yn | q3 | Rank them | |
| | text | t | Hello ${q1} there | |
| | select_one_from_file villages.csv | v | Village | |
| choices |
| | list_name | name | label |
| | yn | yes | Yes |
| | yn | no | No |
| settings |
| | form_id |
| | plain |
"""

# Older/hand-written style: inline items, relative refs, xsd: types, a template-only repeat.
INLINE_XFORM = """<?xml version="1.0" encoding="UTF-8"?>
<h:html xmlns="http://www.w3.org/2002/xforms" xmlns:h="http://www.w3.org/1999/xhtml"
    xmlns:jr="http://openrosa.org/javarosa" xmlns:orx="http://openrosa.org/xforms">
  <h:head>
    <h:title>Inline</h:title>
    <model>
      <itext>
        <translation lang="en"><text id="yes"><value>Yes</value><value form="image">jr://images/y.png</value></text></translation>
        <translation lang="tg"><text id="yes"><value>Ҳа</value></text></translation>
      </itext>
      <instance>
        <survey id="inline_form">
          <consent/>
          <g><n>5</n><kids/></g>
          <kid jr:template=""><kname/></kid>
          <orx:meta><orx:instanceID/></orx:meta>
        </survey>
      </instance>
      <bind nodeset="/survey/consent" type="select1" required="${x} = 1"/>
      <bind nodeset="/survey/g/n" type="xsd:integer" readonly="true()"/>
      <bind nodeset="/survey/g/kids" type="xsd:string" jr:constraintMsg="Too many"/>
      <bind nodeset="/survey/kid/kname" type="xsd:string"/>
      <bind nodeset="/survey/orx:meta/orx:instanceID" type="string" readonly="true()"/>
    </model>
  </h:head>
  <h:body>
    <select1 ref="/survey/consent">
      <label>Consent?</label>
      <item><label ref="jr:itext('yes')"/><value>1</value></item>
      <item><label>No</label><value>0</value></item>
    </select1>
    <group ref="/survey/g">
      <input ref="n"><label>N</label></input>
      <select ref="kids"><label>Kids</label><item><label>A</label><value>a</value></item></select>
    </group>
  </h:body>
</h:html>
"""


def xform_from_md(md: str) -> str:
    return convert(xlsform=md, file_type=".md").xform


@pytest.fixture(scope="module")
def household():
    return parse_xform(xform_from_md(HOUSEHOLD_MD))


@pytest.fixture(scope="module")
def plain():
    return parse_xform(xform_from_md(PLAIN_MD))


def test_identity_and_languages(household):
    assert household.xml_form_id == "hh_survey"
    assert household.version == "2024010101"
    assert household.title == "Household survey"
    assert household.root_name == "data"
    assert household.languages == ("English (en)", "Russian (ru)", "Tajik (tg)")
    assert household.default_language == "Russian (ru)"


def test_walk_follows_instance_order_and_counts_repeat_templates_once(household):
    assert [f.path for f in household.walk()] == [
        "start",
        "name",
        "age",
        "region",
        "district",
        "risks",
        "loc",
        "photo",
        "age2",
        "n1",
        "grp",
        "grp/income",
        "grp/dob",
        "hh",
        "hh/member",
        "hh/visit",
        "hh/visit/vdate",
        "hh/visit/rec",
        "meta",
        "meta/instanceID",
        "meta/instanceName",
    ]
    assert [f.name for f in household.fields][-3:] == ["grp", "hh", "meta"]


@pytest.mark.parametrize(
    ("path", "kind", "type_"),
    [
        ("start", "question", "dateTime"),
        ("name", "question", "string"),
        ("age", "question", "int"),
        ("region", "question", "select_one"),
        ("district", "question", "select_one"),
        ("risks", "question", "select_multiple"),
        ("loc", "question", "geopoint"),
        ("photo", "question", "binary"),
        ("age2", "calculate", "string"),
        ("n1", "question", "note"),
        ("grp", "group", "structure"),
        ("grp/income", "question", "decimal"),
        ("grp/dob", "question", "date"),
        ("hh", "repeat", "structure"),
        ("hh/visit", "repeat", "structure"),
        ("hh/visit/rec", "question", "binary"),
        ("meta", "group", "structure"),
        ("meta/instanceID", "meta", "string"),
        ("meta/instanceName", "meta", "string"),
    ],
)
def test_kinds_and_types(household, path, kind, type_):
    field = household.field(path)
    assert (field.kind, field.type) == (kind, type_)


def test_repeat_and_binary_paths(household):
    assert household.repeat_paths == frozenset({"hh", "hh/visit"})
    assert household.binary_paths == frozenset({"photo", "hh/visit/rec"})


def test_labels_hints_and_constraint_messages_in_three_languages(household):
    name = household.field("name")
    assert name.labels == {"English (en)": "Name", "Russian (ru)": "Имя", "Tajik (tg)": "Ном"}
    assert name.hints == {
        "English (en)": "Full name",
        "Russian (ru)": "Полное имя",
        "Tajik (tg)": "Номи пурра",
    }
    assert name.required is True
    age = household.field("age")
    assert age.constraint == ". >= 0 and . < 120"
    assert age.constraint_message == {
        "English (en)": "Bad age",
        "Russian (ru)": "Неверный возраст",
        "Tajik (tg)": "Синни нодуруст",
    }
    assert household.field("hh").labels["Tajik (tg)"] == "Хонавода"
    assert household.field("grp").labels["Russian (ru)"] == "Группа"
    assert household.field("n1").labels == {
        "English (en)": "Hello ${name}",
        "Russian (ru)": "Привет ${name}",
        "Tajik (tg)": "Салом ${name}",
    }
    assert household.field("meta/instanceID").labels == {}


def test_binds_relevant_calculate_readonly(household):
    assert household.field("grp").relevant.split() == ["/data/age", ">", "10"]
    assert household.field("age2").calculate.split() == ["/data/age", "*", "2"]
    assert household.field("n1").readonly is True
    assert household.field("meta/instanceID").readonly is True
    assert household.field("meta/instanceName").calculate.startswith("concat(")
    assert household.field("loc").required is False
    assert household.field("loc").relevant is None


def test_itemset_choices_with_translations_and_filter(household):
    region = household.field("region")
    assert region.choices == (
        Choice("sughd", {"English (en)": "Sughd", "Russian (ru)": "Согд", "Tajik (tg)": "Суғд"}),
        Choice(
            "khatlon", {"English (en)": "Khatlon", "Russian (ru)": "Хатлон", "Tajik (tg)": "Хатлон"}
        ),
    )
    assert region.choice_filter is None
    district = household.field("district")
    # every item of the list, whatever the filter would select at run time
    assert [c.name for c in district.choices] == ["khujand", "bokhtar"]
    assert district.choices[0].labels["Tajik (tg)"] == "Хуҷанд"
    assert district.choice_filter.replace(" ", "") == "region=/data/region"
    risks = household.field("risks")
    assert [(c.name, c.labels["English (en)"]) for c in risks.choices] == [
        ("debt", "Debt"),
        ("passport", "Passport held"),
    ]
    assert household.field("age").choices == ()


def test_plain_labels_use_default_key(plain):
    assert plain.languages == ()
    assert plain.default_language is None
    assert plain.title == "plain"
    q1 = plain.field("q1")
    assert q1.labels == {"default": "Q1"}
    assert q1.choices == (Choice("yes", {"default": "Yes"}), Choice("no", {"default": "No"}))
    q2 = plain.field("q2")
    assert [c.name for c in q2.choices] == ["yes", "no"]
    assert q2.choice_filter == "name != 'no'"
    q3 = plain.field("q3")
    assert q3.type == "rank"
    assert [c.name for c in q3.choices] == ["yes", "no"]
    assert plain.field("t").labels == {"default": "Hello ${q1} there"}
    village = plain.field("v")
    assert (village.type, village.choices, village.choice_filter) == ("select_one", (), None)
    assert plain.repeat_paths == frozenset()
    assert plain.binary_paths == frozenset()


def test_inline_items_relative_refs_and_template_only_repeat():
    schema = parse_xform(INLINE_XFORM)
    assert (schema.xml_form_id, schema.version, schema.root_name) == ("inline_form", "", "survey")
    assert schema.languages == ("en", "tg")
    assert schema.default_language == "en"  # no translation marked default: the first one
    consent = schema.field("consent")
    assert consent.type == "select_one"
    assert consent.required is False  # a conditional expression is not "always required"
    assert consent.choices == (
        Choice("1", {"en": "Yes", "tg": "Ҳа"}),
        Choice("0", {"default": "No"}),
    )
    n = schema.field("g/n")
    assert (n.kind, n.type, n.labels, n.readonly) == ("question", "int", {"default": "N"}, True)
    kids = schema.field("g/kids")
    assert kids.type == "select_multiple"
    assert kids.choices == (Choice("a", {"default": "A"}),)
    assert kids.constraint_message == "Too many"
    assert schema.field("g").kind == "group"
    assert schema.field("kid").kind == "repeat"
    assert schema.repeat_paths == frozenset({"kid"})
    assert schema.field("meta/instanceID").kind == "meta"


def test_str_and_bytes_input_agree():
    xform = xform_from_md(HOUSEHOLD_MD)
    declared = '<?xml version="1.0" encoding="UTF-8"?>' + xform.split("?>", 1)[1]
    assert parse_xform(xform.encode("utf-8")) == parse_xform(xform) == parse_xform(declared)


def test_field_lookup_of_unknown_path(household):
    with pytest.raises(KeyError):
        household.field("nope")
    assert household.field("hh/visit/vdate").name == "vdate"


@pytest.mark.parametrize(
    ("xform", "kind"),
    [
        ("not xml at all", "xform-invalid"),
        ("<h:html xmlns:h='http://www.w3.org/1999/xhtml'><h:head/></h:html>", "xform-invalid"),
        (
            '<!DOCTYPE h:html [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            "<h:html xmlns:h='http://www.w3.org/1999/xhtml'/>",
            "xform-invalid",
        ),
        (INLINE_XFORM.replace(' id="inline_form"', ""), "form-id-missing"),
    ],
)
def test_unreadable_xforms(xform, kind):
    with pytest.raises(FormSchemaError) as caught:
        parse_xform(xform)
    assert caught.value.kind == kind


def test_forms_modules_import_nothing_of_ours_but_each_other():
    ours = {"api", "db", "exports", "forms"}
    allowed = {"forms.submission", "forms.schema"}
    for name in ("submission.py", "schema.py"):
        tree = ast.parse((Path(__file__).parents[2] / "forms" / name).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
            else:
                continue
            for module in modules:
                if module.split(".")[0] in ours:
                    assert module in allowed, (name, module)
