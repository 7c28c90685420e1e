"""Whole numbers in text that people and phones send: ASCII digits only, bounded before they
are converted. `str.isdigit()` is true for '²' (int() refuses it) and for other scripts'
digits, and int() refuses more than 4,300 digits: a stored or submitted value that passes
neither check must be text, never a 500."""

from __future__ import annotations

import re

MAX_INTEGER = 2**31 - 1  # PostgreSQL integer (entity versions, actor ids)
MAX_BIGINT = 2**63 - 1  # PostgreSQL bigint
_DIGITS = re.compile(r"[0-9]{1,19}")


def whole_number(text: str | None, maximum: int = MAX_BIGINT) -> int | None:
    """`text` (surrounding spaces allowed) as a whole number from 0 to `maximum`; None for
    anything else (empty, signs, '²', other scripts' digits, too large)."""
    if text is None:
        return None
    stripped = text.strip()
    if not _DIGITS.fullmatch(stripped):
        return None
    number = int(stripped)
    return number if number <= maximum else None
