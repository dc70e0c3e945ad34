"""The review report read in a real headless Chromium (Selenium, Debian's chromedriver).

The report is written with no plotting library and no font importable (matplotlib blocked):
its charts are SVG whose labels are text, so the browser, with its own fonts, draws the
Chinese. The page keeps its strict CSP and loads without console errors.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sentinel.alerting.render import write_report
from sentinel.alerting.report import build_report
from sentinel.alerting.review import ReviewNotes
from sentinel.clock import ManualClock
from sentinel.config import Config
from sentinel.store import SqlStore

from .conftest import Known

CHROMEDRIVER = Path("/usr/bin/chromedriver")
webdriver = pytest.importorskip("selenium.webdriver")
pytestmark = pytest.mark.skipif(
    not CHROMEDRIVER.exists(),
    reason="/usr/bin/chromedriver is absent (Debian: apt-get install chromium-driver)",
)

CHARTS = """return Array.from(document.querySelectorAll('figure svg')).map(s => {
  const r = s.getBoundingClientRect();
  return {id: s.id, width: r.width, height: r.height,
          texts: Array.from(s.querySelectorAll('text')).map(t => ({
            text: t.textContent, length: t.getComputedTextLength(),
            shown: t.getBoundingClientRect().width}))};
});"""


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_AVOID_STATS", "true")  # Selenium Manager: no telemetry, no network
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--window-size=1200,900",
        f"--user-data-dir={tmp_path / 'profile'}",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


async def test_report_reads_in_chromium_without_a_font_on_the_daemons_side(
    filled: SqlStore,
    config: Config,
    clock: ManualClock,
    known: Known,
    tmp_path: Path,
    browser: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await ReviewNotes(filled, clock).add("acme", "原因", "供应商批次抽检漏检", actor="wang.li")
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # importing it now raises ImportError
    data = await build_report(
        filled, config, "acme", since=known.since, until=known.until, clock=clock, progress=False
    )
    files = write_report(data, tmp_path / "out")

    browser.get(files.html.resolve().as_uri())
    charts = browser.execute_script(CHARTS)
    body = browser.execute_script("return document.body.innerText")
    logs = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]

    assert logs == []  # no CSP refusal, no error
    assert browser.title == "舆情复盘报告 · acme"
    assert [c["id"] for c in charts] == ["chart-risk", "chart-volume", "chart-sentiment", "chart-topics"]
    for chart in charts:
        assert chart["width"] > 600 and chart["height"] > 80, chart  # laid out, visible
    labels = {t["text"]: t for c in charts for t in c["texts"]}
    for label in ("acme · 风险分与预警级别", "道歉", "产品与食品安全", "基线", "负面", "风险分（0–100）"):
        assert label in labels, label
        assert labels[label]["length"] > 0 and labels[label]["shown"] > 0, labels[label]  # drawn
    # every chart's text is real text the browser shaped, the Chinese included
    assert sum(any("\u4e00" <= ch <= "\u9fff" for ch in t) for t in labels) >= 10
    for heading in (
        "一、事件经过",
        "二、传播分析",
        "三、情绪与话题",
        "四、应对与效果",
        "五、原因、得失与改进",
    ):
        assert heading in body
    assert "供应商批次抽检漏检" in body and "wang.li" in body


def test_the_probe_sees_a_refused_image(tmp_path: Path, browser: Any) -> None:
    """The console check can fail: the report's CSP blocks a remote image, and the log says so."""
    page = tmp_path / "broken.html"
    page.write_text(
        '<!DOCTYPE html><meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        'img-src data:; style-src \'unsafe-inline\'"><img src="https://example.invalid/x.png">',
        encoding="utf-8",
    )
    browser.get(page.resolve().as_uri())
    logs = browser.get_log("browser")
    assert any("Content Security Policy" in e["message"] or "Refused" in e["message"] for e in logs)
