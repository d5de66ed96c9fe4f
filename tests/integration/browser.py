"""Headless Chromium (Debian's ``chromium`` and ``chromium-driver``) driven by Selenium, for the
dashboard's browser test and its screenshots (bench/dashboard.py). Nothing is downloaded: the
driver is /usr/bin/chromedriver, the browser /usr/bin/chromium, the profile a fresh temp dir."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from typing import Any

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = os.environ.get("HAPLANE_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("HAPLANE_CHROMEDRIVER", "/usr/bin/chromedriver")
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars", "--force-device-scale-factor=1")


@contextlib.contextmanager
def chromium(width: int = 1360, height: int = 900) -> Iterator[webdriver.Chrome]:
    profile = tempfile.mkdtemp(prefix="haplane-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in FLAGS:
        opts.add_argument(flag)
    opts.add_argument(f"--user-data-dir={profile}")
    opts.add_argument(f"--window-size={width},{height}")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(20)
    driver.set_script_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def sign_in(driver: webdriver.Chrome, url: str, token: str) -> None:
    """Open the dashboard at ``url`` and sign in with ``token`` (unless this tab already did at
    that origin: the page then signs in with the token it kept)."""
    driver.get(url)
    wait_for(driver, lambda d: _visible(d, "token") or _visible(d, "app"), 15, "the login form")
    field = _visible(driver, "token")
    if field is not None:
        field.send_keys(token)
        driver.find_element("id", "login-button").click()


def _visible(driver: webdriver.Chrome, element_id: str) -> Any:
    els = driver.find_elements("id", element_id)
    return els[0] if els and els[0].is_displayed() else None


def wait_for(driver: webdriver.Chrome, cond: Callable[[webdriver.Chrome], Any], timeout: float, what: str) -> Any:
    """Wait until ``cond(driver)`` is truthy (checked every 50 ms); fail naming ``what``."""
    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(cond, f"timed out waiting for {what}")


def replica_roles(driver: webdriver.Chrome) -> dict[str, str]:
    """The replica table as the page shows it: name -> role."""
    return driver.execute_script(
        "return Object.fromEntries([...document.querySelectorAll('#replica-rows tr[data-replica]')]"
        ".map(tr => [tr.dataset.replica, tr.dataset.role]))")


def shown_leader(driver: webdriver.Chrome) -> str | None:
    """The one replica whose row carries the leader badge (None: no row does, or several). Read
    in one script, so that a re-render of the table cannot come between the look-ups."""
    names = driver.execute_script(
        "return [...document.querySelectorAll(\"#replica-rows tr[data-role='leader']\")]"
        ".filter(tr => tr.querySelector('.badge.leader')).map(tr => tr.dataset.replica)")
    return names[0] if len(names) == 1 else None


def shown_pods(driver: webdriver.Chrome) -> set[str]:
    """``namespace/name`` of every pod row."""
    return set(driver.execute_script(
        "return [...document.querySelectorAll('#pod-rows tr[data-pod]')].map(tr => tr.dataset.pod)"))
