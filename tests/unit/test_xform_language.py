from forms.compile import compile_xlsform
from forms.schema import parse_xform
from forms.xform_language import language_code, translation_for, with_default_language
from tests.summaries_seed import LIBRARY


def test_language_codes() -> None:
    assert language_code("Russian (ru)") == "ru"
    assert language_code("Tajik (tg)") == "tg"
    assert language_code("English (en-GB)") == "en"
    assert language_code("default") is None
    assert translation_for(("English (en)", "Russian (ru)"), "ru") == "Russian (ru)"
    assert translation_for(("English (en)",), "tg") is None


def test_the_page_language_becomes_the_default_translation() -> None:
    xform = compile_xlsform((LIBRARY / "hotline_call.xlsx").read_bytes(), validate=False).xform
    assert parse_xform(xform).default_language == "English (en)"
    for code, name in (("ru", "Russian (ru)"), ("tg", "Tajik (tg)"), ("en", "English (en)")):
        changed = parse_xform(with_default_language(xform, code))
        assert changed.default_language == name
        assert changed.languages == parse_xform(xform).languages
    assert with_default_language(xform, "fr") == xform
