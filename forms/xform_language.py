"""Which of an XForm's translations opens first. The browser form (ODK Web Forms) opens in the
translation marked `default`; the page sets it to the page's language so that the two agree.
Pure: XForm text in, XForm text out."""

from __future__ import annotations

import re

from lxml import etree

_XFORMS = "http://www.w3.org/2002/xforms"
_CODE = re.compile(r"\(([A-Za-z]{2,3})(?:[-_][A-Za-z0-9]+)?\)\s*$")


def language_code(name: str) -> str | None:
    """'Russian (ru)' -> 'ru' (XLSForm's "Name (code)" convention); None without a code."""
    match = _CODE.search(name or "")
    return match.group(1).lower() if match else None


def translation_for(languages: tuple[str, ...] | list[str], code: str) -> str | None:
    """The translation (its full name) of an XForm whose code is `code`, if any."""
    for name in languages:
        if language_code(name) == code:
            return name
    return None


def with_default_language(xform: str, code: str) -> str:
    """The XForm with the translation of language `code` marked default (others unmarked).
    Unchanged when no translation has that code."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    root = etree.fromstring(xform.encode("utf-8"), parser)
    translations = root.findall(f".//{{{_XFORMS}}}itext/{{{_XFORMS}}}translation")
    chosen = [t for t in translations if language_code(t.get("lang", "")) == code]
    if not chosen:
        return xform
    for translation in translations:
        translation.attrib.pop("default", None)
    chosen[0].set("default", "true()")
    return etree.tostring(root, encoding="unicode")
