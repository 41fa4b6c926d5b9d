"""The README's screenshots, taken from the demo data in headless Chromium: `make screenshots` writes them to
docs/screenshots/ (SOURCEBOOK_SCREENSHOTS_DIR); in `make test` they go to test-artifacts/readme/."""

import os
from pathlib import Path

import pytest

from tests.browser.conftest import ARTIFACTS
from tests.browser.pages import login
from tests.browser.test_dashboard_browser import money_site  # noqa: F401  (fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SHOTS = {
    "dashboard.png": "/dashboard/?dim=campaign&range=90d&compare=previous",
    "dashboard-channels.png": "/dashboard/?range=90d",
    "backlog.png": "/dashboard/direct/?range=90d",
}


def test_readme_screenshots(browser, money_site):  # noqa: F811
    site = money_site  # the demo with deals, as `make run` shows it
    out = Path(os.environ.get("SOURCEBOOK_SCREENSHOTS_DIR") or ARTIFACTS / "readme")
    out.mkdir(parents=True, exist_ok=True)
    page = login(browser, site, "marketing", width=1280)
    for name, url in SHOTS.items():
        page.goto(f"{site}{url}")
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(out / name), full_page=False)
        header = (out / name).read_bytes()[:24]
        assert header.startswith(b"\x89PNG") and int.from_bytes(header[16:20], "big") == 1280, name
