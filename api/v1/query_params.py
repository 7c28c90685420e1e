"""Query parameters shared by several REST routes."""

from __future__ import annotations

from litestar import Request

from api.i18n import N_
from api.problems import Problem
from db.limits import MAX_BIGINT


def non_negative_int(request: Request, name: str, slug: str = "request-invalid") -> int | None:
    """`?name=` as a whole number from 0 to 2^63-1 (what PostgreSQL's LIMIT/OFFSET take); None when absent or empty; a 400 problem `slug`
    otherwise."""
    value = request.query_params.get(name)
    if value in (None, ""):
        return None
    try:
        number = int(value)
    except ValueError as exc:
        raise Problem(slug, N_("%(name)s must be a whole number."), params={"name": name}) from exc
    if number < 0:
        raise Problem(slug, N_("%(name)s must not be negative."), params={"name": name})
    if number > MAX_BIGINT:
        raise Problem(slug, N_("%(name)s must be at most %(maximum)s."),
                      params={"name": name, "maximum": MAX_BIGINT})
    return number
