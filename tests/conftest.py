"""Fixtures every test tier shares: headless Chromium through Playwright."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _missing() -> str | None:
    """Why the browser test cannot run here, or None when it can."""
    missing = []
    if importlib.util.find_spec("playwright") is None:
        missing.append("the playwright package is not installed")
    if not CHROMIUM.exists():
        missing.append(f"{CHROMIUM} does not exist (apt-get install chromium)")
    return "; ".join(missing) or None


@pytest.fixture
def sync_playwright() -> Callable[[], Any]:
    """Playwright's sync_playwright; skipped without Chromium, except on CI where it fails."""
    reason = _missing()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser test cannot run on CI: {reason}")
        pytest.skip(f"browser test needs headless Chromium: {reason}")
    from playwright.sync_api import sync_playwright

    return sync_playwright


def launch_chromium(playwright: Any) -> Any:
    """Debian's headless Chromium (no browser downloads here), without a sandbox (CI runs as
    root)."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


@pytest.fixture
def chromium_launcher() -> Callable[[Any], Any]:
    """:func:`launch_chromium`, for the browser tests."""
    return launch_chromium
