"""Driving Debian's chromium (through its chromedriver) for the console's tests, headless."""

import shutil
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")

needs_chromium = pytest.mark.skipif(
    not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
    reason="no chromium and chromium-driver at /usr/bin (apt-get install chromium chromium-driver; CI installs them)",
)


def start_chromium(download_dir: Path) -> object:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--window-size=1280,1000",
        "--no-sandbox",  # (CI runs as root, where chromium's sandbox cannot start)
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--lang=en-GB",
    ):
        options.add_argument(argument)
    options.add_experimental_option("prefs", {"download.default_directory": str(download_dir)})
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)


def have_chromium() -> bool:
    return CHROMIUM.exists() and CHROMEDRIVER.exists() and shutil.which(str(CHROMIUM)) is not None
