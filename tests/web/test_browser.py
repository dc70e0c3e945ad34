"""The console in a real browser (headless Chromium, Selenium, Debian's chromedriver).

* A PR person follows a crisis: the daemon replays the demo crisis (``sentinel run``, the
  simulated source, the real classifier) and sends cards to a fake DingTalk that checks
  signatures; in the browser they sign in, see the alert appear without reloading, open it,
  acknowledge it, see the audit entry, and the next card says "已由 … 确认处理".
* A viewer's acknowledgement is refused.
* Hostile post text renders inert; the console has no errors; a broken page would be caught.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from .browser import artifacts, available, chromium, console_errors, login, wait_for
from .conftest import BIDI, PASSWORDS, Site

pytest.importorskip("selenium")
pytestmark = pytest.mark.skipif(
    not available(),
    reason="chromium / chromium-driver absent (Debian: apt-get install chromium chromium-driver)",
)

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "notify"))
from fake_services import FakeDingTalk  # noqa: E402

RESPONDER, RESPONDER_PW = "wang.responder", "responder-pass-1"
VIEWER, VIEWER_PW = "li.viewer", "viewer-pass-1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(check: Any, within: float, what: str) -> Any:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.25)
    raise AssertionError(f"not within {within:.0f}s: {what}")


def _config(tmp_path: Path, port: int, dingtalk: FakeDingTalk) -> Path:
    cfg = tmp_path / "sentinel.toml"
    cfg.write_text(
        f"""
[storage]
url = "sqlite:///{tmp_path}/crisis.db"

[metrics]
listen = "127.0.0.1:{port}"

[web]
public_url = "http://127.0.0.1:{port}"

[classifier]
model = "{ROOT / "models" / "default"}"

[[source]]
name = "demo"
type = "simulated"
scenario = "demo"
brand = "艾克美"

[[watch]]
name = "艾克美"
query = '(艾克美 OR ACME) AND NOT 招聘'

