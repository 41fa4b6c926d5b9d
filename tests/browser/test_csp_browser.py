"""The Content-Security-Policy in a real browser: no violation, the chart, htmx, Swagger UI and the admin work."""

import pytest

from tests.browser.pages import PASSWORD, demo_site

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def site(live_server):
    return demo_site(live_server, count=40, users=(), superuser="boss")


def test_no_page_breaks_the_content_security_policy(browser, site):
    page = browser.new_page()
    problems = []
    page.on("console", lambda m: problems.append(f"{page.url}: {m.text}") if m.type == "error" and "favicon" not in m.text
            and "status of 404" not in m.text else None)
    page.on("pageerror", lambda e: problems.append(f"{page.url}: {e}"))
    page.add_init_script("document.addEventListener('securitypolicyviolation', e => "
                         "console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI))")
    page.goto(f"{site}/accounts/login/")
    page.get_by_label("Username").fill("boss")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()
    page.goto(f"{site}/dashboard/?range=90d")
    page.wait_for_load_state("load")
    assert page.evaluate("!!(window.Chart && Chart.getChart(document.getElementById('chart')))")  # the nonce'd script ran
    assert page.evaluate("!!window.htmx")
    page.get_by_label("Period").select_option("custom")  # behaviours.js replaced the inline onchange
    assert page.locator(".custom").get_attribute("hidden") is None
    for url in ("/dashboard/direct/", "/dashboard/hygiene/", "/dashboard/links/", "/admin/", "/admin/bookings/booking/"):
        page.goto(f"{site}{url}")
        page.wait_for_load_state("load")
        page.wait_for_timeout(200)  # violation reports are dispatched asynchronously
    page.goto(f"{site}/api/docs/")
    page.wait_for_selector(".swagger-ui .opblock", timeout=15000)
    assert problems == []
