"""The DevTools probe on a real headless Chromium: it catches a broken page (the report itself is
read in Chromium by test_report_browser.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .cdp import CHROMIUM, Browser

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="/usr/bin/chromium is absent (Debian: apt-get install chromium)"
)

IMAGES = """Array.from(document.images).map(i => ({
  id: i.id, complete: i.complete, w: i.naturalWidth, h: i.naturalHeight,
  shownWidth: i.getBoundingClientRect().width, data: i.src.startsWith('data:image/png;base64,'),
  length: i.src.length}))"""


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
