"""The coordinator's HTML report opened in a real headless Chromium, as a non-technical reader would open it.

The string checks in test_report_cli.py cannot tell whether plotly actually drew anything; here the page runs:
every chart must have drawn its data traces as SVG marks of non-zero size, the period, data sources, caveats and
headline numbers must be visible text, nothing may go wrong on the console, and the page may fetch nothing
beyond itself (it is opened from a USB stick in a meeting room). Chromium comes from Debian (`make test`
installs it); without it these tests fail, they never skip.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from dispatch_bridge.outcomes import StoreSettings, build_report, open_store, render_html
from tests.browser import BrowserMissing, Page, find_chromium, open_page
from tests.test_report import replayed_report

# The charts render.py draws, in page order, with the traces each must show.
CHARTS = {
    "From call to CIT officer on scene": 1,
    "Crisis calls by district": 4,
    "Crisis calls by shift": 4,
    "Time to the scene": 2,
    "When the recommendation was not followed": 1,
    "Crisis calls the intake rules missed": 2,
    "CIT coverage by district and shift": 1,
}
# Every chart has drawn its main SVG: the page is ready to be read.
CHARTS_DRAWN = f"document.querySelectorAll('.js-plotly-plot .plot-container svg.main-svg').length >= {len(CHARTS)}"

# Per chart, what the reader actually sees: its heading, the plotly containers, the traces plotly was given and
# the trace groups and marks it drew (bars and funnel segments as SVG paths, the heatmap as an image) that have
# a real size on screen. Zero-size marks are what a chart "drawn" with no visible data leaves behind.
CHART_FACTS = """
Array.from(document.querySelectorAll('.js-plotly-plot')).map(gd => {
  const heading = Array.from(document.querySelectorAll('h2'))
    .filter(h => h.compareDocumentPosition(gd) & Node.DOCUMENT_POSITION_FOLLOWING).pop();
  const svg = gd.querySelector('.plot-container svg.main-svg');
  const sized = el => { const b = el.getBoundingClientRect(); return b.width > 0.5 && b.height > 0.5; };
  const box = gd.getBoundingClientRect();
  return {
    title: heading ? heading.textContent : null,
    containers: gd.querySelectorAll('.plot-container').length,
    traces_given: (gd.data || []).length,
    traces_drawn: svg ? svg.querySelectorAll('g.trace, g.hm').length : 0,
    marks: svg ? Array.from(svg.querySelectorAll('g.trace .point path, g.hm image')).filter(sized).length : 0,
    width: box.width, height: box.height,
    hidden: getComputedStyle(gd).visibility !== 'visible' || getComputedStyle(gd).display === 'none',
  };
})
"""
# The funnel's segment labels as plotly drew them: ["9", "100%"] per step.
FUNNEL_LABELS = """
Array.from(document.querySelectorAll('.js-plotly-plot')[0].querySelectorAll('.point text'))
  .map(t => Array.from(t.querySelectorAll('tspan.line')).map(s => s.textContent))
"""
# Text a reader can see: innerText leaves out display:none and visibility:hidden content.
VISIBLE_TEXT = "document.body.innerText"
# Elements that carry text but occupy no space on screen (collapsed, clipped to nothing).
INVISIBLE_TEXT_BLOCKS = """
Array.from(document.querySelectorAll('h1, h2, p, li, .card, td'))
  .filter(el => { const b = el.getBoundingClientRect(); return b.width < 1 || b.height < 1; })
  .map(el => el.tagName + ': ' + el.textContent.slice(0, 60))
