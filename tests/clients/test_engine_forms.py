"""The bundled forms, and the harness itself, in ODK Web Forms' XForms engine.

Every `forms/library/*.xlsx` compiles and loads in the engine in the three interview
languages, with labels that differ per language. A small form of our own checks that the
harness does what the other client tests rely on: answers in document order, relevance,
choice filters, constraints, repeats, calculations, languages.
"""

from __future__ import annotations

import functools
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from forms.compile import compile_xlsform

from .xforms_engine import EngineError, XFormsEngine

LIBRARY = Path(__file__).resolve().parents[2] / "forms" / "library"
LIBRARY_FORMS = sorted(LIBRARY.glob("*.xlsx"))
LANGUAGES = ("English (en)", "Russian (ru)", "Tajik (tg)")
ALL_QUESTIONS = 100_000

PROBE_FORM_MD = """
| survey |
| | type | name | label::English (en) | label::Russian (ru) | label::Tajik (tg) | relevant | constraint | calculation | choice_filter |
| | select_one yes_no | consent | Do you agree to answer? | Вы согласны ответить? | Шумо розӣ ҳастед? | | | | |
| | begin_group | respondent | Respondent | Респондент | Пурсидашаванда | ${consent} = 'yes' | | | |
| | integer | age | Age | Возраст | Синну сол | | . >= 0 and . <= 120 | | |
| | select_one region | region | Region | Регион | Минтақа | | | | |
| | select_one district | district | District | Район | Ноҳия | | | | region = ${region} |
| | end_group | | | | | | | | |
| | select_one yes_no | worked_away | Worked away? | Работали вдали? | Дар дур кор кардед? | ${age} >= 14 | | | |
| | select_multiple kind | kinds | What work? | Какая работа? | Кадом кор? | ${worked_away} = 'yes' | | | |
| | begin_repeat | trips | Trips | Поездки | Сафарҳо | ${worked_away} = 'yes' | | | |
| | text | country | Country | Страна | Кишвар | | | | |
| | end_repeat | | | | | | | | |
| | calculate | minor | | | | | | if(${age} < 18, 'true', 'false') | |
| | calculate | kinds_count | | | | | | count-selected(${kinds}) | |
| | calculate | trip_count | | | | | | count(${trips}) | |
| choices |
| | list_name | name | label::English (en) | label::Russian (ru) | label::Tajik (tg) | region |
| | yes_no | yes | Yes | Да | Ҳа | |
| | yes_no | no | No | Нет | Не | |
| | region | TJ-DU | Dushanbe | Душанбе | Душанбе | |
| | region | TJ-SU | Sughd | Согд | Суғд | |
| | district | khujand | Khujand | Худжанд | Хуҷанд | TJ-SU |
| | district | isfara | Isfara | Исфара | Исфара | TJ-SU |
| | district | shohmansur | Shohmansur | Шохмансур | Шоҳмансур | TJ-DU |
| | kind | domestic | Domestic | Домашняя | Хонагӣ | |
| | kind | agricultural | Agricultural | Сельскохозяйственная | Кишоварзӣ | |
| | kind | industrial | Industrial | Промышленная | Саноатӣ | |
| settings |
| | form_id | version | default_language |
| | harness_probe | 1 | English (en) |
"""


@functools.cache
def probe_xform() -> str:
    return compile_xlsform(PROBE_FORM_MD.encode("utf-8"), file_type="md").xform


@functools.cache
def library_xform(path: Path) -> str:
    return compile_xlsform(path.read_bytes()).xform


def instance_values(instance_xml: str) -> dict[str, str | None]:
    """Leaf paths (without the root) -> text, for the submitted instance."""
    root = ET.fromstring(instance_xml)
    values: dict[str, str | None] = {}

    def walk(element: ET.Element, path: str) -> None:
        if len(element) == 0:
            values[path] = element.text
        for child in element:
            walk(child, f"{path}/{child.tag}")

    walk(root, "")
    return values


# -- the harness, on a form of our own -------------------------------------------------------


