"""OData `$filter` and `$orderby` over submission metadata -> SQL with $n parameters.

Pure: text in, (SQL text, parameters) out, or `ODataQueryError`. The SQL text is assembled
only from fixed fragments (column names from `COLUMNS`, operators, function names); every
literal the client wrote becomes a parameter with an explicit cast. Nothing the client sent is
ever pasted into SQL.

What is supported is what ODK Central documents for its OData feed:
- fields: `__id`, `__system/submissionDate`, `__system/updatedAt`, `__system/submitterId`,
  `__system/reviewState`, `__system/deletedAt`, each also as `$root/Submissions/<field>`
  (the only spelling Central accepts on repeat tables);
- operators `eq ne lt le gt ge and or not`, parentheses;
- functions `year month day hour minute second` (of a timestamp) and `now()`;
- literals: 'strings' (with '' for a quote), integers, decimals, `null`, dates
  (2026-01-31) and timestamps (2026-01-31T10:00:00Z, offsets allowed; none means UTC).
`eq null` / `ne null` become IS NULL / IS NOT NULL; other `eq`/`ne` compare with
IS [NOT] DISTINCT FROM, so a null review state ("received") is `ne 'approved'`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from db.limits import OutOfRange, checked_bigint, utc_moment
from forms.messages import N_, OptionError

ROOT_PREFIX = "$root/Submissions/"

# OData name -> (SQL expression, kind). Kinds: timestamp, int, text.
COLUMNS: dict[str, tuple[str, str]] = {
    "__id": ("s.instance_id", "text"),
    "__system/submissionDate": ("s.created_at", "timestamp"),
    "__system/updatedAt": ("s.updated_at", "timestamp"),
    "__system/submitterId": ("s.submitter_id", "int"),
    "__system/reviewState": ("s.review_state", "text"),
    "__system/deletedAt": ("NULL::timestamptz", "timestamp"),  # submissions are never deleted
}
CASTS = {"timestamp": "timestamptz", "int": "bigint", "text": "text", "number": "numeric"}
COMPARISONS = {"eq": "=", "ne": "<>", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
EXTRACT_FUNCTIONS = ("year", "month", "day", "hour", "minute", "second")
MAX_FILTER_LENGTH = 4000
MAX_DEPTH = 50  # parentheses and `not`, together
MAX_NUMBER_EXPONENT = 1000  # a decimal literal's magnitude: 1e-1000 .. 1e1000

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>'(?:[^']|'')*')
      | (?P<datetime>\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|z|[+-]\d{2}:?\d{2})?)?)
      | (?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
      | (?P<punct>[(),])
      | (?P<name>[$A-Za-z_][\w$/.-]*)
    )""",
    re.VERBOSE,
)


class ODataQueryError(OptionError, ValueError):
    """The $filter or $orderby cannot be used; the message says why (a catalogue template
    and its values, so that the API says it in the reader's language)."""


UNEXPECTED = N_("Unexpected %(token)s at character %(position)s.")


class _TooDeep(ODataQueryError):
    """Nesting (parentheses, `not`) beyond MAX_DEPTH: never retried another way."""


@dataclass(frozen=True)
class Token:
    kind: str  # string, datetime, number, punct, name
    text: str
    position: int