"""
# Wider than the window means sideways scrolling: charts or tables that do not fit the page.
FITS_WIDTH = "document.documentElement.scrollWidth <= window.innerWidth"


def require_chromium() -> None:
    # A failed test, not an error in setup and never a skip: CI must have the browser.
    problem = None
    try:
        find_chromium()
    except BrowserMissing as missing:
        problem = str(missing)
    if problem:
        pytest.fail(problem, pytrace=False)


def lines(text: str) -> list[str]:
    # innerText joins blocks with newlines and may collapse runs of spaces: compare whitespace-normalised.
    return [" ".join(line.split()) for line in text.splitlines() if line.strip()]


def assert_clean(page: Page) -> None:
    assert page.outside_requests() == [], "the report reached outside itself: it is not self-contained"
    assert page.requests[0] == page.url
    assert page.problems == [], "errors in the browser console"


async def assert_readable_text(page: Page, report: dict[str, Any]) -> list[str]:
    """Period, data sources and caveats are on screen as visible text; returns the visible lines."""
    visible = lines(await page.evaluate(VISIBLE_TEXT))
    joined = "\n".join(visible)
    period = report["period"]
    assert f"Period: {period['from']} to {period['to']} (inclusive, {period['timezone']} time)." in joined
    assert await page.evaluate("document.title") == f"CIT program evaluation: {period['from']} to {period['to']}"
    for heading in ("CIT program evaluation", "Where these numbers come from", "Read with care"):
        assert heading in visible
    for sentence in report["data_sources"] + report["caveats"]:
        assert " ".join(sentence.split()) in visible, f"not visible: {sentence[:60]}"
    assert await page.evaluate(INVISIBLE_TEXT_BLOCKS) == []
    assert await page.evaluate(FITS_WIDTH), "the page scrolls sideways"
    return visible


async def test_report_renders_for_a_reader(tmp_path: Path) -> None:
    require_chromium()
    report = await replayed_report(f"sqlite:///{tmp_path}/report.db")
    path = tmp_path / "report.html"
    path.write_text(render_html(report), encoding="utf-8")

    async with open_page(path, ready=CHARTS_DRAWN) as page:
        charts = await page.evaluate(CHART_FACTS)
        funnel_labels = await page.evaluate(FUNNEL_LABELS)
        cards = [lines(text) for text in await page.evaluate("Array.from(document.querySelectorAll('.card'))"
                                                                ".map(c => c.innerText)")]
        visible = await assert_readable_text(page, report)
        assert_clean(page)

    assert [c["title"] for c in charts] == list(CHARTS)
    for chart in charts:
        expected = CHARTS[chart["title"]]
        assert chart["containers"] == 1 and not chart["hidden"], chart
        assert chart["width"] > 300 and chart["height"] >= 300, chart
        # Plotly got every trace and drew every one of them, with marks a reader can see.
        assert chart["traces_given"] == chart["traces_drawn"] == expected, chart
        assert chart["marks"] > 0, chart

    # The key funnel figures (9 calls, 6 flagged, 5 recommended, 2 dispatched, 2 on scene), three ways.
    assert cards == [["9", "All calls"], ["6", "Flagged as crisis"], ["5", "CIT officer recommended"],
                     ["2", "CIT officer dispatched"], ["2", "CIT officer on scene"]]
    assert funnel_labels == [["9", "100%"], ["6", "67%"], ["5", "56%"], ["2", "22%"], ["2", "22%"]]
    assert ("Of 9 calls, 6 were flagged as a behavioral-health crisis (67%). A CIT officer was recommended on 5 "
            "calls, dispatched on 2 and on scene on 2 (40% of those recommended).") in visible
    # The tables under the charts are on screen too.
    assert "Certifications expiring soon" in visible and "2026-03-10" in "\n".join(visible)


async def test_an_empty_period_still_opens_cleanly(tmp_path: Path) -> None:
    require_chromium()
    # The first report of a new deployment covers a period with no calls: no errors, no fetches, all words there.
    store = await open_store(StoreSettings(url=f"sqlite:///{tmp_path}/empty.db"))
    try:
        report = await build_report(store, dt.date(2026, 3, 2), dt.date(2026, 3, 3))
    finally:
        await store.close()
    path = tmp_path / "empty.html"
    path.write_text(render_html(report), encoding="utf-8")

    async with open_page(path) as page:
        charts = await page.evaluate(CHART_FACTS)
        visible = await assert_readable_text(page, report)
        assert_clean(page)

    # Nothing to draw: no empty axes, a sentence under every chart heading instead.
    assert charts == []
    for title in CHARTS:
        assert visible[visible.index(title) + 2] == "No data for this chart in this period."
    assert "No certification records were supplied with this report." in visible
    assert "Of 0 calls, 0 were flagged as a behavioral-health crisis (n/a)." in "\n".join(visible)


async def test_the_browser_catches_what_these_tests_look_for(tmp_path: Path) -> None:
    require_chromium()
    # The checks above could pass vacuously if the helper saw nothing: a page that fetches a CDN script, logs an
    # error and throws must show all three, and the fetch must be refused rather than made.
    path = tmp_path / "bad.html"
    path.write_text(
        "<!DOCTYPE html><html><head><script src='https://cdn.plot.ly/plotly-3.0.0.min.js'></script></head><body>"
        "<img src='data:image/gif;base64,R0lGODlhAQABAAAAACw='>"
        "<script>console.error('chart failed'); window.done = true; null.x;</script></body></html>",
        encoding="utf-8",
    )
    async with open_page(path, ready="window.done === true") as page:
        assert await page.evaluate("typeof Plotly") == "undefined"
        assert page.outside_requests() == ["https://cdn.plot.ly/plotly-3.0.0.min.js"]
        assert page.blocked == ["https://cdn.plot.ly/plotly-3.0.0.min.js"]
        problems = "\n".join(page.problems)
        assert "console.error: chart failed" in problems
        assert "uncaught: TypeError: Cannot read properties of null" in problems