def test_ping_reports_the_pinned_engine(xforms_engine: XFormsEngine) -> None:
    assert xforms_engine.ping() == "0.22.0"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_probe_form_loads_in_each_language(xforms_engine: XFormsEngine, lang: str) -> None:
    loaded = xforms_engine.load(probe_xform(), lang, labels=3)
    assert loaded["languages"] == list(LANGUAGES)
    assert loaded["defaultLanguage"] == "English (en)"
    assert loaded["activeLanguage"] == lang
    expected = {
        "English (en)": ["Do you agree to answer?", "Age", "Region"],
        "Russian (ru)": ["Вы согласны ответить?", "Возраст", "Регион"],
        "Tajik (tg)": ["Шумо розӣ ҳастед?", "Синну сол", "Минтақа"],
    }[lang]
    assert [q["label"] for q in loaded["labels"]] == expected
    consent = loaded["labels"][0]
    assert consent["ref"] == "/data/consent"
    assert [o["value"] for o in consent["options"]] == ["yes", "no"]
    yes_label = {"English (en)": "Yes", "Russian (ru)": "Да", "Tajik (tg)": "Ҳа"}[lang]
    assert consent["options"][0]["label"] == yes_label


def test_fill_applies_answers_in_document_order(xforms_engine: XFormsEngine) -> None:
    result = xforms_engine.fill(
        probe_xform(),
        {
            "/data/consent": "yes",
            "/data/respondent/age": "16",
            "region": "TJ-SU",
            "district": "isfara",
            "worked_away": "yes",
            "kinds": ["domestic", "industrial"],
            "/data/trips[2]/country": "Russia",
        },
        read=["minor", "kinds_count", "trip_count", "/data/respondent/age"],
        repeats={"trips": 2},
    )
    assert result["errors"] == []
    assert result["skipped"] == []
    assert result["values"] == {
        "minor": "true",
        "kinds_count": "2",
        "trip_count": "2",
        "/data/respondent/age": "16",
    }
    submitted = instance_values(result["instanceXML"])
    assert submitted["/consent"] == "yes"
    assert submitted["/respondent/district"] == "isfara"
    assert submitted["/kinds"] == "domestic industrial"
    countries = [e.text for e in ET.fromstring(result["instanceXML"]).iter("country")]
    assert countries == [None, "Russia"]


def test_answers_to_closed_questions_are_skipped(xforms_engine: XFormsEngine) -> None:
    result = xforms_engine.fill(
        probe_xform(),
        {"consent": "no", "age": "30", "worked_away": "yes", "kinds": ["domestic"]},
        read=["minor", "kinds_count", "age"],
        repeats={"trips": 3},
    )
    assert result["errors"] == []
    assert result["applied"] == ["/data/consent"]
    assert result["skipped"] == [
        "/data/respondent/age",
        "/data/worked_away",
        "/data/kinds",
        "/data/trips",
    ]
    assert result["values"]["age"] is None
    submitted = instance_values(result["instanceXML"])
    assert "/respondent/age" not in submitted and "/worked_away" not in submitted
    assert "/trips/country" not in submitted


def test_relevance_follows_earlier_answers(xforms_engine: XFormsEngine) -> None:
    # 13-year-olds are not asked worked_away; at 14 they are.
    young = xforms_engine.fill(probe_xform(), {"consent": "yes", "age": 13, "worked_away": "no"})
    older = xforms_engine.fill(probe_xform(), {"consent": "yes", "age": 14, "worked_away": "no"})
    assert young["skipped"] == ["/data/worked_away"]
    assert older["skipped"] == [] and "/data/worked_away" in older["applied"]


def test_choice_filter_limits_what_can_be_chosen(xforms_engine: XFormsEngine) -> None:
    result = xforms_engine.fill(
        probe_xform(), {"consent": "yes", "age": "30", "region": "TJ-DU", "district": "khujand"}
    )
    assert [(e["ref"], e["kind"]) for e in result["errors"]] == [
        ("/data/respondent/district", "not-an-option")
    ]
    assert "shohmansur" in result["errors"][0]["message"]
    assert instance_values(result["instanceXML"])["/respondent/district"] is None


