"""The (direct) backlog as marketing uses it: it follows the dashboard's period, groups untagged bookings by what
people said, assigns after a preview (where they land, how many move), and refuses values the link builder would."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from attribution import selectors
from attribution.models import ChannelRule, ManualAttribution
from attribution.tests.conftest import T0, assign_confirmed
from bookings.models import Booking

pytestmark = pytest.mark.django_db
JUNE = {"range": "custom", "start": "2026-06-01", "end": "2026-06-30"}
JUNE_QUERY = "range=custom&start=2026-06-01&end=2026-06-30"


@pytest.fixture
def marketing(login_as):
    return login_as("mkt", group="Marketing")


@pytest.fixture
def said(book):
    """June: three untagged who said LinkedIn (spelled three ways), one ChatGPT, one no answer, one tagged;
    May: one untagged who said LinkedIn (outside June)."""
    for answer in ("LinkedIn", "linkedin", "I saw it on LinkedIn"):
        book(days=2, answer=answer)
    book(days=3, answer="ChatGPT", event_type="Intro call")
    book(days=4)
    book(days=5, utm={"utm_source": "google", "utm_medium": "cpc"}, answer="LinkedIn")
    book(days=-10, answer="LinkedIn")


def test_the_backlog_shows_the_dashboards_period_and_the_same_direct_count(marketing, said):
    page = marketing.get("/dashboard/direct/", JUNE)
    dashboard = marketing.get("/dashboard/", JUNE)
    assert page.context["total"] == dashboard.context["data"]["kpis"]["direct"] == 5
    html = page.content.decode()
    assert page.context["period"].label in html and "1 Jun 2026" in html
    assert html.count('name="booking"') == 5  # the May booking is outside the period
    everything = marketing.get("/dashboard/direct/", {"range": "all"})
    assert everything.context["total"] == 6 and everything.content.decode().count('name="booking"') == 6


def test_links_keep_the_period(marketing, said):
    html = marketing.get("/dashboard/direct/", JUNE).content.decode()
    query = JUNE_QUERY.replace("&", "&amp;")
    assert f'href="?{query}&amp;said=linkedin"' in html  # "They said" narrows within the period
    assert f'href="?{query}&amp;event_type=Intro+call&amp;month=2026-06"' in html
    narrowed = marketing.get(f"/dashboard/direct/?{JUNE_QUERY}&said=linkedin")
    assert narrowed.context["count"] == 3 and narrowed.content.decode().count('name="booking"') == 3


def test_they_said_groups_untagged_bookings_by_answer_most_first_no_answer_last(said):
    groups = selectors.direct_backlog_said(booked_after=T0, booked_before=T0 + timedelta(days=30))
    assert [(g["self_reported_source"], g["bookings"]) for g in groups] == [("linkedin", 3), ("chatgpt", 1), ("", 1)]


def test_a_month_that_cannot_be_read_is_an_error_next_to_its_field(marketing, said):
    response = marketing.get("/dashboard/direct/", {"range": "all", "month": "June"})
    html = response.content.decode()
    assert response.status_code == 200
    assert 'aria-invalid="true" aria-describedby="month-error"' in html
    assert '<span class="field-error" id="month-error">&#x27;June&#x27; is not a month (YYYY-MM)' in html
    assert html.count('name="booking"') == 6  # the list ignores the month it can't read


def test_a_month_narrows_the_period(marketing, said):
    may = marketing.get("/dashboard/direct/", {"range": "all", "month": "2026-05"})
    assert may.context["count"] == 1 and may.content.decode().count('name="booking"') == 1
    outside = marketing.get("/dashboard/direct/", {**JUNE, "month": "2026-05"})
    assert outside.context["count"] == 0 and "Nothing untagged here" in outside.content.decode()


def test_bulk_assign_by_answer_previews_then_moves_every_booking_of_the_period_with_that_answer(marketing, said):
    url = f"/dashboard/direct/?{JUNE_QUERY}"
    form = {"answer": "linkedin", "source": "linkedin", "channel": "Paid Social"}
    preview = marketing.post(url, form)
    html = preview.content.decode()
    assert preview.status_code == 200 and preview.context["preview"]["moving"] == 3
    assert 'id="preview-channel">Paid Social<' in html and 'id="preview-count">3<' in html
    assert Booking.objects.filter(channel="Direct").count() == 6  # nothing moved yet
    response = assign_confirmed(marketing, form, url=url, follow=True)
    assert "3 bookings attributed to linkedin (Paid Social)" in response.content.decode()
    moved = Booking.objects.filter(self_reported_source="linkedin", booked_at__month=6).exclude(source="google")
    assert {(b.channel, b.source, b.attributed_by) for b in moved} == {("Paid Social", "linkedin", "manual")}
    assert Booking.objects.filter(channel="Direct", self_reported_source="linkedin").count() == 1  # May's stays
    assert response.context["total"] == 2
    # One bulk item in the history, reverted as one.
    [item] = [i for i in response.context["history"] if i["batch"]]
    assert item["bookings"] == item["open"] == 3
    marketing.post(url, {"revert_batch": item["batch"]})
    assert Booking.objects.filter(channel="Direct").count() == 6
    assert ManualAttribution.objects.filter(reverted_at=None).count() == 0


def test_a_chosen_channel_picks_a_medium_the_rules_put_there(marketing, said):
    url = f"/dashboard/direct/?{JUNE_QUERY}"
    assign_confirmed(marketing, {"answer": "linkedin", "source": "linkedin", "channel": "Organic Social"}, url=url)
    assert set(Booking.objects.filter(attributed_by="manual").values_list("channel", flat=True)) == {"Organic Social"}


def test_a_confirm_applies_only_what_was_previewed(marketing, said):
    url = f"/dashboard/direct/?{JUNE_QUERY}"
    preview = marketing.post(url, {"answer": "linkedin", "source": "linkedin", "channel": "Paid Social"})
    changed = marketing.post(url, {"answer": "linkedin", "source": "facebook", "channel": "Paid Social", "confirm": "1",
                                   "previewed": preview.context["preview"]["signature"]})
    assert changed.context["preview"]["moving"] == 3 and Booking.objects.filter(attributed_by="manual").count() == 0


@pytest.mark.parametrize("form, field, message", [
    ({"source": "website"}, "source", "is a placeholder or our own brand"),
    ({"source": "sourcebook"}, "source", "is a placeholder or our own brand"),  # SOURCEBOOK_BRAND_NAMES
    ({"source": "lnkd.in"}, "source", "is an alias: use 'linkedin'"),
    ({"source": "linked in"}, "source", "must be one lowercase token"),
    ({"source": "linkedin", "medium": "test"}, "medium", "is a placeholder"),
    ({"source": "linkedin", "channel": "Paid Socal"}, "channel", "Did you mean “Paid Social”?"),
    ({"source": "linkedin", "channel": "Partners"}, "channel", "is not one of the channels"),
    ({"source": "newsletter", "channel": "Direct"}, "channel", "is not one of the channels"),
    ({"source": "linkedin", "medium": "social", "channel": "Paid Social"}, "channel", "lands in Organic Social, not Paid Social"),
    ({"source": "acme-partner", "channel": "Paid Search"}, "channel", "No medium puts source “acme-partner” in Paid Search"),
])
def test_values_the_link_builder_would_refuse_are_errors_next_to_their_field(marketing, said, form, field, message):
    booking = Booking.objects.filter(channel="Direct").first()
    response = marketing.post(f"/dashboard/direct/?{JUNE_QUERY}", {"booking": [booking.pk], **form})
    html = response.content.decode()
    assert response.status_code == 200 and f'id="assign-{field}-error"' in html
    assert message in " ".join(response.context["preview"]["form"].errors[field])
    assert 'id="confirm"' not in html
    confirmed = marketing.post(f"/dashboard/direct/?{JUNE_QUERY}", {"booking": [booking.pk], **form, "confirm": "1"})
    assert confirmed.status_code == 200 and ManualAttribution.objects.count() == 0


def test_a_channel_is_read_whatever_its_case(marketing, said):
    booking = Booking.objects.filter(channel="Direct").first()
    assign_confirmed(marketing, {"booking": [booking.pk], "source": "g2", "channel": "referral"},
                     url=f"/dashboard/direct/?{JUNE_QUERY}")
    booking.refresh_from_db()
    assert (booking.channel, booking.medium) == ("Referral", "referral")


def test_the_htmx_preview_and_confirm_swap_the_card(marketing, said):
    hx = {"HX-Request": "true"}
    booking = Booking.objects.filter(channel="Direct").first()
    preview = marketing.post(f"/dashboard/direct/?{JUNE_QUERY}", {"booking": [booking.pk], "source": "newsletter"}, headers=hx)
    html = preview.content.decode()
    assert "<html" not in html and 'id="backlog-card" aria-label="Assignment preview"' in html
    assert 'id="preview-channel">Email<' in html and f'hx-post="/dashboard/direct/?{JUNE_QUERY.replace("&", "&amp;")}"' in html
    done = assign_confirmed(marketing, {"booking": [booking.pk], "source": "newsletter"},
                            url=f"/dashboard/direct/?{JUNE_QUERY}", headers=hx)
    html = done.content.decode()
    assert done.status_code == 200 and "<html" not in html and "1 booking attributed to newsletter (Email)" in html
    assert 'id="said-card" aria-label="What people said" hx-swap-oob="true"' in html  # the side cards follow
    assert 'id="backlog-total" style="font-size:1rem;font-weight:400" hx-swap-oob="true">· 4 untagged' in html


def test_the_backlog_runs_a_fixed_number_of_queries(marketing, book):
    def queries():
        marketing.get("/dashboard/direct/?range=all")  # warm: session, ruleset cache
        with CaptureQueriesContext(connection) as captured:
            assert marketing.get("/dashboard/direct/?range=all").status_code == 200
        return len(captured)

    book(days=1, answer="LinkedIn")
    few = queries()
    for n in range(12):
        book(days=n, answer=["LinkedIn", "Reddit", "a podcast"][n % 3], event_type=["Product demo", "Intro call"][n % 2])
    assert queries() == few


def test_hygiene_reads_the_rollup_with_a_fixed_number_of_queries(marketing, book):
    def queries():
        marketing.get("/dashboard/hygiene/")
        with CaptureQueriesContext(connection) as captured:
            marketing.get("/dashboard/hygiene/")
        return len(captured)

    book(utm={"utm_source": "partnerportal", "utm_medium": "widget"})
    few = queries()
    for n in range(10):
        book(utm={"utm_source": f"partner{n}", "utm_medium": "widget"})
    assert queries() == few


def test_hygiene_counts_equal_the_bookings_table(book):
    from django.db.models import Count

    for utm in ({"utm_source": "partnerportal", "utm_medium": "widget"}, {"utm_source": "Partner-Portal", "utm_medium": "widget"},
                {"utm_source": "website", "utm_medium": "banner"}, {"utm_source": "google", "utm_medium": "test"},
                {"utm_source": "news_letter", "utm_medium": "email"}, {"utm_source": "newsletter", "utm_medium": "email"},
                {"utm_source": "newsletter", "utm_medium": "email"}, {}):
        book(utm=utm)
    data = selectors.hygiene()
    table = list(Booking.objects.filter(channel="Unassigned").values("source", "medium").annotate(bookings=Count("id")))
    assert sorted(data["unassigned"], key=str) == sorted(table, key=str)
    assert {(b["source"], b["medium"]) for b in data["banned"]} == {("website", "banner"), ("google", "test")}
    collisions = {(c["field"], c["value"]): [s["raw"] for s in c["spellings"]] for c in data["collisions"]}
    assert collisions == {("source", "newsletter"): ["newsletter", "news_letter"],
                          ("source", "partner-portal"): ["partner-portal", "partnerportal"]}  # a tie: by name


def test_a_typo_in_a_channel_no_longer_makes_a_new_one(marketing, book):
    book(utm={"utm_source": "g2", "utm_medium": "reviews"})
    before = ChannelRule.objects.count()
    response = marketing.post("/dashboard/hygiene/", {"action": "rule", "source": "g2", "channel": "referal"})
    html = response.content.decode()
    assert response.status_code == 200 and ChannelRule.objects.count() == before
    assert 'id="rule-error">“referal” is not a channel. Did you mean “Referral”?' in html
    # Even ticked as new, Direct and Unassigned are not channels a rule can name.
    marketing.post("/dashboard/hygiene/", {"action": "rule", "source": "g2", "channel": "unassigned", "new_channel": "1"})
    assert ChannelRule.objects.count() == before
    marketing.post("/dashboard/hygiene/", {"action": "rule", "source": "g2", "channel": "referral"})
    assert ChannelRule.objects.filter(channel="Referral", source_values=["g2"]).exists()


def test_a_new_channel_needs_its_box_ticked(marketing, book):
    book(utm={"utm_source": "g2", "utm_medium": "reviews"})
    refused = marketing.post("/dashboard/hygiene/", {"action": "rule", "source": "g2", "channel": "Review Sites"})
    assert "is not one of the channels" in refused.content.decode() and not ChannelRule.objects.filter(channel="Review Sites")
    marketing.post("/dashboard/hygiene/", {"action": "rule", "source": "g2", "channel": "Review Sites", "new_channel": "1"})
    assert ChannelRule.objects.filter(channel="Review Sites").exists()


def test_an_alias_to_a_banned_value_is_an_error_next_to_its_field(marketing, book):
    book(utm={"utm_source": "partnerportal", "utm_medium": "widget"})
    response = marketing.post("/dashboard/hygiene/", {"action": "alias", "value": "partnerportal", "canonical": "website"})
    assert response.status_code == 200
    assert 'id="alias-error">utm_source=&#x27;website&#x27; is a placeholder' in response.content.decode()


@pytest.mark.parametrize("form", [
    {"answer": "linked\x00in", "source": "linkedin"}, {"answer": "", "source": "linkedin"},
    {"answer": "x" * 400, "source": "linkedin"}, {"revert_batch": "\x00"}, {"revert_batch": "'; drop"},
    {"booking": ["9" * 30], "source": "newsletter"},
])
def test_broken_bulk_values_are_a_message_or_a_form_error_never_a_server_error(marketing, said, form):
    response = marketing.post(f"/dashboard/direct/?{JUNE_QUERY}", form, follow=True)
    assert response.status_code == 200 and ManualAttribution.objects.count() == 0
    assert Booking.objects.filter(channel="Direct").count() == 6


def test_the_groups_csv_is_the_periods_and_named_after_it(marketing, said):
    response = marketing.get("/dashboard/direct/", {**JUNE, "export": "groups"})
    assert response["Content-Disposition"] == (
        'attachment; filename="direct-backlog-by-event-type-and-month-2026-06-01-to-2026-06-30.csv"')
    lines = response.content.decode().splitlines()
    assert lines[0] == "event_type_name,month,bookings" and len(lines) == 3  # June: Product demo, Intro call
    assert sum(int(line.rsplit(",", 1)[1]) for line in lines[1:]) == 5
