"""The (direct) backlog and hygiene in a real browser: assignment previews the channel and the count, then moves
the bookings (with htmx and without JavaScript); "They said" assigns every booking of one answer; both pages fit a
390 px phone (tables scroll inside their box, not the page)."""

import pytest

from attribution.models import ManualAttribution
from bookings.models import Booking
from tests.browser.pages import demo_site, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def site(live_server):
    url = demo_site(live_server)
    # A very long untagged value and answer: the phone test needs something wide to fit.
    Booking.objects.filter(channel="Direct").order_by("-booked_at").filter(
        pk=Booking.objects.filter(channel="Direct").order_by("-booked_at").values("pk")[:1]).update(
        email="a.very.long.address.that.does.not.wrap.nicely@subdomain.example-company-with-a-long-name.com")
    return url


def open_page(browser, site, *, width=1280, javascript=True):
    context = browser.new_context(viewport={"width": width, "height": 900}, java_script_enabled=javascript)
    page = context.new_page()
    problems = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" and "favicon" not in m.text else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    log_in(page, site, "marketing")
    page.problems = problems
    return page


def direct_ids(page) -> list[int]:
    return [int(v) for v in page.locator('#backlog input[name="booking"]').evaluate_all("els => els.map(e => e.value)")]


@pytest.mark.parametrize("javascript", [True, False], ids=["htmx", "no-javascript"])
def test_choose_source_and_channel_preview_the_count_confirm_and_the_bookings_leave(browser, site, shot, javascript):
    page = open_page(browser, site, javascript=javascript)
    page.goto(f"{site}/dashboard/direct/?range=all")
    if javascript:
        page.evaluate("window.__notReloaded = true")
    total = int(page.locator("#backlog-count").inner_text().split()[0].replace(",", ""))
    chosen = direct_ids(page)[:2]
    for booking_id in chosen:
        page.locator(f'#backlog input[name="booking"][value="{booking_id}"]').check()
    # Chosen from lists: the source from the known sources (datalist), the channel from the rules' channels.
    sources = page.locator("#source-choices option").evaluate_all("els => els.map(e => e.value)")
    assert "newsletter" in sources and "website" not in sources  # a banned value is never offered
    page.get_by_label("Source to assign").fill("newsletter")
    page.locator("#backlog-card").get_by_label("Channel to assign").select_option("Email")
    page.get_by_role("button", name="Preview assignment").click()
    page.locator("#preview-result").wait_for()
    assert page.locator("#preview-count").inner_text() == "2" and page.locator("#preview-channel").inner_text() == "Email"
    assert Booking.objects.filter(pk__in=chosen, channel="Direct").count() == 2  # the preview moved nothing
    shot(page, f"backlog-preview-{'htmx' if javascript else 'nojs'}")
    page.get_by_role("button", name="Confirm: move 2 bookings").click()
    page.locator(".messages", has_text="2 bookings attributed to newsletter (Email)").wait_for()
    assert set(Booking.objects.filter(pk__in=chosen).values_list("channel", flat=True)) == {"Email"}
    assert not set(chosen) & set(direct_ids(page))
    assert int(page.locator("#backlog-count").inner_text().split()[0].replace(",", "")) == total - 2
    if javascript:
        assert page.evaluate("window.__notReloaded") is True  # the card swapped, the page stayed
    assert page.problems == []


def test_they_said_assigns_every_booking_of_one_answer(browser, site, shot):
    page = open_page(browser, site)
    page.goto(f"{site}/dashboard/direct/?range=all")
    linkedin = list(Booking.objects.filter(channel="Direct", rescheduled=False, self_reported_source="linkedin")
                    .values_list("pk", flat=True))
    assert linkedin, "seed_demo gives some untagged bookings whose people said LinkedIn"
    row = page.locator('#said tr[data-said="linkedin"]')
    assert int(row.locator("td.num").inner_text()) == len(linkedin)
    assert row.get_by_label("Source for the answer linkedin").input_value() == "linkedin"  # a known source: prefilled
    row.get_by_label("Channel for the answer linkedin").select_option("Paid Social")
    row.get_by_role("button", name="Preview").click()
    page.locator("#preview-result").wait_for()
    assert int(page.locator("#preview-count").inner_text()) == len(linkedin)
    assert page.locator("#preview-channel").inner_text() == "Paid Social"
    assert "said “linkedin”" in page.locator("#preview-selection").inner_text()
    shot(page, "backlog-they-said-preview")
    page.locator("#confirm").click()
    page.locator(".messages", has_text="attributed to linkedin (Paid Social)").wait_for()
    assert set(Booking.objects.filter(pk__in=linkedin).values_list("channel", "source")) == {("Paid Social", "linkedin")}
    assert page.locator('#said tr[data-said="linkedin"]').count() == 0  # the out-of-band "They said" card followed
    assert ManualAttribution.objects.filter(booking__in=linkedin).count() == len(linkedin)  # each one audited
    page.locator("#assign-history").get_by_role("button", name=f"Revert all {len(linkedin)}").click()
    page.wait_for_load_state()
    assert Booking.objects.filter(pk__in=linkedin, channel="Direct").count() == len(linkedin)
    assert page.problems == []


def test_a_channel_typo_is_an_error_next_to_the_field(browser, site):
    page = open_page(browser, site)
    page.goto(f"{site}/dashboard/hygiene/")
    row = page.locator('#unassigned tr[data-source="partnerportal"]')
    row.get_by_label("Channel for partnerportal").fill("referal")
    row.get_by_role("button", name="Add rule").click()
    page.wait_for_load_state()
    error = page.locator('#unassigned tr[data-source="partnerportal"] #rule-error')
    assert "Did you mean “Referral”?" in error.inner_text()
    assert page.locator('#unassigned tr[data-source="partnerportal"]').count() == 1  # nothing moved


@pytest.mark.parametrize("path", ["/dashboard/direct/?range=all", "/dashboard/hygiene/"])
def test_both_pages_fit_a_390px_phone(browser, site, shot, path):
    page = open_page(browser, site, width=390)
    page.goto(f"{site}{path}")
    page.wait_for_load_state("load")
    fits = "document.scrollingElement.scrollWidth <= window.innerWidth"
    assert page.evaluate(fits), page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
    # The wide tables scroll inside their own box instead.
    boxes = page.locator(".table-scroll").evaluate_all("els => els.map(e => getComputedStyle(e).overflowX)")
    assert boxes and set(boxes) == {"auto"}
    if "direct" in path:  # the preview too
        page.locator('#backlog input[name="booking"]').first.check()
        page.get_by_label("Source to assign").fill("newsletter")
        page.get_by_role("button", name="Preview assignment").click()
        page.locator("#preview-result").wait_for()
        assert page.evaluate(fits)
    shot(page, "phone-" + path.strip("/").split("/")[1].split("?")[0])