def test_constraint_bad_value_and_unknown_reference(xforms_engine: XFormsEngine) -> None:
    result = xforms_engine.fill(
        probe_xform(), {"consent": "yes", "age": "121", "nosuch": "x", "region": "TJ-XX"}
    )
    kinds = {(e["ref"], e["kind"]) for e in result["errors"]}
    assert kinds == {
        ("/data/respondent/age", "constraint"),
        ("/data/respondent/region", "not-an-option"),
        ("nosuch", "unknown-ref"),
    }
    assert [v["ref"] for v in result["violations"]] == ["/data/respondent/age"]
    bad = xforms_engine.fill(probe_xform(), {"consent": "yes", "age": "old"})
    assert [(e["ref"], e["kind"]) for e in bad["errors"]] == [("/data/respondent/age", "bad-value")]


def test_fills_start_from_a_fresh_instance(xforms_engine: XFormsEngine) -> None:
    xforms_engine.fill(probe_xform(), {"consent": "yes", "age": "40"})
    blank = xforms_engine.fill(probe_xform(), {}, read=["consent", "age"])
    assert blank["values"] == {"consent": "", "age": None}


def test_fill_in_a_language(xforms_engine: XFormsEngine) -> None:
    result = xforms_engine.fill(probe_xform(), {"consent": "yes"}, lang="Tajik (tg)")
    assert result["activeLanguage"] == "Tajik (tg)"
    with pytest.raises(EngineError, match="no language"):
        xforms_engine.fill(probe_xform(), {}, lang="French (fr)")


def test_engine_survives_a_form_it_cannot_load(xforms_engine: XFormsEngine) -> None:
    with pytest.raises(EngineError, match="could not load"):
        xforms_engine.load("<not-a-form/>")
    assert xforms_engine.load(probe_xform())["status"] == "success"


# -- the bundled library -----------------------------------------------------------------------


def test_library_is_not_empty() -> None:
    assert LIBRARY_FORMS, f"no XLSForms in {LIBRARY}"


@pytest.mark.parametrize("path", LIBRARY_FORMS, ids=lambda p: p.stem)
def test_library_form_loads_in_every_language(xforms_engine: XFormsEngine, path: Path) -> None:
    xform = library_xform(path)
    by_language: dict[str, list[dict]] = {}
    for lang in LANGUAGES:
        loaded = xforms_engine.load(xform, lang, labels=ALL_QUESTIONS)
        assert loaded["status"] == "success"
        assert set(LANGUAGES) <= set(loaded["languages"]), loaded["languages"]
        assert loaded["activeLanguage"] == lang
        by_language[lang] = loaded["labels"]
    english, russian, tajik = (by_language[lang] for lang in LANGUAGES)
    assert english, "the form has no questions"
    assert [q["ref"] for q in english] == [q["ref"] for q in russian] == [q["ref"] for q in tajik]
    cyrillic = re.compile("[\u0400-\u04ff]")
    for en, ru, tg in zip(english, russian, tajik, strict=True):
        labels = (en["label"], ru["label"], tg["label"])
        # pyxform writes "-" where a translation is missing.
        assert all(label and label.strip() not in ("", "-") for label in labels), (
            en["ref"],
            labels,
        )
        # Every question is translated: its three labels differ, and ru/tg are Cyrillic.
        assert len(set(labels)) == 3, (en["ref"], labels)
        assert cyrillic.search(ru["label"]) and cyrillic.search(tg["label"]), (en["ref"], labels)
        for options in zip(
            en.get("options", ()), ru.get("options", ()), tg.get("options", ()), strict=True
        ):
            # Choice labels may coincide (place names, age bands) but none is missing.
            assert all(o["label"] and o["label"].strip() not in ("", "-") for o in options), (
                en["ref"],
                options,
            )
