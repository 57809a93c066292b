"""Driving Debian's chromium (through its chromedriver) for the console's tests, headless."""

from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")

needs_chromium = pytest.mark.skipif(
    not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
    reason="no chromium and chromium-driver at /usr/bin (apt-get install chromium chromium-driver; CI installs them)",
)


def start_chromium(download_dir: Path, javascript: bool = True, width: int = 1280) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        f"--window-size={max(width, 600)},1000",
        "--no-sandbox",  # (CI runs as root, where chromium's sandbox cannot start)
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--lang=en-GB",
    ):
        options.add_argument(argument)
    prefs: dict[str, object] = {"download.default_directory": str(download_dir)}
    if not javascript:
        prefs["profile.managed_default_content_settings.javascript"] = 2  # the pages' scripts do not run
    options.add_experimental_option("prefs", prefs)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    if width < 600:  # (narrower than a window may be: the screen of a phone, as its devtools emulate it)
        driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": True},
        )
    return driver
