"""One meaning for one answer: the rubric (forms/rubric.py) and the summaries' row
(forms/screening.py) read a screening's age with the same parse, XPath number()."""

from __future__ import annotations

import pytest

from forms.rubric import classify, parse_age
from forms.screening import screening_row


def answers(age):
    return {"consent": "yes", "age": age, "sex": "female", "education": "higher"}


@pytest.mark.parametrize(
    ("text", "age", "band", "child"),
    [
        ("15", 15, "14-17", True),
        ("15.0", 15, "14-17", True),
        (" 16 ", 16, "14-17", True),
        ("17.9", 17, "14-17", True),
        ("18", 18, "18-24", False),
        ("30.5", 30, "25-34", False),
        ("+17", None, None, False),  # XPath number() has no plus sign
        ("1e1", None, None, False),  # nor an exponent
        ("abc", None, None, False),
        ("", None, None, False),
        (None, None, None, False),
        ("99999999999999999999", None, "50+", False),  # an age, but not a storable integer
    ],
)
def test_rubric_and_summary_row_read_the_age_alike(text, age, band, child) -> None:
    row = screening_row(answers(text))
    assert row["age"] == age
    assert row["age_band"] == band
    assert ("CHILD" in classify(answers(text)).risk_groups) is child
    parsed = parse_age(text)
    assert (parsed is None) is (band is None)
