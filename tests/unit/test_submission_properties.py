"""Property tests of the submission parser (forms/submission.py) with hypothesis-generated XML:
whatever arrives, the parser returns a record or raises SubmissionParseError (never another
exception), and what Collect would write comes back as it was written."""

from __future__ import annotations

from xml.sax.saxutils import escape

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forms.submission import (
    MAX_INSTANCE_ID_CHARS,
    SubmissionParseError,
    parse_submission,
)

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

names = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True).filter(
    lambda n: n not in ("meta", "instanceID")
)
# text XML 1.0 can carry (no control characters but tab/LF; no CR: parsers turn it into LF)
texts = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff")
    | st.sampled_from("\t\n <>&'\""),
    min_size=1,
    max_size=20,
).filter(lambda t: t.strip() == t and t != "")

leaf = texts | st.none()
answers = st.recursive(
    st.dictionaries(names, leaf, min_size=1, max_size=4),
    lambda children: st.dictionaries(names, leaf | children, min_size=1, max_size=4),
    max_leaves=20,
)


def render(node: dict) -> str:
    out = []
    for name, value in node.items():
        if isinstance(value, dict):
            out.append(f"<{name}>{render(value)}</{name}>")
        elif value is None:
            out.append(f"<{name}/>")
        else:
            out.append(f"<{name}>{escape(value)}</{name}>")
    return "".join(out)


def document(body: str, instance_id: str = "uuid:1") -> bytes:
    return (
        f'<?xml version="1.0"?><data id="f" version="1">{body}'
        f"<meta><instanceID>{escape(instance_id)}</instanceID></meta></data>"
    ).encode()


@SETTINGS
@given(answers)
def test_answers_come_back_as_written(tree: dict) -> None:
    parsed = parse_submission(document(render(tree)))
    got = dict(parsed.answers)
    got.pop("meta")
    assert got == tree
    assert parsed.instance_id == "uuid:1" and parsed.xml_form_id == "f"


@SETTINGS
@given(st.binary(max_size=300))
def test_any_bytes_give_a_record_or_a_parse_error(data: bytes) -> None:
    try:
        parse_submission(data)
    except SubmissionParseError:
        pass


@SETTINGS
@given(st.text(max_size=200))
def test_any_text_inside_a_submission_gives_a_record_or_a_parse_error(noise: str) -> None:
    try:
        parse_submission(document(noise))
    except SubmissionParseError:
        pass


@SETTINGS
@given(st.lists(texts, min_size=1, max_size=6))
def test_attachment_names_are_stripped_distinct_and_in_order(files: list[str]) -> None:
    body = "".join(f"<photo> {escape(f)} </photo>" for f in files)
    parsed = parse_submission(document(body), binary_paths=frozenset({"photo"}))
    assert list(parsed.attachment_names) == list(dict.fromkeys(f.strip() for f in files))


@SETTINGS
@given(st.integers(min_value=1, max_value=3 * MAX_INSTANCE_ID_CHARS))
def test_instance_ids_are_bounded(length: int) -> None:
    instance_id = "uuid:" + "a" * length
    try:
        parsed = parse_submission(document("<a>1</a>", instance_id))
    except SubmissionParseError as exc:
        assert exc.kind == "instance-id-too-long"
        assert len(instance_id) > MAX_INSTANCE_ID_CHARS
    else:
        assert parsed.instance_id == instance_id
        assert len(instance_id) <= MAX_INSTANCE_ID_CHARS
