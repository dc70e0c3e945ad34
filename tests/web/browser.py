"""Headless Chromium driven by Selenium through Debian's chromedriver, for the console's tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM = Path("/usr/bin/chromium")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1280,1000",
)


def available() -> bool:
    return CHROMEDRIVER.exists() and CHROMIUM.exists()


@contextmanager
def chromium(profile: Path) -> Iterator[Any]:
    """A fresh browser (its own profile directory) whose console messages can be read."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ["SE_AVOID_STATS"] = "true"  # Selenium Manager: no telemetry, no network
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def console_errors(driver: Any) -> list[str]:
    """Console messages at SEVERE level since the last call (the log is drained on read)."""
    return [e["message"] for e in driver.get_log("browser") if e.get("level") == "SEVERE"]


def login(driver: Any, base: str, name: str, password: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(f"{base}/login")
    driver.find_element(By.NAME, "username").send_keys(name)
    driver.find_element(By.NAME, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "#login-form button[type=submit]").click()
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.wait import WebDriverWait

    # signed in once a page shows who is signed in (the cookie is set by then)
    WebDriverWait(driver, 20).until(expected_conditions.presence_of_element_located((By.ID, "whoami")))


def wait_for(driver: Any, element_id: str, within: float = 20) -> Any:
    """The element with that id, once the page that has it has loaded."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.wait import WebDriverWait

    return WebDriverWait(driver, within).until(
        expected_conditions.presence_of_element_located((By.ID, element_id))
    )


def artifacts(tmp_path: Path) -> Path:
    """Where screenshots go: $SENTINEL_TEST_ARTIFACTS if set, else the test's tmp dir."""
    where = Path(os.environ.get("SENTINEL_TEST_ARTIFACTS") or tmp_path / "artifacts")
    where.mkdir(parents=True, exist_ok=True)
    return where
