"""Filling forms in the browser with ODK Web Forms (npm @getodk/web-forms, built with vite
into api/webforms/dist by `make`): the built files, and the pages that mount the form."""

from __future__ import annotations

import functools
import json
from pathlib import Path

from litestar.datastructures import CacheControlHeader
from litestar.static_files import create_static_files_router

DIST = Path(__file__).resolve().parents[1] / "webforms" / "dist"
ASSETS_PATH = "/webforms/assets"


@functools.cache
def entry_script() -> str | None:
    """The built entry's address (its file name carries a content hash), or None when Web
    Forms was not built (no npm)."""
    manifest = DIST / ".vite" / "manifest.json"
    if not manifest.is_file():
        return None
    entry = json.loads(manifest.read_text("utf-8"))["src/main.js"]
    return "/webforms/" + entry["file"]


def webforms_routes() -> list:
    if not (DIST / "assets").is_dir():
        return []
    return [
        create_static_files_router(
            path=ASSETS_PATH, directories=[DIST / "assets"], include_in_schema=False,
            # file names carry a content hash: a new build gets new names
            cache_control=CacheControlHeader(max_age=31_536_000, public=True),
        )
    ]