def tokenize(expression: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    end = len(expression.rstrip())
    while pos < end:
        match = _TOKEN.match(expression, pos)
        if match is None or match.end() == pos:
            raise ODataQueryError(N_("Cannot read the $filter at character %(position)s."),
                                 {"position": pos + 1})
        kind = match.lastgroup
        assert kind is not None
        tokens.append(Token(kind, match.group(kind), match.start(kind)))
        pos = match.end()
    return tokens


@dataclass(frozen=True)
class Operand:
    """A compiled operand: SQL text and kind, or a literal still waiting for its type."""

    sql: str | None
    kind: str  # timestamp, int, text, number, null, literal
    literal: Token | None = None


class _Compiler:
    def __init__(self, tokens: list[Token], first_param: int, root_only: bool):
        self.tokens = tokens
        self.pos = 0
        self.params: list[Any] = []
        self.first_param = first_param
        self.root_only = root_only
        self.depth = 0

    # -- token helpers
    def peek(self) -> Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def next(self) -> Token:
        token = self.peek()
        if token is None:
            raise ODataQueryError(N_("The $filter ends too early."))
        self.pos += 1
        return token

    def accept_word(self, *words: str) -> str | None:
        token = self.peek()
        if token is not None and token.kind == "name" and token.text in words:
            self.pos += 1
            return token.text
        return None

    def expect_punct(self, text: str) -> None:
        token = self.next()
        if token.kind != "punct" or token.text != text:
            raise ODataQueryError(N_("Expected %(expected)s at character %(position)s."),
                                 {"expected": repr(text), "position": token.position + 1})

    def param(self, value: Any, kind: str) -> str:
        self.params.append(value)
        return f"${self.first_param + len(self.params) - 1}::{CASTS[kind]}"

    # -- nesting: every way in (a parenthesis, `not`) counts, in one place
    def descend(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _TooDeep(N_("The $filter nests deeper than %(depth)s levels."), {"depth": MAX_DEPTH})

    def ascend(self) -> None:
        self.depth -= 1

    # -- grammar: or < and < not < comparison
    def boolean(self) -> str:
        self.descend()
        left = self.conjunction()
        while self.accept_word("or"):
            left = f"({left} OR {self.conjunction()})"
        self.ascend()
        return left

    def conjunction(self) -> str:
        left = self.negation()
        while self.accept_word("and"):
            left = f"({left} AND {self.negation()})"
        return left

    def negation(self) -> str:
        if self.accept_word("not"):
            self.descend()
            inner = self.negation()
            self.ascend()
            return f"(NOT {inner})"
        return self.comparison()

    def comparison(self) -> str:
        token = self.peek()
        if token is not None and token.kind == "punct" and token.text == "(":
            # A parenthesised boolean, unless it is an operand in parentheses: try boolean.
            saved, saved_params, saved_depth = self.pos, len(self.params), self.depth
            self.pos += 1
            try:
                inner = self.boolean()
                self.expect_punct(")")
                following = self.peek()
                if following is None or following.kind != "name" or following.text not in COMPARISONS:
                    return inner
            except _TooDeep:
                raise
            except ODataQueryError:
                pass
            self.pos, self.depth = saved, saved_depth
            del self.params[saved_params:]
        left = self.operand()
        operator = self.accept_word(*COMPARISONS)
        if operator is None:
            where = self.peek()
            if where is None:
                raise ODataQueryError(N_("Expected a comparison (eq, ne, lt, le, gt, ge)."))
            raise ODataQueryError(
                N_("Expected a comparison (eq, ne, lt, le, gt, ge) at character %(position)s."),
                {"position": where.position + 1},
            )
        right = self.operand()
        return self.compare(left, operator, right)

    def operand(self) -> Operand:
        token = self.next()
        if token.kind == "punct" and token.text == "(":
            self.descend()
            inner = self.operand()
            self.expect_punct(")")
            self.ascend()
            return inner
        if token.kind in ("string", "number", "datetime"):
            return Operand(None, "literal", token)
        if token.kind != "name":
            raise ODataQueryError(UNEXPECTED, {"token": repr(token.text), "position": token.position + 1})
        if token.text == "null":
            return Operand(None, "null")
        following = self.peek()
        if following is not None and following.kind == "punct" and following.text == "(":
            return self.function(token)
        return self.field(token)

    def field(self, token: Token) -> Operand:
        name = token.text
        if name.startswith(ROOT_PREFIX):
            name = name[len(ROOT_PREFIX) :]
        elif self.root_only:
            raise ODataQueryError(
                N_("On a repeat table, filter by %(field)s (the submission's fields)."),
                {"field": ROOT_PREFIX + name},
            )
        if name not in COLUMNS:
            raise ODataQueryError(
                N_("%(field)s cannot be filtered on; use one of: %(fields)s."),
                {"field": repr(token.text), "fields": ", ".join(COLUMNS)},
            )
        sql, kind = COLUMNS[name]
        return Operand(sql, kind)

    def function(self, token: Token) -> Operand:
        self.expect_punct("(")
        if token.text == "now":
            self.expect_punct(")")
            return Operand("now()", "timestamp")
        if token.text not in EXTRACT_FUNCTIONS:
            raise ODataQueryError(N_("The function %(function)s() is not supported."),
                                 {"function": token.text})
        argument = self.operand()
        self.expect_punct(")")
        argument = self.coerce(argument, "timestamp")
        return Operand(f"extract({token.text} from {argument.sql})", "number")

    # -- typing
    def coerce(self, operand: Operand, kind: str) -> Operand:
        """A literal takes the kind of what it is compared with; other operands must match."""
        if operand.kind == "literal":
            assert operand.literal is not None
            return Operand(self.param(self.literal_value(operand.literal, kind), kind), kind)
        compatible = {kind} | ({"int", "number"} if kind in ("int", "number") else set())
        if operand.kind not in compatible:
            raise ODataQueryError(N_("Cannot compare a %(kind)s with a %(other)s."),
                                 {"kind": operand.kind, "other": kind})
        return operand

    @staticmethod
    def literal_value(token: Token, kind: str) -> Any:
        text = token.text
        if token.kind == "string":
            text = text[1:-1].replace("''", "'")
        try:
            if kind == "timestamp":
                moment = timestamp_literal(text)
                try:
                    return utc_moment(moment)
                except OutOfRange as exc:
                    raise ODataQueryError(
                        N_("%(value)s is out of range: %(moment)s is outside the years 1 to 9999 "
                           "in UTC."),
                        {"value": token.text, "moment": moment.isoformat()},
                    ) from exc
            if kind == "int":
                number = int(text)
                try:
                    return checked_bigint(number)
                except OutOfRange as exc:
                    raise ODataQueryError(
                        N_("%(value)s is out of range: %(number)s is outside the 64-bit integer "
                           "range."),
                        {"value": token.text, "number": number},
                    ) from exc
            if kind == "number":
                number = Decimal(text)
                if not number.is_finite() or abs(number.adjusted()) > MAX_NUMBER_EXPONENT:
                    raise ODataQueryError(
                        N_("%(value)s is out of range: %(text)s is not a finite number of up to "
                           "1000 digits."),
                        {"value": token.text, "text": text},
                    )
                return number
        except ODataQueryError:
            raise
        except (ValueError, InvalidOperation) as exc:
            raise ODataQueryError(N_("%(value)s is not a %(kind)s."),
                                 {"value": token.text, "kind": kind}) from exc
        if token.kind != "string":
            raise ODataQueryError(N_("%(value)s is not a string; quote it: '%(value)s'."),
                                 {"value": token.text})
        return text

    def compare(self, left: Operand, operator: str, right: Operand) -> str:
        if left.kind == "null" or right.kind == "null":
            other = right if left.kind == "null" else left
            if other.kind == "null":
                return "TRUE" if operator in ("eq", "le", "ge") else "FALSE"
            if operator not in ("eq", "ne"):
                return "FALSE"  # SQL: an order comparison with null is never true
            if other.kind == "literal":
                return "FALSE" if operator == "eq" else "TRUE"
            return f"({other.sql} IS {'NOT ' if operator == 'ne' else ''}NULL)"
        if left.kind == "literal" and right.kind == "literal":
            raise ODataQueryError(N_("A comparison needs a field or a function on one side."))
        if left.kind == "literal":
            left = self.coerce(left, right.kind)
        elif right.kind == "literal":
            right = self.coerce(right, left.kind)
        else:
            right = self.coerce(right, left.kind)
        if operator == "eq":
            return f"({left.sql} IS NOT DISTINCT FROM {right.sql})"
        if operator == "ne":
            return f"({left.sql} IS DISTINCT FROM {right.sql})"
        return f"({left.sql} {COMPARISONS[operator]} {right.sql})"


def timestamp_literal(text: str) -> datetime:
    """An OData date or timestamp literal as written (ValueError if it is none), before it is
    moved to UTC."""
    text = text.strip()
    if len(text) == 10:
        day = date.fromisoformat(text)
        return datetime(day.year, day.month, day.day, tzinfo=UTC)
    if text[-1] in "zZ":
        text = text[:-1] + "+00:00"
    elif re.search(r"[+-]\d{4}$", text):
        text = f"{text[:-2]}:{text[-2:]}"
    return datetime.fromisoformat(text)


def parse_timestamp(text: str) -> datetime:
    """An OData date or timestamp literal; no offset means UTC."""
    return utc_moment(timestamp_literal(text))


def compile_filter(
    expression: str | None, *, first_param: int = 1, root_only: bool = False
) -> tuple[str, list[Any]]:
    """$filter -> (SQL boolean expression, parameters numbered from `first_param`).
    `root_only`: the filter is on a repeat table, where fields need the $root/Submissions/ prefix.
    No filter gives ("TRUE", [])."""
    if expression is None or not expression.strip():
        return "TRUE", []
    if len(expression) > MAX_FILTER_LENGTH:
        raise ODataQueryError(N_("The $filter is longer than %(length)s characters."),
                              {"length": MAX_FILTER_LENGTH})
    compiler = _Compiler(tokenize(expression), first_param, root_only)
    sql = compiler.boolean()
    leftover = compiler.peek()
    if leftover is not None:
        raise ODataQueryError(
            UNEXPECTED, {"token": repr(leftover.text), "position": leftover.position + 1}
        )
    return sql, compiler.params


def compile_orderby(expression: str | None, *, root_only: bool = False) -> str | None:
    """$orderby -> ORDER BY clause with s.id as the last key (a stable order); None if absent."""
    if expression is None or not expression.strip():
        return None
    clauses = []
    first_direction = "ASC"
    for part in expression.split(","):
        words = part.split()
        if not words or len(words) > 2:
            raise ODataQueryError(N_("Cannot read the $orderby part %(part)s."),
                                 {"part": repr(part.strip())})
        name = words[0]
        if name.startswith(ROOT_PREFIX):
            name = name[len(ROOT_PREFIX) :]
        elif root_only:
            raise ODataQueryError(N_("On a repeat table, order by %(field)s."),
                                 {"field": ROOT_PREFIX + name})
        if name not in COLUMNS:
            raise ODataQueryError(N_("%(field)s cannot be sorted on."), {"field": repr(words[0])})
        direction = words[1].upper() if len(words) == 2 else "ASC"
        if direction not in ("ASC", "DESC"):
            raise ODataQueryError(N_("Sort direction must be asc or desc, not %(direction)s."),
                                 {"direction": repr(words[1])})
        if not clauses:
            first_direction = direction
        nulls = "NULLS FIRST" if direction == "ASC" else "NULLS LAST"
        clauses.append(f"{COLUMNS[name][0]} {direction} {nulls}")
    clauses.append(f"s.id {first_direction}")
    return "ORDER BY " + ", ".join(clauses)
