"""Money beside bookings on the dashboard: pipeline, won revenue, win rate and revenue per booking for every row,
the headline, the answer to "which campaign booked the most, and what revenue followed?", and the CSV. Bookings
arrive through the webhook; deals are stored with their credit as the deal read stores them."""

import csv
import io
from datetime import date, timedelta
from decimal import Decimal

import pytest

from attribution.tests.test_dashboard import roles  # noqa: F401  (fixture)
from attribution.tests.test_dashboard_v2 import at, book, frozen, marketer  # noqa: F401  (fixtures)
from bookings.models import Booking
from hubspot_sync.models import Deal, DealContact, DealSyncState
from hubspot_sync.services.deal_credit import deals_credit

pytestmark = pytest.mark.django_db


def deal(booking_email, *, after, amount, currency="USD", won=False, lost=False):
    d = Deal.objects.create(hubspot_id=f"D{Deal.objects.count() + 1}", amount=Decimal(amount), currency=currency,
                            closed_won=won, closed_lost=lost, created_at=after + timedelta(days=1))
    DealContact.objects.create(deal=d, hubspot_contact_id=str(d.pk), email=booking_email)
    deals_credit(deal_ids=[d.pk])
    return d


def emails(campaign):
    return list(Booking.objects.filter(campaign=campaign).order_by("pk").values_list("email", flat=True))


def test_the_campaign_answer_says_what_revenue_followed_and_every_row_has_its_money(marketer, post_signed, frozen):
    october = at(date(2026, 10, 5))
    book(post_signed, 4, on=october, campaign="launch_202610")
    book(post_signed, 2, on=october, campaign="abm_202610")
    book(post_signed, 1, on=at(date(2026, 9, 7)), campaign="launch_202610")  # the month before
    launch, abm = emails("launch_202610"), emails("abm_202610")
    september = [e for e in launch if e.startswith("0907")]
    launch = [e for e in launch if e not in september]
    deal(launch[0], after=october, amount="1000", won=True)
    deal(launch[1], after=october, amount="500", lost=True)
    deal(launch[2], after=october, amount="700")  # open: pipeline, not revenue, not in the win rate
    deal(abm[0], after=october, amount="3000", won=True)
    deal(september[0], after=at(date(2026, 9, 7)), amount="50", won=True)

    response = marketer.get("/dashboard/?dim=campaign&range=last_month")
    page, data = response.content.decode(), response.context["data"]
    rows = {r["campaign"]: r for r in data["rows"]}
    launch_row, abm_row = rows["launch_202610"], rows["abm_202610"]
    assert (str(launch_row["pipeline"]), str(launch_row["revenue"])) == ("USD 2,200.00", "USD 1,000.00")
    assert launch_row["win_rate"] == 0.5  # one won of two closed
    assert launch_row["revenue_per_booking"].single == Decimal(250)  # 1000 over 4 bookings
    assert (str(abm_row["revenue"]), abm_row["win_rate"], abm_row["revenue_per_booking"].single) == ("USD 3,000.00", 1.0, 1500)
    assert str(data["kpis"]["revenue"]) == "USD 4,000.00" and data["kpis"]["deals"] == 4
    assert str(data["previous_kpis"]["revenue"]) == "USD 50.00"  # the cohort of September's bookings
    assert "booked the most demos in this period: 4 (66.7 %), 1 in 1 Sep 2026 – 30 Sep 2026 (+3); 1 won deal followed, USD 1,000 revenue" in page
    assert 'id="revenue-total">USD 4,000<' in page and 'data-col="win_rate">50.0 %<' in page

    body = marketer.get("/dashboard/?dim=campaign&range=last_month&export=table").content.decode()
    csv_rows = {r["campaign"]: r for r in csv.DictReader(io.StringIO(body))}
    assert (csv_rows["abm_202610"]["revenue"], csv_rows["abm_202610"]["currency"], csv_rows["launch_202610"]["win_rate_pct"],
            csv_rows["launch_202610"]["pipeline"]) == ("3000.00", "USD", "50.0", "2200.00")


def test_without_deals_there_are_no_money_columns(marketer, post_signed, frozen):
    book(post_signed, 2, on=at(date(2026, 11, 2)), campaign="x")
    response = marketer.get("/dashboard/?range=this_month")
    assert response.context["data"]["money"] is False
    assert "Won revenue" not in response.content.decode()


def test_currencies_are_never_summed_without_rates_and_converted_with_them(marketer, post_signed, frozen):
    day = at(date(2026, 11, 2))
    book(post_signed, 2, on=day, campaign="x")
    first, second = emails("x")
    deal(first, after=day, amount="1000", currency="USD", won=True)
    deal(second, after=day, amount="300", currency="EUR", won=True)
    page = marketer.get("/dashboard/?range=this_month").content.decode()
    assert 'id="revenue-total">EUR 300 + USD 1,000<' in page
    DealSyncState.objects.update_or_create(name="deals", defaults={"company_currency": "USD", "exchange_rates": {"EUR": "1.10"}})
    page = marketer.get("/dashboard/?range=this_month").content.decode()
    assert 'id="revenue-total">USD 1,330<' in page


def test_first_touch_channel_credits_the_deal_to_the_first_booking(marketer, post_signed, frozen):
    book(post_signed, 1, on=at(date(2026, 11, 2)), source="google", medium="cpc", campaign="a")
    [email] = emails("a")
    Booking.objects.filter(email=email).update(first_touch_channel="Organic Search", first_touch_source="google",
                                               first_touch_medium="organic", first_touch_campaign="")
    deal(email, after=at(date(2026, 11, 2)), amount="900", won=True)
    rows = marketer.get("/dashboard/?dim=first_touch_channel&range=this_month").context["data"]["rows"]
    assert [(r["first_touch_channel"], str(r["revenue"])) for r in rows] == [("Organic Search", "USD 900.00")]
