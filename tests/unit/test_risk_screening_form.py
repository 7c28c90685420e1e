"""The bundled `risk_screening` XLSForm against its spec (risk-screening.md): it compiles,
passes ODK Validate, and carries the spec's names, choices, relevance and languages."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from defusedxml import ElementTree as SafeET

import forms
from forms.compile import compile_xlsform, java_available
from tests.conftest import require
from tests.risk_spec import MODULE_ITEMS as SPEC_MODULE_ITEMS

FORM_PATH = Path(forms.__file__).resolve().parent / "library" / "risk_screening.xlsx"
ADMIN_CSV = Path(__file__).resolve().parents[2] / "forms" / "data" / "tajikistan-admin.csv"

H = "{http://www.w3.org/1999/xhtml}"
XF = "{http://www.w3.org/2002/xforms}"
JR = "{http://openrosa.org/javarosa}"
LANGUAGES = ["English (en)", "Russian (ru)", "Tajik (tg)"]
CYRILLIC = re.compile(r"[\u0400-\u04FF]")
TAJIK_LETTERS = re.compile(r"[ӣӯҳқғҷҲҚҒҶӢӮ]")

PART_A_ASKED_WHEN = {
    "no_income_3m": "${age} >= 15",
    "voc_grad_no_work": "${age} >= 15",
    "plans_work_abroad": "${age} >= 14",
    "returned_deported": "${age} >= 14",
    "prior_forced": None,
    "disability": None,
    "household_debt": None,
    "parents_abroad": "${age} < 18",
    "no_parental_care": "${age} < 25",
    "unsafe_home": None,
    "marriage_risk": "${sex} = 'female' and ${age} >= 15",
    "informal_job_offer": None,
    "travel_debt_offer": None,
    "holds_passport": "${age} >= 14",
    "has_contract": "${age} >= 14",
    "knows_hotline": None,
    "trusted_contact_abroad": "${age} >= 14",
}
MODULE_ITEMS = list(SPEC_MODULE_ITEMS)
YES_NO_REFUSED_ITEMS = [*PART_A_ASKED_WHEN, "worked_away", *MODULE_ITEMS, "situation_ongoing"]
CHOICE_LISTS = {
    "yes_no_refused": ["yes", "no", "refused"],
    "site_type": [
        "community",
        "school",
        "orphanage",
        "departure_point",
        "support_center",
        "hotline",
        "other",
    ],
    "sex": ["female", "male", "other", "refused"],
    "education": [
        "none",
        "primary",
        "lower_secondary",
        "upper_secondary",
        "vocational",
        "higher",
        "refused",
    ],
    "exploitation_type": [
        "domestic",
        "industrial",
        "agricultural",
        "criminal",
        "sexual",
        "organs",
        "surrogacy",
        "armed_conflict",
        "other",
    ],
    "region": ["TJ-DU", "TJ-SU", "TJ-KT", "TJ-GB", "TJ-RA"],
}
SELECT_ONE = {
    **dict.fromkeys(YES_NO_REFUSED_ITEMS, "yes_no_refused"),
    "consent": "yes_no",
    "region": "region",
    "district": "district",
    "site_type": "site_type",
    "sex": "sex",
    "education": "education",
}
PREVIEW_FIELDS = [
    "preview_vulnerability_score",
    "preview_vulnerability_level",
    "preview_exploitation_status",
    "preview_urgent",
    "preview_risk_level",
]


@dataclass
class XForm:
    form_id: str
    version: str
    paths: dict[str, str] = field(default_factory=dict)  # leaf name -> /data/... path
    binds: dict[str, dict[str, str]] = field(default_factory=dict)  # path -> attributes
    controls: dict[str, tuple[str, str | None]] = field(
        default_factory=dict
    )  # path -> (tag, itemset)
    instances: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    itext: dict[str, dict[str, str]] = field(default_factory=dict)  # lang -> id -> text
    default_language: str | None = None
    setvalues: list[dict[str, str]] = field(default_factory=list)

    def path(self, name: str) -> str:
        assert name in self.paths, f"{name} is not in the form"
        return self.paths[name]

    def bind(self, name: str) -> dict[str, str]:
        return self.binds[self.path(name)]

    def xpath(self, expression: str) -> str:
        """`${name}` references replaced by paths, whitespace normalised (as pyxform writes)."""
        resolved = re.sub(r"\$\{(\w+)\}", lambda m: self.path(m.group(1)), expression)
        return normalise(resolved)


def normalise(expression: str | None) -> str | None:
    """Whitespace collapsed, and none just inside brackets (pyxform pads `${}` references)."""
    if expression is None:
        return None
    collapsed = " ".join(expression.split())
    return re.sub(r"\s*([)\]])", r"\1", re.sub(r"([(\[])\s*", r"\1", collapsed)).strip()


def local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def parse_xform(text: str) -> XForm:
    root = SafeET.fromstring(text)
    model = root.find(f"{H}head/{XF}model")
    instances = model.findall(f"{XF}instance")
    data = instances[0][0]
    form = XForm(form_id=data.get("id"), version=data.get("version"))

    def walk(element, prefix: str) -> None:
        for child in element:
            name = local(child.tag)
            path = f"{prefix}/{name}"
            assert name not in form.paths, f"duplicate name {name}"
            form.paths[name] = path
            walk(child, path)

    walk(data, f"/{local(data.tag)}")
    for bind in model.findall(f"{XF}bind"):
        form.binds[bind.get("nodeset")] = dict(bind.attrib)
    for instance in instances[1:]:
        form.instances[instance.get("id")] = [
            {local(child.tag): (child.text or "") for child in item}
            for item in instance.findall(f"{XF}root/{XF}item")
        ]
    for translation in model.findall(f"{XF}itext/{XF}translation"):
        lang = translation.get("lang")
        if translation.get("default"):
            form.default_language = lang
        form.itext[lang] = {
            text.get("id"): "".join(value.itertext()) for text in translation for value in text
        }
    for element in root.find(f"{H}body").iter():
        ref = element.get("ref")
        tag = element.tag.replace(XF, "")
        if ref and tag in ("input", "select1", "select", "group", "trigger", "upload", "range"):
            itemset = element.find(f"{XF}itemset")
            form.controls[ref] = (tag, itemset.get("nodeset") if itemset is not None else None)
        if tag == "setvalue":
            form.setvalues.append(dict(element.attrib))
    for element in model.findall(f"{XF}setvalue") + model.findall(
        "{http://www.opendatakit.org/xforms}setvalue"
    ):
        form.setvalues.append(dict(element.attrib))
    return form


@pytest.fixture(scope="module")
def xlsform_bytes() -> bytes:
    return FORM_PATH.read_bytes()


@pytest.fixture(scope="module")
def xform(xlsform_bytes) -> XForm:
    compiled = compile_xlsform(xlsform_bytes, validate=False)
    return parse_xform(compiled.xform)


@pytest.fixture(scope="module")
def admin_units() -> list[dict[str, str]]:
    assert ADMIN_CSV.is_file(), f"{ADMIN_CSV} (the admin-unit list) is missing"
    with ADMIN_CSV.open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


# --- compiling ------------------------------------------------------------------------------


def test_compiles_without_warnings(xlsform_bytes):
    compiled = compile_xlsform(xlsform_bytes)  # raises on any pyxform warning
    assert compiled.xml_form_id == "risk_screening"
    assert re.fullmatch(r"\d{10}", compiled.version)
    assert compiled.warnings == []
    assert compiled.media == []


def test_passes_odk_validate(xlsform_bytes):
    require(java_available(), "java is not on PATH: ODK Validate (JavaRosa) cannot run")
    compiled = compile_xlsform(xlsform_bytes, validate=True)
    assert compiled.xml_form_id == "risk_screening"


# --- names, types, choices ------------------------------------------------------------------


def test_spec_field_names_and_select_lists(xform):
    for name, list_name in SELECT_ONE.items():
        tag, itemset = xform.controls[xform.path(name)]
        assert tag == "select1", name
        assert itemset is not None and itemset.startswith(f"instance('{list_name}')/root/item"), (
            name
        )
    tag, itemset = xform.controls[xform.path("exploitation_type")]
    assert tag == "select" and itemset == "instance('exploitation_type')/root/item"
    assert xform.bind("age")["type"] == "int"
    assert xform.bind("interview_date")["type"] == "date"


@pytest.mark.parametrize("list_name", sorted(CHOICE_LISTS))
def test_choice_lists(xform, list_name):
    assert [item["name"] for item in xform.instances[list_name]] == CHOICE_LISTS[list_name]


def test_consent_choices(xform):
    assert [item["name"] for item in xform.instances["yes_no"]] == ["yes", "no"]


def test_every_region_and_district_of_the_admin_csv(xform, admin_units):
    regions = {u["region_code"]: u["region_name"] for u in admin_units}
    region_items = {item["name"]: item for item in xform.instances["region"]}
    assert set(region_items) == set(regions)
    districts = {item["name"]: item for item in xform.instances["district"]}
    assert len(districts) == len(xform.instances["district"])  # no duplicates
    assert set(districts) == {u["district_code"] for u in admin_units}
    english = xform.itext["English (en)"]
    for unit in admin_units:
        item = districts[unit["district_code"]]
        assert item["region"] == unit["region_code"], unit["district_code"]
        assert english[item["itextId"]] == unit["district_name"]
    for code, name in regions.items():
        assert english[region_items[code]["itextId"]] == name
    for lang in ("Russian (ru)", "Tajik (tg)"):
        for item in [*region_items.values(), *districts.values()]:
            assert CYRILLIC.search(xform.itext[lang][item["itextId"]]), (lang, item["name"])
    # Cascading select: the district list is filtered by the chosen region.
    _, itemset = xform.controls[xform.path("district")]
    assert normalise(itemset) == xform.xpath("instance('district')/root/item[region= ${region}]")


# --- languages --------------------------------------------------------------------------------


def test_three_languages_everywhere(xform):
    assert sorted(xform.itext) == sorted(LANGUAGES)
    assert xform.default_language == "English (en)"
    ids = set(xform.itext["English (en)"])
    for lang in LANGUAGES:
        assert set(xform.itext[lang]) == ids, lang
        for text_id, text in xform.itext[lang].items():
            assert text.strip(), (lang, text_id)
            if lang != "English (en)":
                assert CYRILLIC.search(text), (lang, text_id)
    # Question, hint and constraint texts are translated, not copied between Russian and Tajik.
    russian, tajik = xform.itext["Russian (ru)"], xform.itext["Tajik (tg)"]
    form_texts = [i for i in ids if i.startswith("/data/")]
    assert len(form_texts) > 50
    for text_id in form_texts:
        assert russian[text_id] != tajik[text_id], text_id
    assert sum(bool(TAJIK_LETTERS.search(tajik[i])) for i in form_texts) > len(form_texts) / 2


def test_every_question_has_a_label_in_three_languages(xform):
    english = xform.itext["English (en)"]
    for path in xform.controls:
        assert f"{path}:label" in english, path


# --- relevance: the spec's "asked when" ------------------------------------------------------


def enclosing_relevance(xform: XForm, name: str) -> list[str]:
    """The relevant expressions of a node and its enclosing groups, innermost first."""
    path = xform.path(name)
    out = []
    while path.count("/") > 1:
        relevant = xform.binds.get(path, {}).get("relevant")
        if relevant:
            out.append(normalise(relevant))
        path = path.rsplit("/", 1)[0]
    return out


def test_consent_first_and_no_ends_the_interview(xform):
    consented = xform.xpath("${consent} = 'yes'")
    controls = [path for path in xform.controls if not xform.controls[path][0] == "group"]
    assert controls[0] == xform.path("consent")
    assert xform.bind("consent").get("required") == "true()"
    for path in controls[1:]:
        name = path.rsplit("/", 1)[-1]
        if name == "consent_declined":
            assert enclosing_relevance(xform, name) == [xform.xpath("${consent} = 'no'")]
            continue
        assert any(consented in r for r in enclosing_relevance(xform, name)), name


@pytest.mark.parametrize(("name", "asked_when"), sorted(PART_A_ASKED_WHEN.items()))
def test_part_a_asked_when(xform, name, asked_when):
    relevant = xform.bind(name).get("relevant")
    if asked_when is None:
        assert relevant is None
    else:
        assert normalise(relevant) == xform.xpath(asked_when)
    assert enclosing_relevance(xform, name)[-1] == xform.xpath("${consent} = 'yes'")
    assert xform.bind(name).get("required") == "true()"


def test_module_asked_when_worked_away_from_age_14(xform):
    assert enclosing_relevance(xform, "worked_away") == [
        xform.xpath("${consent} = 'yes' and ${age} >= 14")
    ]
    for name in MODULE_ITEMS:
        assert enclosing_relevance(xform, name) == [
            xform.xpath("${worked_away} = 'yes'"),
            xform.xpath("${consent} = 'yes' and ${age} >= 14"),
        ], name
    ongoing = normalise(xform.bind("situation_ongoing")["relevant"])
    assert ongoing == xform.xpath(
        "${c1_documents_taken} = 'yes' or ${c2_debt_bondage} = 'yes'"
        " or ${c3_movement_restricted} = 'yes' or ${c4_violence} = 'yes'"
    )
    # exploitation_type: asked when any module item is yes (through a count of the 18).
    assert normalise(xform.bind("exploitation_type")["relevant"]) == xform.xpath(
        "${screen_yes_count} > 0"
    )
    count = normalise(xform.bind("screen_yes_count")["calculate"])
    for name in MODULE_ITEMS:
        assert xform.xpath(f"if(${{{name}}} = 'yes', 1, 0)") in count, name


def test_age_constraint_with_messages(xform):
    bind = xform.bind("age")
    assert normalise(bind["constraint"]) == ". >= 0 and . <= 120"
    message_id = f"{xform.path('age')}:jr:constraintMsg"
    assert bind[f"{JR}constraintMsg"] == f"jr:itext('{message_id}')"
    for lang in LANGUAGES:
        assert "120" in xform.itext[lang][message_id]


# --- metadata, preview, referral, privacy --------------------------------------------------------


def test_metadata(xform):
    preloads = {
        "start": ("timestamp", "start"),
        "end": ("timestamp", "end"),
        "today": ("date", "today"),
        "deviceid": ("property", "deviceid"),
    }
    for name, (preload, param) in preloads.items():
        bind = xform.bind(name)
        assert (bind[f"{JR}preload"], bind[f"{JR}preloadParams"]) == (preload, param), name
    assert any(
        s.get("ref") == xform.path("interview_date") and normalise(s.get("value")) == "today()"
        for s in xform.setvalues
    )


def test_preview_fields_are_calculates(xform):
    for name in PREVIEW_FIELDS:
        bind = xform.bind(name)
        assert bind.get("calculate"), name
        assert xform.path(name) not in xform.controls, name
    assert xform.bind("preview_vulnerability_score")["type"] == "int"


def test_referral_note(xform):
    relevance = enclosing_relevance(xform, "referral")
    assert relevance[0] == xform.xpath(
        "${preview_risk_level} = 'high' or ${preview_urgent} = 'true'"
    )
    label_id = f"{xform.path('referral')}:label"
    places = {
        "English (en)": ("Dushanbe", "Khujand"),
        "Russian (ru)": ("Душанбе", "Худжанд"),
        "Tajik (tg)": ("Душанбе", "Хуҷанд"),
    }
    for lang, names in places.items():
        text = xform.itext[lang][label_id]
        for place in names:
            assert place in text, (lang, place)
        assert not re.search(r"\d{3,}|X{3,}|\?\?\?", text), "no invented or placeholder numbers"


IDENTIFYING = re.compile(
    r"(^|_)(name|names|surname|fio|phone|telephone|tel|mobile|msisdn|address|street|house|"
    r"email|passport_no|passport_number|gps|location)(_|$)",
    re.IGNORECASE,
)


def test_no_name_phone_or_address_questions(xform):
    for name in xform.paths:
        assert not IDENTIFYING.search(name), name
    for path, bind in xform.binds.items():
        assert bind.get("type") not in ("geopoint", "geotrace", "geoshape", "binary", "barcode"), (
            path
        )
    for path, (tag, _) in xform.controls.items():
        assert tag != "upload", path
