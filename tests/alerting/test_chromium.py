"""The HTML report in a real headless Chromium: loads without console errors, shows its charts."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from sentinel.alerting.render import write_report
from sentinel.alerting.report import build_report
from sentinel.clock import ManualClock
from sentinel.config import Config
from sentinel.store import SqlStore

from .cdp import CHROMIUM, Browser
from .conftest import Known

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="/usr/bin/chromium is absent (Debian: apt-get install chromium)"
)

IMAGES = """Array.from(document.images).map(i => ({
  id: i.id, complete: i.complete, w: i.naturalWidth, h: i.naturalHeight,
  shownWidth: i.getBoundingClientRect().width, data: i.src.startsWith('data:image/png;base64,'),
  length: i.src.length}))"""


async def test_report_opens_cleanly_in_chromium(
    filled: SqlStore, config: Config, clock: ManualClock, known: Known, tmp_path: Path
) -> None:
    data = await build_report(
        filled, config, "acme", since=known.since, until=known.until, clock=clock, progress=False
    )
    files = write_report(data, tmp_path / "out")
    started = time.monotonic()
    with Browser(tmp_path / "profile") as browser:
        session = browser.open(files.html.resolve().as_uri())
        images = browser.evaluate(session, IMAGES)
        title = browser.evaluate(session, "document.title")
        text = browser.evaluate(session, "document.body.innerText")
        problems = browser.problems(session)
    assert time.monotonic() - started < 60
    assert problems == []
    assert title == "舆情复盘报告 · acme"
    assert "wang.li" in text and "道歉" in text
    assert {i["id"] for i in images} == {
        "chart-risk",
        "chart-volume",
        "chart-sentiment",
        "chart-topics",
        "chart-effect-1",
    }
    for img in images:
        assert img["data"] and img["complete"], img["id"]
        assert img["w"] > 300 and img["h"] > 150, img  # decoded: a real picture, not a broken icon
        assert img["shownWidth"] > 300, img
        assert img["length"] > 10_000, img


def test_the_probe_would_see_a_broken_page(tmp_path: Path) -> None:
    """The console check can fail: a page with a script error and a blocked image is caught."""
    page = tmp_path / "broken.html"
    page.write_text(
        '<!DOCTYPE html><meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        'script-src \'unsafe-inline\'"><img id=x src="https://example.invalid/x.png">'
        "<script>console.error('boom'); undefinedFunction();</script>",
        encoding="utf-8",
    )
    with Browser(tmp_path / "profile") as browser:
        session = browser.open(page.resolve().as_uri())
        images = browser.evaluate(session, IMAGES)
        problems = browser.problems(session)
    assert images[0]["w"] == 0
    assert any("boom" in p for p in problems)
    assert any("undefinedFunction" in p for p in problems)
    assert any("Content Security Policy" in p or "Refused" in p for p in problems)
