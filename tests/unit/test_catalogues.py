"""The translation catalogues: every string the code and templates mark is in all three .po
files, Russian and Tajik translate every one of them with the same placeholders, and the
catalogues say they need review by native speakers."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
LOCALE_DIR = ROOT / "api" / "pages" / "locale"
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def extracted() -> set[str]:
    method_map = [("api/**.py", "python"), ("exports/summary_xlsx.py", "python"),
                  ("exports/disclosure.py", "python"), ("exports/reports.py", "python"),
                  ("exports/layout.py", "python"), ("db/odata_filter.py", "python"),
                  ("exports/odata.py", "python"),
                  ("exports/odata_entities.py", "python"), ("forms/vocabulary.py", "python"),
                  ("api/pages/templates/**.html", "jinja2")]
    options = {"api/pages/templates/**.html": {"extensions": "jinja2.ext.i18n"}}
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "pgettext": ((1, "c"), 2), "N_": None}
    found = set()
    for _filename, _lineno, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options, keywords=keywords
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


def catalogue(locale: str):
    with (LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return read_po(handle, locale=locale)


def test_every_marked_string_is_in_every_catalogue() -> None:
    strings = extracted()
    assert len(strings) > 50  # the extraction found the pages' strings
    for locale in ("en", "ru", "tg"):
        ids = {m.id if isinstance(m.id, str) else m.id[0] for m in catalogue(locale) if m.id}
        missing = sorted(strings - ids)
        assert not missing, f"{locale}: run `make messages` and translate: {missing[:20]}"


def test_russian_and_tajik_translate_everything_with_the_same_placeholders() -> None:
    for locale in ("ru", "tg"):
        cat = catalogue(locale)
        assert not cat.fuzzy, f"{locale}: the catalogue header is fuzzy (pybabel would skip it)"
        assert "NEEDS REVIEW BY A NATIVE SPEAKER" in cat.header_comment
        for message in cat:
            if not message.id:
                continue
            ids = [message.id] if isinstance(message.id, str) else list(message.id)
            strings = [message.string] if isinstance(message.string, str) else list(message.string)
            assert all(s.strip() for s in strings), f"{locale}: no translation for {ids[0]!r}"
            assert "fuzzy" not in message.flags, f"{locale}: fuzzy translation of {ids[0]!r}"
            expected = set(PLACEHOLDER.findall(ids[0]))
            for text in strings:
                assert set(PLACEHOLDER.findall(text)) == expected, f"{locale}: placeholders of {ids[0]!r}"
            if len(ids[0]) > 3 and not ids[0].startswith("%("):
                words = set(re.findall(r"[A-Za-z]+", PLACEHOLDER.sub(" ", ids[0])))
                assert strings[0] != ids[0] or words <= SAME_IN_EVERY_LANGUAGE, \
                    f"{locale}: {ids[0]!r} is left in English"


# Words that are the same in every language (names of products and file types).
SAME_IN_EVERY_LANGUAGE = {"fieldsurvey", "ODK", "Collect", "XLSForm", "OData", "pyodk", "ruODK",
                          "Power", "BI", "CSV", "XLSX", "xlsx", "Excel", "Python", "R", "zip"}
