"""What the browser tests share: Debian's Chromium through Playwright (never `playwright
install`; tests/browser/conftest.py launches one for the session and fails under CI=true when
either is missing), the two viewports, where screenshots go and axe-core."""

from __future__ import annotations

import shutil
from contextlib import asynccontextmanager
from pathlib import Path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
try:
    from playwright.async_api import async_playwright
except ImportError:  # pragma: no cover - the test extras install it
    async_playwright = None

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
AXE = ROOT / "api" / "pages" / "node_modules" / "axe-core" / "axe.min.js"
VIEWPORTS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1366, "height": 900}}


@asynccontextmanager
async def chromium():
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            yield browser
        finally:
            await browser.close()
