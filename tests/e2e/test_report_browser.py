"""The HTML report in a real browser: it renders offline, without errors or requests.

Needs headless Chromium at /usr/bin/chromium and the ``playwright`` package. Without them the
test is skipped on a developer machine, but fails on CI (``CI=true``), where it must run.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from retentio.analytics import KPI_KEYS
from retentio.datasets import load_cdnow
from retentio.reporting import write_report

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def report_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("report") / "cdnow report.html"  # a space: URL-quoted
    return write_report(load_cdnow(), path, observation_end=date(1998, 6, 30))


def test_report_renders_offline_without_errors(
    sync_playwright: Callable[[], Any],
    chromium_launcher: Callable[[Any], Any],
    report_file: Path,
    tmp_path: Path,
) -> None:
    from playwright.sync_api import expect

    blocked: list[str] = []
    errors: list[str] = []

    def only_files(route: Any) -> None:
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    with sync_playwright() as p:
        browser = chromium_launcher(p)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            context.route("**/*", only_files)
            page = context.new_page()
            page.on(
                "console",
                lambda m: (
                    errors.append(f"console {m.type}: {m.text}")
                    if m.type in {"error", "warning"}
                    else None
                ),
            )
            page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
            page.goto(report_file.as_uri(), wait_until="load")

            expect(page).to_have_title("Retention report")
            cards = page.locator("#kpis article.card")
            expect(cards).to_have_count(len(KPI_KEYS))
            for i in range(len(KPI_KEYS)):
                expect(cards.nth(i)).to_be_visible()
                box = cards.nth(i).locator("svg").bounding_box()
                assert box is not None and box["width"] > 100 and box["height"] > 20
            expect(page.locator('[data-kpi="customers"] .value')).to_have_text("2,357")

            table = page.locator("table.cohorts")
            expect(table).to_be_visible()
            expect(table.locator("tbody tr")).to_have_count(3)
            expect(table.locator("tbody th").first).to_have_text("Jan 1997")

            for section in ("#interpurchase", "#segments", "#new-returning"):
                expect(page.locator(f"{section} svg").first).to_be_visible()
            # nothing sticks out sideways: the page needs no horizontal scrolling
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

            shot = tmp_path / "report.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 50_000

            page.set_viewport_size({"width": 390, "height": 844})  # a phone
            expect(cards.first).to_be_visible()
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
            page.screenshot(path=str(tmp_path / "report-phone.png"), full_page=True)
            context.close()
        finally:
            browser.close()

    assert blocked == [], f"the report tried to load {blocked}"
    assert errors == []
