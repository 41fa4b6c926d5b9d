"""axe-core (npm, pinned in package.json) on every dashboard page and the sales bookings list, at a desktop
width (1440 px) and a phone's (390 px): no serious or critical violation. axe runs through Playwright's
evaluate, which the page's Content-Security-Policy does not apply to (the pages keep their CSP)."""

from pathlib import Path

import pytest

from tests.browser.pages import login
from tests.browser.test_dashboard_browser import money_site, site  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
PAGES = {
    "marketing": ["/dashboard/?range=90d", "/dashboard/?dim=campaign&range=last_month&compare=previous",
                  "/dashboard/?range=90d&dim=channel&dim2=campaign", "/dashboard/?range=90d&channel=Paid+Social",
                  "/dashboard/direct/", "/dashboard/hygiene/", "/dashboard/links/", "/dashboard/people/"],
    "sales": ["/admin/bookings/booking/"],
}


def axe_violations(page) -> list[dict]:
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `make assets` (npm ci installs axe-core)", pytrace=False)
    page.evaluate(AXE.read_text())
    result = page.evaluate("""async () => (await axe.run(document, {resultTypes: ['violations']})).violations
        .filter(v => ['serious', 'critical'].includes(v.impact))
        .map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))""")
    return result


@pytest.mark.parametrize("width", [1440, 390])
def test_no_serious_or_critical_accessibility_violations(browser, money_site, width):  # noqa: F811
    site = money_site  # the dashboard with its money columns
    found = {}
    for user, urls in PAGES.items():
        page = login(browser, site, user, width=width)
        for url in urls:
            page.goto(f"{site}{url}")
            assert page.title(), url
            violations = axe_violations(page)
            if violations:
                found[url] = violations
        page.close()
    summary = [f"{url}: {v['impact']} {v['id']} ({v['help']}) at {v['nodes']}" for url, vs in found.items() for v in vs]
    assert summary == [], "\n".join(summary)


def test_skip_link_and_unique_link_names(browser, site):  # noqa: F811
    page = login(browser, site, "marketing", width=1440)
    page.goto(f"{site}/dashboard/?range=90d")
    page.keyboard.press("Tab")
    skip = page.locator(":focus")
    assert skip.inner_text() == "Skip to content"
    skip.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    names = page.evaluate("""() => [...document.querySelectorAll('#report a[href*="export="]')]
        .map(a => a.getAttribute('aria-label') || a.innerText)""")
    assert len(names) == 3 and len(set(names)) == 3, names
