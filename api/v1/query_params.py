"""Query parameters shared by several REST routes."""

from __future__ import annotations

from litestar import Request

from api.problems import Problem


def non_negative_int(request: Request, name: str, slug: str = "request-invalid") -> int | None:
    """`?name=` as a whole number >= 0; None when absent or empty; a 400 problem `slug`
    otherwise."""
    value = request.query_params.get(name)
    if value in (None, ""):
        return None
    try:
        number = int(value)
    except ValueError as exc:
        raise Problem(slug, f"{name} must be a whole number.") from exc
    if number < 0:
        raise Problem(slug, f"{name} must not be negative.")
    return number
