"""Every bundled XLSForm in forms/library compiles cleanly, passes ODK Validate, is identified
by its file name, carries English, Russian and Tajik texts, and asks no personal identifiers."""

from __future__ import annotations

import re
import shutil
from functools import cache
from pathlib import Path
from xml.etree.ElementTree import Element

import pytest
from defusedxml import ElementTree as SafeET

import forms
from forms.compile import CompiledForm, compile_xlsform, validate_with_odk
from tests.conftest import require

LIBRARY = Path(forms.__file__).parent / "library"
FORM_PATHS = sorted(LIBRARY.glob("*.xlsx"))
BUNDLED_STEMS = {
    "community_awareness",
    "departure_point_consultation",
    "support_center_intake",
    "support_center_followup",
    "hotline_call",
}
LANGUAGES = {"English (en)", "Russian (ru)", "Tajik (tg)"}
NS = {
    "h": "http://www.w3.org/1999/xhtml",
    "xf": "http://www.w3.org/2002/xforms",
}
# Words that make a field name a personal identifier, matched against the name's parts
# (split on "_" and camelCase): `full_name`, `callerPhone`, `home_address` are all refused.
IDENTIFIER_WORDS = {
    "name",
    "names",
    "fullname",
    "firstname",
    "lastname",
    "surname",
    "patronymic",
    "phone",
    "telephone",
    "mobile",
    "address",
    "email",
}
LATIN = re.compile(r"[A-Za-z]")
CYRILLIC = re.compile(r"[\u0400-\u04FF]")

form_params = pytest.mark.parametrize("path", FORM_PATHS, ids=[p.stem for p in FORM_PATHS])


@cache
def compiled(path: Path) -> CompiledForm:
    # ODK Validate is run explicitly in test_passes_odk_validate.
    return compile_xlsform(path.read_bytes(), validate=False)


def xform_root(path: Path) -> Element:
    return SafeET.fromstring(compiled(path).xform)


def main_instance(root: Element) -> Element:
    instance = root.find("h:head/xf:model/xf:instance", NS)
    assert instance is not None and len(instance) == 1
    return instance[0]


def itext(root: Element) -> dict[str, dict[str, str]]:
    """{language: {text id: plain text}} of the form's translations."""
    out: dict[str, dict[str, str]] = {}
    for translation in root.findall("h:head/xf:model/xf:itext/xf:translation", NS):
        texts: dict[str, str] = {}
        for text in translation.findall("xf:text", NS):
            for value in text.findall("xf:value", NS):
                if value.get("form") is None:
                    texts[text.get("id")] = "".join(value.itertext()).strip()
        out[translation.get("lang")] = texts
    return out


def name_parts(name: str) -> set[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    parts = {p.lower() for p in re.split(r"[_\-.]+", spaced) if p}
    return parts | {name.lower().replace("_", "")}


def field_names(root: Element) -> list[str]:
    """Names of every group, repeat and question of the main instance (pyxform's meta block
    with instanceID/instanceName excluded)."""
    names: list[str] = []

    def walk(element: Element) -> None:
        for child in element:
            tag = child.tag.rsplit("}", 1)[-1]
            if tag == "meta" and element is data:
                continue
            names.append(tag)
            walk(child)

    data = main_instance(root)
    walk(data)
    return names


def test_library_holds_the_bundled_forms():
    assert BUNDLED_STEMS <= {p.stem for p in FORM_PATHS}


@form_params
def test_compiles_without_warnings(path: Path):
    result = compiled(path)
    assert result.warnings == []
    assert "<h:html" in result.xform


@form_params
def test_form_id_is_the_file_stem(path: Path):
    result = compiled(path)
    assert result.xml_form_id == path.stem
    assert main_instance(xform_root(path)).get("id") == path.stem


@form_params
def test_version_is_set(path: Path):
    version = compiled(path).version
    assert version.strip(), "settings sheet has no version"
    assert re.fullmatch(r"[0-9A-Za-z._-]+", version), version


@form_params
def test_every_text_is_in_the_three_languages(path: Path):
    texts = itext(xform_root(path))
    assert LANGUAGES <= set(texts), f"languages in the XForm: {sorted(texts)}"
    english = texts["English (en)"]
    assert english, "the form has no translated texts"
    for lang in LANGUAGES:
        assert set(texts[lang]) == set(english), f"{lang} does not translate the same texts"
        # pyxform writes "-" where a translation column is empty.
        missing = sorted(tid for tid, value in texts[lang].items() if value in ("", "-"))
        assert not missing, f"{lang} has empty texts: {missing[:10]}"
    for lang in LANGUAGES - {"English (en)"}:
        untranslated = sorted(
            tid
            for tid, value in texts[lang].items()
            if LATIN.search(english[tid]) and not CYRILLIC.search(value)
        )
        assert not untranslated, f"{lang} texts with no Cyrillic: {untranslated[:10]}"


@form_params
def test_asks_no_name_phone_or_address(path: Path):
    offending = [n for n in field_names(xform_root(path)) if name_parts(n) & IDENTIFIER_WORDS]
    assert offending == []


@form_params
def test_region_and_district_choices_follow_the_admin_codes(path: Path):
    root = xform_root(path)
    instances = {inst.get("id"): inst for inst in root.findall("h:head/xf:model/xf:instance", NS)}
    if "region" not in instances:
        assert path.stem != "community_awareness", "the awareness survey lost its region list"
        pytest.skip("this form has no region list")
    regions = {
        item.findtext("xf:name", namespaces=NS)
        for item in instances["region"].findall("xf:root/xf:item", NS)
    }
    assert regions and all(re.fullmatch(r"TJ-[A-Z]{2}", code) for code in regions), regions
    if "district" not in instances:
        assert path.stem != "community_awareness", "the awareness survey lost its district list"
        return
    districts = instances["district"].findall("xf:root/xf:item", NS)
    assert districts
    for item in districts:
        code = item.findtext("xf:name", namespaces=NS)
        region = item.findtext("xf:region", namespaces=NS)
        assert region in regions, (code, region)
        assert re.fullmatch(rf"{re.escape(region)}-[A-Z]+", code), code
    # The district question is filtered by the chosen region.
    itemsets = [el.get("nodeset") for el in root.iter(f"{{{NS['xf']}}}itemset")]
    assert any(
        ns.startswith("instance('district')") and "[region=" in ns.replace(" ", "")
        for ns in itemsets
    ), itemsets


@form_params
def test_passes_odk_validate(path: Path):
    require(shutil.which("java") is not None, "java not on PATH: ODK Validate not run")
    validate_with_odk(compiled(path).xform, remembered=False)  # Java itself, every run


def test_name_parts_catch_identifier_spellings():
    for bad in ("name", "full_name", "fullName", "caller_phone", "phone_number", "home_address"):
        assert name_parts(bad) & IDENTIFIER_WORDS, bad
    for ok in ("case_code", "region", "district", "campaign_id", "call_duration", "follow_up"):
        assert not name_parts(ok) & IDENTIFIER_WORDS, ok