[[notify]]
type = "dingtalk"
url = "{dingtalk.url}"
secret = "{dingtalk.secret}"
min_level = "blue"
""",
        encoding="utf-8",
    )
    return cfg


def _sentinel(*args: str, stdin: str | None = None, env: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "sentinel.cli", *args], input=stdin, text=True, capture_output=True, env=env, cwd=ROOT,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_a_crisis_followed_in_the_browser(tmp_path: Path) -> None:
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By

    dingtalk = FakeDingTalk()
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    cfg = _config(tmp_path, port, dingtalk)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    _sentinel(
        "users", "add", RESPONDER, "--role", "responder", "--config", str(cfg), stdin=RESPONDER_PW, env=env
    )
    _sentinel("users", "add", VIEWER, "--role", "viewer", "--config", str(cfg), stdin=VIEWER_PW, env=env)
    log = tmp_path / "daemon.log"
    shots = artifacts(tmp_path)
    with log.open("wb") as out:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "sentinel.cli", "run", "--config", str(cfg)],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        _wait(lambda: _up(base) or daemon.poll() is not None, 90, "the daemon answers /healthz")
        assert daemon.poll() is None, log.read_text(encoding="utf-8")[-3000:]
        with chromium(tmp_path / "profile") as driver:
            login(driver, base, RESPONDER, RESPONDER_PW)
            _wait(lambda: driver.find_elements(By.ID, "watches"), 20, "the overview after sign-in")
            data = json.loads(driver.find_element(By.ID, "overview-data").get_attribute("textContent"))
            assert data["latest_alert"] == 0, "the crisis must not have started before the page loaded"
            driver.execute_script("window.__sameLoad = true;")
            link = _wait(
                lambda: driver.find_elements(By.CSS_SELECTOR, "#new-alerts a"),
                150,
                "the alert appears by itself",
            )[0]
            assert driver.execute_script("return window.__sameLoad === true;"), "the page was reloaded"
            time.sleep(1.5)  # let the charts draw the new data before the screenshot
            driver.save_screenshot(str(shots / "overview.png"))
            link.click()
            _wait(lambda: driver.find_elements(By.ID, "form-ack"), 20, "the alert's page")
            alert_url = driver.current_url
            driver.find_element(By.CSS_SELECTOR, "#form-ack input[name=note]").send_keys("公关组接手")
            driver.find_element(By.ID, "ack").click()
            audit = _wait(
                lambda: [
                    e for e in driver.find_elements(By.CSS_SELECTOR, "#audit li") if "alert.ack" in e.text
                ],
                20,
                "the audit entry of the acknowledgement",
            )
            assert f"{RESPONDER} (web)" in audit[0].text and "公关组接手" in audit[0].text
            assert f"已由 {RESPONDER} (web) 确认处理" in driver.find_element(By.ID, "alert-state").text
            driver.save_screenshot(str(shots / "alert.png"))
            with pytest.raises(NoAlertPresentException):
                driver.switch_to.alert.text  # noqa: B018 - no dialog was opened by anything on the page
            assert console_errors(driver) == []

            # the next card that goes out for this alert says who is on it
            # the next card that goes out for this alert says who is on it (chat cards fold
            # brackets to full width: "wang.responder （web）")
            _wait(
                lambda: _card_with(dingtalk, f"已由 {RESPONDER}", "确认处理"), 150, "the next card's ack line"
            )
            assert _card_with(dingtalk, alert_url), "cards link to the alert's page (public_url)"

            # a viewer may look but not act
            driver.delete_all_cookies()
            login(driver, base, VIEWER, VIEWER_PW)
            driver.get(alert_url)
            assert driver.find_elements(By.ID, "viewer-note")
            before = len(driver.find_elements(By.CSS_SELECTOR, "#audit li"))
            forms = driver.find_elements(By.ID, "form-resolve")
            if forms:
                forms[0].find_element(By.TAG_NAME, "button").click()
                assert "不能" in wait_for(driver, "message").text
                refused = console_errors(driver)  # the refusal itself is the one error expected
                assert refused and all("403" in e and "/resolve" in e for e in refused), refused
                driver.get(alert_url)
                assert len(driver.find_elements(By.CSS_SELECTOR, "#audit li")) == before
            assert console_errors(driver) == []
    finally:
        daemon.send_signal(signal.SIGINT)
        code = daemon.wait(60)
        dingtalk.close()
    text = log.read_text(encoding="utf-8")
    assert code == 0, text[-3000:]
    assert "Traceback" not in text, text[-3000:]
    docs = ROOT / "docs" / "img"
    if os.environ.get("SENTINEL_UPDATE_DOC_IMAGES"):
        docs.mkdir(exist_ok=True)
        shutil.copy(shots / "overview.png", docs / "console-overview.png")
        shutil.copy(shots / "alert.png", docs / "console-alert.png")


def _up(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _card_with(service: FakeDingTalk, *texts: str) -> bool:
    with service.lock:
        bodies = [json.dumps(a.body, ensure_ascii=False) for a in service.arrivals]
    return any(all(t in body for t in texts) for body in bodies)


async def test_a_viewer_cannot_acknowledge(site: Site, tmp_path: Path) -> None:
    def browse() -> tuple[str, list[str]]:
        from selenium.webdriver.common.by import By

        with chromium(tmp_path / "profile") as driver:
            login(driver, site.url, "li.viewer", PASSWORDS["li.viewer"])
            driver.get(f"{site.url}/alerts/1")
            driver.find_element(By.ID, "ack").click()
            return wait_for(driver, "message").text, console_errors(driver)

    message, _ = await asyncio.to_thread(browse)
    assert "不能" in message
    assert (await site.store.get_alert(1)).acked_by is None  # type: ignore[union-attr]


async def test_hostile_text_renders_inert(site: Site, tmp_path: Path) -> None:
    def browse() -> dict[str, Any]:
        from selenium.common.exceptions import NoAlertPresentException
        from selenium.webdriver.common.by import By

        with chromium(tmp_path / "profile") as driver:
            login(driver, site.url, "li.viewer", PASSWORDS["li.viewer"])
            driver.get(f"{site.url}/alerts/1")
            wait_for(driver, "posts")
            time.sleep(0.5)  # an injected handler would have run by now
            try:
                dialog: str | None = driver.switch_to.alert.text
            except NoAlertPresentException:
                dialog = None
            posts = driver.find_element(By.ID, "posts")
            return {
                "dialog": dialog,
                "injected": driver.find_elements(By.ID, "injected"),
                "scripts_in_posts": posts.find_elements(By.TAG_NAME, "script"),
                "images_in_posts": posts.find_elements(By.TAG_NAME, "img"),
                "hrefs": [a.get_attribute("href") for a in driver.find_elements(By.TAG_NAME, "a")],
                "text": driver.find_element(By.TAG_NAME, "body").text,
                "source": driver.page_source,
                "errors": console_errors(driver),
            }

    seen = await asyncio.to_thread(browse)
    assert seen["dialog"] is None
    assert seen["injected"] == [] and seen["scripts_in_posts"] == [] and seen["images_in_posts"] == []
    assert not [h for h in seen["hrefs"] if h and h.lower().startswith("javascript:")]
    assert BIDI not in seen["source"]
    assert "script" in seen["text"] and "大V博主" in seen["text"]  # shown, as text
    assert seen["errors"] == []


def test_a_broken_page_would_be_caught(tmp_path: Path) -> None:
    """The console-error check can fail: a page with a script error and a blocked load is seen."""
    page = tmp_path / "broken.html"
    page.write_text(
        '<!doctype html><meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        'script-src \'unsafe-inline\'"><img src="https://example.invalid/x.png">'
        "<script>console.error('boom'); undefinedFunction();</script>",
        encoding="utf-8",
    )
    with chromium(tmp_path / "profile") as driver:
        driver.get(page.resolve().as_uri())
        errors = console_errors(driver)
    assert any("boom" in e for e in errors) and any("undefinedFunction" in e for e in errors)
