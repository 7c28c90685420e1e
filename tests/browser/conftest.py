"""The browser tests' shared parts: one Debian Chromium (Playwright, never `playwright
install`) for the whole session, and the rule that a missing Chromium or Playwright is a skip on
a developer's machine and a failure under CI=true."""

from __future__ import annotations

import pytest

from tests.browser.support import CHROMIUM, async_playwright, chromium
from tests.conftest import require


@pytest.fixture(autouse=True)
def _browser_available() -> None:
    require(CHROMIUM is not None, "no chromium installed (apt-get install chromium)")
    require(async_playwright is not None, "playwright (PyPI) is not installed")


@pytest.fixture(scope="session")
async def browser():
    require(CHROMIUM is not None, "no chromium installed (apt-get install chromium)")
    require(async_playwright is not None, "playwright (PyPI) is not installed")
    async with chromium() as launched:
        yield launched
