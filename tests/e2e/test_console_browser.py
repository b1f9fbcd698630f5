"""The operator console in a real browser: Debian's Chromium, driven by Selenium through chromedriver.

One real ``sweeper web`` process (console configured from SWEEPER_WEB__*, Redis as broker) on a devnet
site; one browser session signs in as the viewer (who sees the FAILED sweep but has no button, and whose
forged POST is refused), then as the operator, who retries the FAILED sweep and flips the kill switch.
Set SWEEPER_CONSOLE_SCREENSHOTS=docs to refresh docs/console-*.png.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from sweeper.ledger.controls import SpendControls
from sweeper.models import SweepState
from tasks.processes import ProcessGroup, free_port
from tests.e2e.helpers import USDT, Site, fast_devnet, flushed_redis
from tests.fixtures.db import USDT as USDT_TOKEN

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)),
        reason="Chromium or chromedriver missing: `bash .ci/services` installs them",
    ),
]
REDIS_DB = 12
OPERATOR = ("ops", "console-operator-password-e2e")
VIEWER = ("auditor", "console-viewer-password-e2e")


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,1400",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    driver.implicitly_wait(5)
    try:
        yield driver
    finally:
        driver.quit()


def shown(driver: WebDriver, element_id: str, wanted: str) -> str:
    """The element's text once it holds ``wanted``, or what it last held after 5 s. A click that submits a
    form returns before the next page replaces this one, so the element read first may be the old page's
    (it then holds the old text, or is gone: stale)."""
    seen = [""]

    def holds(d: WebDriver) -> bool:
        seen[0] = d.find_element(By.ID, element_id).text
        return wanted in seen[0]

    with contextlib.suppress(TimeoutException):  # the caller's assertion shows what it held
        WebDriverWait(driver, 5, ignored_exceptions=(StaleElementReferenceException,)).until(holds)
    return seen[0]


def sign_in(driver: WebDriver, base: str, user: tuple[str, str]) -> None:
    driver.get(f"{base}/console")
    driver.find_element(By.ID, "user").send_keys(user[0])
    driver.find_element(By.ID, "password").send_keys(user[1])
    driver.find_element(By.ID, "login").click()
    assert driver.find_element(By.ID, "who").text.startswith(user[0])


def shoot(driver: WebDriver, tmp: Path, name: str) -> None:
    target = Path(os.environ.get("SWEEPER_CONSOLE_SCREENSHOTS", "") or tmp)
    assert driver.save_screenshot(str(target / f"console-{name}.png"))


def test_an_operator_retries_a_failed_sweep_and_flips_the_kill_switch_a_viewer_cannot(
    tmp_path: Path, browser: WebDriver
) -> None:
    with flushed_redis(REDIS_DB) as broker, fast_devnet() as devnet:
        site = Site.create(devnet, tmp_path)
        failed_at, skipped_at, done_at = site.deposits(3)
        ledger = site.ledger
        failed = ledger.open_sweep(failed_at, USDT_TOKEN, 120 * USDT, site.hot)
        skipped = ledger.open_sweep(skipped_at, USDT_TOKEN, 3 * USDT, site.hot)
        done = ledger.open_sweep(done_at, USDT_TOKEN, 250 * USDT, site.hot)
        assert failed and skipped and done
        assert ledger.transition(failed.id, SweepState.DETECTED, SweepState.FAILED, reason="onchain_revert")
        assert ledger.transition(skipped.id, SweepState.DETECTED, SweepState.SKIPPED, reason="fee_cap")
        assert ledger.transition(done.id, SweepState.DETECTED, SweepState.CONFIRMED, add_cost=3_250_000)
        env = site.env(
            broker,
            order="itrx,tronzap",
            extra={
                "SWEEPER_WEB__OPERATOR": ":".join(OPERATOR),
                "SWEEPER_WEB__VIEWER": ":".join(VIEWER),
                "SWEEPER_WEB__SESSION_SECRET": "e2e-console-session-secret-0123456789abcdef",
                "SWEEPER_WEB__PROBE_INTERVAL_SECONDS": "600",  # one probe of the balances, at start
            },
        )
        group = ProcessGroup(env=env, workdir=tmp_path)
        try:
            port = free_port()
            group.web(port)
            base = f"http://127.0.0.1:{port}"

            sign_in(browser, base, VIEWER)
            assert browser.find_element(By.ID, "read-only").is_displayed()
            assert "onchain_revert" in browser.find_element(By.ID, "sweeps-failed").text
            browser.implicitly_wait(0)  # absent elements: no waiting for them to appear
            assert not browser.find_elements(By.ID, f"retry-{failed.id}")
            assert not browser.find_elements(By.ID, "pause")
            browser.implicitly_wait(5)
            # The viewer's own session and CSRF token, posted by hand: refused all the same.
            browser.execute_script(
                "const f = document.createElement('form'); f.method = 'post'; f.action = '/console/pause';"
                "const t = document.querySelector('input[name=csrf]').cloneNode(); f.appendChild(t);"
                "document.body.appendChild(f); f.submit();"
            )
            assert "only the operator may act" in browser.find_element(By.TAG_NAME, "body").text
            assert not SpendControls(ledger).paused()
            browser.get(f"{base}/console")
            browser.find_element(By.ID, "logout").click()

            sign_in(browser, base, OPERATOR)
            shoot(browser, tmp_path, "operator")
            browser.find_element(By.ID, f"retry-{failed.id}").click()
            assert "re-opened as DETECTED (attempt 1)" in shown(browser, "done", "re-opened")
            reopened = ledger.get_sweep(failed.id)
            assert reopened is not None and (reopened.state, reopened.attempt) == (SweepState.DETECTED, 1)

            browser.find_element(By.ID, "pause-reason").send_keys("browser test")
            browser.find_element(By.ID, "pause").click()
            assert shown(browser, "spending", "PAUSED") == "PAUSED"
            assert SpendControls(ledger).pause_state().note == "browser test"
            shoot(browser, tmp_path, "paused")
            browser.find_element(By.ID, "resume").click()
            assert shown(browser, "spending", "running") == "running"
            assert not SpendControls(ledger).paused()
        finally:
            group.stop()
            site.close()
