"""The page at ``/`` in a real headless Chromium against the real stack: a photo in, a map out.

Screenshots are kept in ``$GEOPIN_ARTIFACTS_DIR`` (default tests/artifacts/, git-ignored) for
people to look at; the assertions read the page's text and elements.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.wait import WebDriverWait

from tests.support.factories import place_location
from tests.support.stack import REPO, running_stack

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ARTIFACTS = Path(os.environ.get("GEOPIN_ARTIFACTS_DIR", REPO / "tests" / "artifacts"))
DESKTOP = {"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": False}
PHONE = {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True}


@pytest.fixture(scope="module")
def gateway_url(
    redis_module_db: str,
    base_env: dict[str, str],
    reference_manifest: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    env = {**base_env, "GEOPIN_REDIS__URL": redis_module_db}
    with running_stack(env, tmp_path_factory.mktemp("web-stack")) as url:
        yield url


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",  # root in CI
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",  # the machine's network is closed
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'chromium'}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def _screenshot(driver: WebDriver, name: str, viewport: dict[str, object] = DESKTOP) -> None:
    """The whole page at this viewport's width: the viewport is stretched to the page's height."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", viewport)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {**viewport, "height": height})
    # Two frames: the page reacts to the resize (the map refits) before the picture is taken.
    driver.execute_async_script(
        "const done = arguments[0];"
        "requestAnimationFrame(() => requestAnimationFrame(() => done()));"
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / name))


def _locate(driver: WebDriver, url: str, photo: Path) -> None:
    driver.get(url + "/")
    driver.find_element(By.ID, "photo").send_keys(str(photo))
    driver.find_element(By.ID, "submit").click()


def _ended(driver: WebDriver) -> bool:
    return str(driver.find_element(By.ID, "status").text).startswith("Located")


def _thumbnails_loaded(driver: WebDriver) -> bool:
    return bool(
        driver.execute_script(
            "const imgs = [...document.querySelectorAll('#matches img')];"
            "return imgs.length > 0 && imgs.every(i => i.complete && i.naturalWidth > 0);"
        )
    )


def test_a_dropped_reference_photo_is_shown_located_with_its_matches(
    browser: WebDriver, gateway_url: str, reference_manifest: Path
) -> None:
    _locate(browser, gateway_url, reference_manifest.parent / "place-007.jpg")
    wait = WebDriverWait(browser, 60)
    wait.until(lambda d: _ended(d) or d.find_element(By.ID, "error").is_displayed())
    assert not browser.find_element(By.ID, "error").is_displayed(), browser.find_element(
        By.ID, "error"
    ).text
    wait.until(_thumbnails_loaded)

    lat, lon = place_location(7)
    assert browser.find_element(By.ID, "estimate-coords").text == f"{lat:.5f}, {lon:.5f}"
    assert "confidence" in browser.find_element(By.ID, "estimate").text
    matches = browser.find_elements(By.CSS_SELECTOR, "#matches li")
    assert len(matches) == 10
    assert matches[0].get_attribute("data-id") == "place-007"
    assert "0 m from the estimate" in matches[0].text
    assert len({m.get_attribute("data-id") for m in matches}) == 10
    assert browser.find_element(By.ID, "status").text == "Located: 10 matches."
    pins = browser.find_elements(By.CSS_SELECTOR, "#map .match-pin")
    assert len(pins) == 10
    assert browser.find_elements(By.CSS_SELECTOR, "#map .estimate-area")
    assert browser.find_element(By.CSS_SELECTOR, ".leaflet-control-scale").text
    assert not browser.find_element(By.ID, "error").is_displayed()
    _screenshot(browser, "web-page-desktop.png")
    _screenshot(browser, "web-page-phone.png", PHONE)
    assert browser.execute_script("return document.documentElement.scrollWidth") <= PHONE["width"]


def test_a_file_that_is_not_a_photo_is_refused_with_a_clear_error(
    browser: WebDriver, gateway_url: str, tmp_path: Path
) -> None:
    fake = tmp_path / "holiday.jpg"
    fake.write_bytes(b"these bytes are not a JPEG")
    _locate(browser, gateway_url, fake)
    error = browser.find_element(By.ID, "error")
    WebDriverWait(browser, 20).until(lambda _: error.is_displayed())
    assert error.text.startswith("The photo was refused:")
    assert error.get_attribute("role") == "alert"
    assert not browser.find_element(By.ID, "result").is_displayed()
    _screenshot(browser, "web-page-refused.png")
