"""Erasing some fields of a submission (a retention period that keeps a record but not who it
was about): the values at given paths (`FormSchema.sensitive_paths`, slash-separated from the
instance root, through repeats) are blanked in the answers and in the XML. Pure: values in,
values out."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from lxml import etree

from forms.submission import parse_untrusted_xml


def blank_answers(answers: dict[str, Any], paths: Iterable[str]) -> tuple[dict[str, Any], list[str]]:
    """A copy of `answers` with every value at `paths` set to None, and the values removed
    (the file names, when a path is a photo or a recording)."""
    removed: list[str] = []

    def walk(node: Any, parts: list[str]) -> Any:
        if isinstance(node, list):
            return [walk(item, parts) for item in node]
        if not isinstance(node, dict) or parts[0] not in node:
            return node
        head, rest = parts[0], parts[1:]
        copy = dict(node)
        if rest:
            copy[head] = walk(node[head], rest)
        else:
            values = node[head] if isinstance(node[head], list) else [node[head]]
            removed.extend(str(v) for v in values if isinstance(v, str) and v)
            copy[head] = None
        return copy

    out = answers
    for path in sorted(set(paths)):
        out = walk(out, path.split("/"))
    return out, removed


def blank_xml(xml: bytes, paths: Iterable[str]) -> bytes:
    """The submission XML with the elements at `paths` emptied (their text and children)."""
    root = parse_untrusted_xml(xml)
    for path in sorted(set(paths)):
        nodes = [root]
        for part in path.split("/"):
            nodes = [child for node in nodes for child in node
                     if isinstance(child.tag, str) and etree.QName(child).localname == part]
        for node in nodes:
            node.text = None
            for child in list(node):
                node.remove(child)
    return etree.tostring(root, encoding="utf-8", xml_declaration=False)
