"""htmx in a real browser: the backlog assignment and the dashboard filters swap a part of the page, never reload it."""

import pytest

from bookings.models import Booking
from tests.browser.pages import demo_site, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def site(live_server):
    return demo_site(live_server, count=60)


@pytest.fixture
def page(browser, site):
    page = browser.new_page()
    problems = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" and "favicon" not in m.text else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.add_init_script("document.addEventListener('securitypolicyviolation', e => "
                         "console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI))")
    log_in(page, site, "marketing")
    yield page
    assert problems == []  # no CSP violation, no eval, no script error


def test_assigning_a_backlog_booking_swaps_the_backlog_without_a_reload(page, site):
    page.goto(f"{site}/dashboard/direct/?range=all")
    page.wait_for_load_state("load")
    page.evaluate("window.__notReloaded = true")
    rows_before = page.locator('#backlog input[name="booking"]').count()
    first = page.locator('#backlog input[name="booking"]').first
    booking_id = int(first.get_attribute("value"))
    first.check()
    page.get_by_label("Source to assign").fill("newsletter")
    page.get_by_label("Medium to assign").fill("email")
    with page.expect_response(lambda r: r.request.method == "POST" and "/dashboard/direct/" in r.url) as answer:
        page.get_by_role("button", name="Preview assignment").click()
    assert answer.value.status == 200 and answer.value.request.headers.get("hx-request") == "true"
    assert page.locator("#preview-channel").inner_text() == "Email"  # the preview swapped in: nothing moved yet
    assert Booking.objects.get(pk=booking_id).channel == "Direct"
    page.get_by_role("button", name="Confirm: move 1 booking").click()
    page.locator("#backlog-card .messages", has_text="1 booking attributed to newsletter").wait_for()
    assert page.evaluate("window.__notReloaded") is True  # the page survived: only the card was swapped
    assert page.locator(f'#backlog input[name="booking"][value="{booking_id}"]').count() == 0
    assert page.locator('#backlog input[name="booking"]').count() in (rows_before - 1, 50)  # a next page may refill
    assert "newsletter" in page.locator("#assign-history").inner_text()  # the out-of-band part followed
    assert Booking.objects.get(pk=booking_id).source == "newsletter"
    # The swapped-in form works again, still without a reload.
    page.locator('#backlog input[name="booking"]').first.check()
    page.get_by_label("Source to assign").fill("podcast")
    page.get_by_role("button", name="Preview assignment").click()
    page.get_by_role("button", name="Confirm: move 1 booking").click()
    page.locator("#backlog-card .messages", has_text="attributed to podcast").wait_for()
    assert page.evaluate("window.__notReloaded") is True


def test_filtering_the_dashboard_swaps_the_report_and_pushes_the_url(page, site):
    page.goto(f"{site}/dashboard/?range=all")
    page.wait_for_load_state("load")
    page.evaluate("window.__notReloaded = true")
    total_all = int(page.locator("#table-total").inner_text().replace(",", ""))
    label_all = page.locator("#period-label").inner_text()
    page.get_by_label("Period").select_option("7d")
    page.get_by_label("Chart interval").select_option("week")
    with page.expect_response(lambda r: "/dashboard/?" in r.url and "range=7d" in r.url) as answer:
        page.get_by_role("button", name="Apply").click()
    assert answer.value.request.headers.get("hx-request") == "true"
    page.wait_for_url("**/dashboard/?*range=7d*")
    assert "interval=week" in page.url
    page.wait_for_function("document.getElementById('period-label').innerText !== %r" % label_all)
    assert page.evaluate("window.__notReloaded") is True
    assert int(page.locator("#table-total").inner_text().replace(",", "")) < total_all
    page.wait_for_function("!!Chart.getChart(document.getElementById('chart'))")  # the new chart is drawn
    # The pushed URL is a whole page of its own (a reload or a shared link).
    page.reload()
    page.wait_for_load_state("load")
    assert page.locator('select[name="range"]').input_value() == "7d"
    assert page.evaluate("window.__notReloaded") is None
