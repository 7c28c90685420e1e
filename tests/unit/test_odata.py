"""Pure parts of the OData feed: $filter/$orderby -> SQL, value typing, names, row ids."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from db.odata_filter import ODataQueryError, compile_filter, compile_orderby, parse_timestamp
from exports.odata import odata_value, repeat_row_id, sanitize


@pytest.mark.parametrize(
    ("expression", "sql", "params"),
    [
        (None, "TRUE", []),
        ("__system/reviewState eq null", "(s.review_state IS NULL)", []),
        ("__system/reviewState ne null", "(s.review_state IS NOT NULL)", []),
        ("__system/reviewState eq 'approved'",
         "(s.review_state IS NOT DISTINCT FROM $2::text)", ["approved"]),
        ("__system/submitterId gt 5", "(s.submitter_id > $2::bigint)", [5]),
        ("__system/submissionDate lt 2026-02-01",
         "(s.created_at < $2::timestamptz)", [datetime(2026, 2, 1, tzinfo=UTC)]),
        ("not (__id eq 'uuid:a''b')",
         "(NOT (s.instance_id IS NOT DISTINCT FROM $2::text))", ["uuid:a'b"]),
        ("__system/submitterId eq 1 or __system/submitterId eq 2 and __system/updatedAt eq null",
         "((s.submitter_id IS NOT DISTINCT FROM $2::bigint) OR "
         "((s.submitter_id IS NOT DISTINCT FROM $3::bigint) AND (s.updated_at IS NULL)))", [1, 2]),
        ("year(__system/submissionDate) ge 2026",
         "(extract(year from s.created_at) >= $2::numeric)", [Decimal(2026)]),
        ("month($root/Submissions/__system/updatedAt) eq month(now())",
         "(extract(month from s.updated_at) IS NOT DISTINCT FROM extract(month from now()))", []),
        ("(year(__system/submissionDate)) le 2030",
         "(extract(year from s.created_at) <= $2::numeric)", [Decimal(2030)]),
    ],
)
def test_filters_compile_to_parameterised_sql(expression, sql, params) -> None:
    assert compile_filter(expression, first_param=2) == (sql, params)


@pytest.mark.parametrize(
    "expression",
    ["age eq 1", "__system/reviewState eq", "eq 1", "__system/submitterId eq 'x'",
     "__id eq 5", "__system/reviewState eq 'a' garbage", "tolower(__id) eq 'a'",
     "__system/submissionDate gt 'soon'", "1 eq 1", "__id eq 'a'; select 1", "((("],
)
def test_unsupported_filters_are_refused(expression) -> None:
    with pytest.raises(ODataQueryError):
        compile_filter(expression)


def test_repeat_tables_need_root_prefix() -> None:
    with pytest.raises(ODataQueryError):
        compile_filter("__system/reviewState eq null", root_only=True)
    assert compile_filter("$root/Submissions/__system/reviewState eq null", root_only=True)[0] == (
        "(s.review_state IS NULL)"
    )


@given(st.text(max_size=40))
def test_string_literals_never_reach_the_sql_text(value: str) -> None:
    quoted = "'" + value.replace("'", "''") + "'"
    try:
        sql, params = compile_filter(f"__id eq {quoted}", first_param=2)
    except ODataQueryError:
        return  # e.g. control characters the tokenizer does not read
    assert sql == "(s.instance_id IS NOT DISTINCT FROM $2::text)"
    assert params == [value]


def test_orderby() -> None:
    assert compile_orderby("__system/submitterId desc, __id") == (
        "ORDER BY s.submitter_id DESC NULLS LAST, s.instance_id ASC NULLS FIRST, s.id DESC"
    )
    assert compile_orderby(None) is None
    for bad in ("age", "__id sideways", "__id asc extra"):
        with pytest.raises(ODataQueryError):
            compile_orderby(bad)


def test_timestamps() -> None:
    assert parse_timestamp("2026-01-31") == datetime(2026, 1, 31, tzinfo=UTC)
    assert parse_timestamp("2026-01-31T10:00:00z") == datetime(2026, 1, 31, 10, tzinfo=UTC)
    assert parse_timestamp("2026-01-31T10:00:00+0500") == datetime(
        2026, 1, 31, 10, tzinfo=timezone(timedelta(hours=5))
    )
    assert parse_timestamp("2026-01-31T10:00").tzinfo == UTC


@pytest.mark.parametrize(
    ("field_type", "raw", "wkt", "expected"),
    [
        ("int", "42", False, 42),
        ("int", " -7 ", False, -7),
        ("int", "4.0", False, 4),
        ("int", "x", False, None),
        ("int", "9223372036854775807", False, 2**63 - 1),
        ("int", "9223372036854775808", False, None),  # beyond Edm.Int64
        ("int", "7" * 4000, False, None),
        ("int", "7" * 5000, False, None),
        ("int", "1e300", False, None),
        ("int", None, False, None),
        ("decimal", "1.5", False, 1.5),
        ("decimal", "nan", False, None),
        ("decimal", "", False, None),
        ("boolean", "true", False, True),
        ("boolean", "0", False, False),
        ("string", " keep spaces ", False, " keep spaces "),
        ("select_multiple", "a b", False, "a b"),
        ("date", "2026-01-02", False, "2026-01-02"),
        ("dateTime", "2026-01-02T10:00:00.000+05", False, "2026-01-02T10:00:00.000+05:00"),
        ("dateTime", "2026-01-02T10:00:00.000+05:00", False, "2026-01-02T10:00:00.000+05:00"),
        ("geopoint", "38.5 68.7 800 5", False,
         {"type": "Point", "coordinates": [68.7, 38.5, 800.0], "properties": {"accuracy": 5.0}}),
        ("geopoint", "38.5 68.7", False, {"type": "Point", "coordinates": [68.7, 38.5]}),
        ("geopoint", "38.5 68.7 800 5", True, "POINT (68.7 38.5 800)"),
        ("geopoint", "nonsense", False, None),
        ("geotrace", "1 2 3 4;5 6 7 8", False,
         {"type": "LineString", "coordinates": [[2.0, 1.0, 3.0], [6.0, 5.0, 7.0]],
          "properties": {"accuracies": [4.0, 8.0]}}),
        ("geoshape", "1 2;3 4;1 2", True, "POLYGON ((2 1,4 3,2 1))"),
        ("geotrace", "1 2 0 0;3 4 0 0;", True, "LINESTRING (2 1 0,4 3 0)"),
        ("string", ["first", "second"], False, "first"),
        ("string", {"nested": "x"}, False, None),
    ],
)
def test_values_are_typed_as_central_types_them(field_type, raw, wkt, expected) -> None:
    assert odata_value(field_type, raw, wkt=wkt) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [("age", "age"), ("hh-size", "hh_size"), ("1st", "_1st"), ("a.b", "a_b"), ("_x", "_x"),
     ("déjà", "d_j_")],
)
def test_names_are_sanitized(name, expected) -> None:
    assert sanitize(name) == expected


def test_repeat_row_ids_are_stable_and_distinct() -> None:
    a = repeat_row_id("uuid:1", ["g1#", "member#1"])
    assert a == repeat_row_id("uuid:1", ["g1#", "member#1"])
    assert len({a, repeat_row_id("uuid:1", ["g1#", "member#2"]),
                repeat_row_id("uuid:2", ["g1#", "member#1"])}) == 3
