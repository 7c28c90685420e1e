"""What a summary request is (shared/spec/summaries.md, version 2): its parsing from a
query, the bounded language of roles without microdata (`restricted`), and the shapes of its
answer. Pure; the tables themselves: api/services/summaries.py."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from api.i18n import N_
from api.problems import Problem
from db.publications import Publication
from db.summaries import BY_NAME, CountQuery
from exports.disclosure import ProtectedTable
from forms.messages import OptionError
from forms.vocabulary import (
    COUNTED_REVIEW_STATES,
    LAST_MONTH,
    PERIODS,
    REVIEW_STATES,
    parse_month_range,
    whole_period,
)

XLSX_MEDIA = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
QUERY_KEYS = {"by", "period", "from", "to", "reviewState", "disclosure"} | set(BY_NAME)


@dataclass(frozen=True)
class SummaryRequest:
    by: tuple[str, ...] = ()
    period: str | None = None
    month_from: int = 0
    month_to: int = LAST_MONTH
    reviews: tuple[str, ...] = COUNTED_REVIEW_STATES
    filters: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    form_ids: tuple[int, ...] = ()

    def with_forms(self, form_ids: Sequence[int]) -> SummaryRequest:
        return replace(self, form_ids=tuple(form_ids))

    def count_query(self, by: Sequence[str] | None = None, filters=None) -> CountQuery:
        return CountQuery(
            self.form_ids,
            tuple(self.by if by is None else by),
            dict(self.filters if filters is None else filters),
            self.month_from,
            self.month_to,
            self.reviews,
            self.period,
        )


@dataclass(frozen=True)
class Slice:
    period: str | None  # the period's label, None for the whole range (or an unknown date)
    table: ProtectedTable


@dataclass(frozen=True)
class SummaryResult:
    request: SummaryRequest
    k: int | None
    rubric_versions: list[str]
    slices: list[Slice]
    publication: Publication | None = None


# --- parsing ------------------------------------------------------------------------------


def _listed(text: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v.strip() for v in text.split(",") if v.strip()))


def parse_summary_query(params: Mapping[str, str], *, restricted: bool = False) -> tuple[SummaryRequest, bool]:
    """The request and whether disclosure control was asked off. `restricted`: the bounded
    query language of roles without microdata."""
    unknown = sorted(set(params) - QUERY_KEYS)
    if unknown:
        raise Problem(
            "summary-query-invalid",
            N_("Unknown parameter(s): %(names)s. Dimensions: %(dimensions)s."),
            params={"names": ", ".join(unknown), "dimensions": ", ".join(BY_NAME)},
        )
    by = _listed(params.get("by", ""))
    for name in by:
        if name not in BY_NAME:
            raise Problem("summary-query-invalid", N_("Unknown dimension %(name)s; use %(dimensions)s."),
                          params={"name": name, "dimensions": ", ".join(BY_NAME)})
    if len(by) > 2:
        raise Problem("summary-query-invalid", N_("A table has at most two dimensions (and a period)."))
    period = params.get("period") or None
    if period is not None and period not in PERIODS:
        raise Problem("summary-query-invalid", N_("period must be one of %(values)s."),
                      params={"values": ", ".join(PERIODS)})
    if restricted and params.get("reviewState"):
        raise Problem(
            "summary-query-invalid",
            N_("Published summaries count every screening that is not rejected: there is no "
               "review state to choose."),
        )
    reviews = _listed(params.get("reviewState", "")) or COUNTED_REVIEW_STATES
    for state in reviews:
        if state not in REVIEW_STATES:
            raise Problem("summary-query-invalid", N_("reviewState must be among %(values)s."),
                          params={"values": ", ".join(REVIEW_STATES)})
    try:  # whole months (forms/vocabulary.py)
        month_from, month_to = parse_month_range(params.get("from"), params.get("to"))
    except OptionError as exc:
        raise Problem("summary-query-invalid", exc.template, params=exc.params) from exc
    filters = {name: _listed(params[name]) for name in BY_NAME if params.get(name)}
    if restricted:
        if not whole_period(month_from, month_to):
            raise Problem(
                "summary-query-invalid",
                N_("Published summaries cover everything or one whole month, quarter or year "
                   "('from' and 'to' of the same month, quarter or year)."),
            )
        for name, values in filters.items():
            if len(values) != 1:
                raise Problem("summary-query-invalid", N_("Filter %(name)s takes one value."), params={"name": name})
            if name in by:
                raise Problem("summary-query-invalid", N_("%(name)s is a breakdown and a filter at once."),
                              params={"name": name})
        if len(set(by) | set(filters)) > 2:
            raise Problem(
                "summary-query-invalid",
                N_("A published table involves at most two dimensions, breakdowns and filters "
                   "together (and a period)."),
            )
    disclosure = params.get("disclosure", "on")
    if disclosure not in ("on", "off"):
        raise Problem("summary-query-invalid", N_("disclosure must be on or off."))
    request = SummaryRequest(by, period, month_from, month_to, reviews, filters)
    return request, disclosure == "off"


def fitted(request: SummaryRequest) -> SummaryRequest | None:
    """A fixed table (the dashboard's, the workbook's) under the filters a user chose, in the
    bounded query language: a dimension that is filtered to one value is no breakdown any
    more; None when the table would still involve more than two dimensions."""
    fitted_request = replace(request, by=tuple(n for n in request.by if n not in request.filters))
    return fitted_request if within_bounds(fitted_request) else None


def within_bounds(request: SummaryRequest) -> bool:
    """Whether a request is one the bounded query language allows (for pages that combine a
    chosen filter with fixed tables)."""
    return len(set(request.by) | set(request.filters)) <= 2 and all(
        len(v) == 1 and n not in request.by for n, v in request.filters.items()
    )
