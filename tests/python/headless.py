"""What the browser tests share (check_study_browser.py, check_board_browser.py): the skip
convention (exit 77, the reason printed) and a headless Chromium driven through Selenium."""
import os
import sys

SKIP = 77
CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


def skip(why):
    print("skipped:", why)
    sys.exit(SKIP)


def require_chromium():
    for exe in (CHROMIUM, DRIVER):
        if not os.access(exe, os.X_OK):
            skip(f"{exe} is missing (apt install chromium chromium-driver)")


def browser(profile, size="1400,900"):
    """A headless Chromium with its own profile folder, nothing fetched in the background."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    o = webdriver.ChromeOptions()
    o.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
              "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
              f"--window-size={size}", f"--user-data-dir={profile}"):
        o.add_argument(a)
    return webdriver.Chrome(service=Service(DRIVER), options=o)
