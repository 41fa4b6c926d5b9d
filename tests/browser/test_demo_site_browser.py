"""The demo landing site in a real browser: a new user lands with UTMs, moves to the second page, and watches
their journey form — /collect/ stored the touch, the Calendly link carries the UTMs and the visitor id, and the
page's link opens their person page. All under the strict CSP (no violation, no inline script)."""

from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import Permission, User

from journeys.models import Touch
from tests.browser.waiting import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "browser-pw-123"


@pytest.fixture
def demo(live_server, settings):
    from attribution.services import defaults_install

    defaults_install()  # transactional tests truncate tables, seeded rules included
    settings.SOURCEBOOK_DEMO_SITE = True
    settings.SOURCEBOOK_SITE_ORIGINS = [live_server.url.lower()]
    user = User.objects.create_user("marketing", password=PASSWORD)
    user.user_permissions.add(Permission.objects.get(codename="view_dashboard"))
    return live_server.url


def test_a_visitor_watches_their_journey_form_on_the_demo_site(browser, demo, shot):
    context = browser.new_context(viewport={"width": 390, "height": 844})  # a phone
    page = context.new_page()
    problems = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" and "favicon" not in m.text else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.add_init_script("document.addEventListener('securitypolicyviolation', e => "
                         "console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI))")
    page.route("https://calendly.com/**", lambda route: route.abort())  # nothing leaves the machine
    page.goto(f"{demo}/demo-site/?utm_source=linkedin&utm_medium=paid_social&utm_campaign=spring_launch_202606")
    vid = page.wait_for_function("window.sourcebook && sourcebook.visitorId()").json_value()
    landed = wait_for(lambda: Touch.objects.filter(visitor_id=vid).first())
    assert (landed.kind, landed.channel, landed.source, landed.landing_path) == (
        "session", "Paid Social", "linkedin", "/demo-site/")

    page.click("#next")
    page.wait_for_url("**/demo-site/pricing/")
    page.wait_for_function("document.getElementById('book').href.indexOf('utm_term') > 0")
    book = {k: v[0] for k, v in parse_qs(urlsplit(page.get_attribute("#book", "href")).query).items()}
    assert book == {"utm_source": "linkedin", "utm_medium": "paid_social", "utm_campaign": "spring_launch_202606",
                    "utm_term": vid}
    page.wait_for_selector("#journey-link-box:not([hidden])")
    assert page.inner_text("#visitor-id") == vid
    shot(page, "demo-site-pricing")

    page.click("#journey-link")  # not logged in yet: the login page, then the person page
    page.get_by_label("Username").fill("marketing")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/dashboard/people/?visitor_id=*")
    timeline = page.locator("#timeline").inner_text()
    assert "Paid Social" in timeline and "/demo-site/" in timeline and "spring_launch_202606" in timeline
    assert page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth + 1")  # fits a phone
    shot(page, "person-page-phone")
    assert problems == []
    context.close()
