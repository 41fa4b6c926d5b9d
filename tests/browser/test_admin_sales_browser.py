"""Sales in the admin, in a real browser: the landing page after log-in, a list that fits 1440 px, the
suggestions of the campaign filter and the date range, all under the Content-Security-Policy."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.utils import timezone
from playwright.sync_api import expect

from bookings.tests.factories import BookingFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "browser-pw-123"


@pytest.fixture
def site(live_server):
    from attribution.services import defaults_install

    defaults_install()
    call_command("setup_roles", verbosity=0)
    now = timezone.now()
    for i in range(60):  # long, unbreakable values are what push a table sideways
        BookingFactory(email=f"someone.with.a.rather.long.address{i}@subsidiary.enterprise-customer-{i}.example.com",
                       name=f"Maximilian Alexander Featherstonehaugh-Wolfeschlegel {i}", channel="Paid Social",
                       source="linkedin", campaign=f"q4_enterprise_retargeting_lookalike_audience_{i:03}",
                       booked_at=now - timedelta(days=i), start_time=now - timedelta(days=i) + timedelta(days=3))
    user = User.objects.create_user("sales", password=PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name="Sales"))
    return live_server.url


def test_sales_lands_on_a_bookings_list_that_fits_1440_px(browser, site, shot):
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    problems = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" and "status of 404" not in m.text
            else None)  # a 404: the favicon
    page.add_init_script("document.addEventListener('securitypolicyviolation', e => "
                         "console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI))")
    page.goto(f"{site}/")  # the start page asks for a log-in, then sends sales to their list
    page.get_by_label("Username").fill("sales")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/admin/bookings/booking/")
    assert page.locator("#result_list tbody tr").count() == 50
    assert page.get_by_role("link", name="View site").get_attribute("href") == "/admin/bookings/booking/"
    headers = page.locator("#result_list thead th").all_inner_texts()
    assert [h.strip().lower() for h in headers[:9]] == ["email", "name", "status", "channel", "campaign", "booked",
                                                         "meeting", "no show", "hubspot state"]
    assert page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth")
    table = page.evaluate("[document.querySelector('#result_list').getBoundingClientRect().right,"
                          " document.querySelector('.changelist-form-container').getBoundingClientRect().right]")
    assert table[0] <= table[1] + 0.5  # the results table is not wider than its container
    shot(page, "admin-sales-1440")

    # The campaign box suggests values as you type (static script, JSON endpoint), then filters.
    box = page.get_by_label("Campaign, exactly")
    box.fill("lookalike_audience_04")
    expect(page.locator("#value-filter-campaign-values option")).to_have_count(10)  # 040–049
    box.fill("q4_enterprise_retargeting_lookalike_audience_042")
    box.press("Enter")
    page.wait_for_url("**campaign__exact=q4_enterprise_retargeting_lookalike_audience_042*")
    assert page.locator("#result_list tbody tr").count() == 1
    assert "1 booking" in page.locator("#result-count").inner_text()

    # The date range (django-admin-rangefilter) keeps the campaign filter.
    page.goto(f"{site}/admin/bookings/booking/")
    start = (timezone.localdate() - timedelta(days=9)).isoformat()
    page.locator('input[name="booked_at__range__gte"]').fill(start)
    page.locator("#booked-form input[type=submit]").click()
    page.wait_for_url("**booked_at__range__gte=*")
    assert page.locator("#result_list tbody tr").count() == 10
    page.wait_for_timeout(200)  # violation reports are dispatched asynchronously
    assert problems == []
