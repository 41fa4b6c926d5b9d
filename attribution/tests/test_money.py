"""Money in the breakdown report: a deal is credited to its contact's booking made before the deal was created
(the last one; the first under first_touch), takes that booking's values under the model, and totals are equal
under every model. Deals come from the fake HubSpot through the real deal read."""

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from attribution import money
from bookings.models import Booking
from bookings.tests.factories import BookingFactory
from hubspot_sync.client import HubSpotClient
from hubspot_sync.models import Deal, DealContact, DealSyncState
from hubspot_sync.services.deal_credit import deals_credit
from hubspot_sync.services.deal_read import deals_read

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 5, 4, 10, tzinfo=timezone.utc)
URL = "/api/reports/breakdown/"


@pytest.fixture
def api(login_as):
    return login_as("analyst", group="Marketing")


def book(email, channel, days, **extra):
    return BookingFactory(email=email, channel=channel, source=channel.lower(), booked_at=T0 + timedelta(days=days),
                          **extra)


def deal(email, *, created_days, amount="100", currency="USD", won=False, hubspot_id=None):
    d = Deal.objects.create(hubspot_id=hubspot_id or f"D{Deal.objects.count() + 1}", amount=Decimal(amount),
                            currency=currency, closed_won=won, created_at=T0 + timedelta(days=created_days))
    DealContact.objects.create(deal=d, hubspot_contact_id=f"C-{email}", email=email)
    deals_credit(deal_ids=[d.pk])  # as the deal read does for every deal it stores
    return d


def report(api, metric, **params):
    response = api.get(URL, {"group_by": "channel", "metric": metric, **params})
    assert response.status_code == 200, response.content
    return response.json()


def by_channel(body, metric):
    return {row["channel"]: row[metric] for row in body["rows"]}


def test_a_deal_created_before_any_booking_is_not_credited(api):
    book("ann@example.com", "Email", days=5)
    deal("ann@example.com", created_days=1)  # before she booked
    assert report(api, "deals")["total"] == 0
    assert report(api, "pipeline")["rows"] == []


def test_a_contact_who_booked_twice_credits_the_last_booking_before_the_deal_and_the_first_under_first_touch(api):
    book("bob@example.com", "Paid Social", days=0)
    book("bob@example.com", "Email", days=3)
    book("bob@example.com", "Organic Search", days=20)  # after the deal: never credited
    deal("bob@example.com", created_days=10, amount="500", won=True)
    assert by_channel(report(api, "deals"), "deals") == {"Email": 1}
    assert by_channel(report(api, "revenue"), "revenue") == {"Email": "500.00"}
    assert by_channel(report(api, "deals", model="first_touch"), "deals") == {"Paid Social": 1}
    # the period is the credited booking's booked_at: day 3 is in, day 0 is out
    assert report(api, "deals", booked_after="2026-05-06")["total"] == 1
    assert report(api, "deals", booked_after="2026-05-08")["total"] == 0


def test_won_and_revenue_count_only_closed_won_pipeline_counts_every_state(api):
    book("c@example.com", "Email", days=0)
    deal("c@example.com", created_days=1, amount="100", won=True)
    deal("c@example.com", created_days=2, amount="250.50", won=False)
    assert (report(api, "deals")["total"], report(api, "won")["total"]) == (2, 1)
    assert report(api, "pipeline")["total"] == "350.50"
    assert report(api, "revenue")["total"] == "100.00"


def test_archived_deals_are_left_out(api):
    book("d@example.com", "Email", days=0)
    deal("d@example.com", created_days=1)
    assert report(api, "deals")["total"] == 1
    Deal.objects.update(archived=True)
    deals_credit(deal_ids=Deal.objects.values_list("pk", flat=True))  # as the archived read does for what it marks
    assert report(api, "deals")["total"] == 0


def test_mixed_currencies_without_rates_are_reported_per_currency_and_converted_with_rates(api):
    book("e@example.com", "Email", days=0)
    book("f@example.com", "Paid Social", days=0)
    deal("e@example.com", created_days=1, amount="100", currency="USD", won=True)
    deal("f@example.com", created_days=1, amount="200", currency="EUR", won=True)
    DealSyncState.objects.create(company_currency="USD", exchange_rates={})
    body = report(api, "revenue")
    assert body["total"] == {"EUR": "200.00", "USD": "100.00"} and body["currency"] is None and "note" in body
    assert by_channel(body, "revenue") == {"Email": {"USD": "100.00"}, "Paid Social": {"EUR": "200.00"}}
    DealSyncState.objects.update(exchange_rates={"EUR": "1.10"})
    body = report(api, "revenue")
    assert (body["total"], body["currency"]) == ("320.00", "USD")
    assert by_channel(body, "revenue") == {"Email": "100.00", "Paid Social": "220.00"}


def test_the_csv_has_a_column_per_currency(api):
    book("e@example.com", "Email", days=0)
    book("f@example.com", "Paid Social", days=0)
    deal("e@example.com", created_days=1, amount="100", currency="USD")
    deal("f@example.com", created_days=1, amount="200", currency="EUR")
    response = api.get(URL, {"group_by": "channel", "metric": "pipeline", "format": "csv"})
    assert response.status_code == 200
    lines = response.content.decode().splitlines()
    assert lines[0] == "channel,deals,pipeline EUR,pipeline USD"
    assert sorted(lines[1:]) == ["Email,1,0.00,100.00", "Paid Social,1,200.00,0.00"]


def test_bookings_and_held_metrics(api):
    now = datetime.now(timezone.utc)
    BookingFactory(channel="Email", booked_at=T0, start_time=now - timedelta(days=1))
    BookingFactory(channel="Email", booked_at=T0, start_time=now - timedelta(days=1), no_show=True)
    BookingFactory(channel="Email", booked_at=T0, start_time=now + timedelta(days=1))  # still ahead
    assert report(api, "bookings")["total"] == 3
    assert report(api, "held")["total"] == 1


def test_an_unknown_metric_is_a_400(api):
    response = api.get(URL, {"metric": "profit"})
    assert response.status_code == 400 and "metric" in response.json()


channels = st.sampled_from(["Email", "Paid Social", "Direct"])
booking_shape = st.fixed_dictionaries({"person": st.integers(0, 3), "day": st.integers(0, 30), "channel": channels,
                                       "first": st.one_of(st.none(), channels), "last": st.one_of(st.none(), channels)})
deal_shape = st.fixed_dictionaries({"person": st.integers(0, 3), "day": st.integers(0, 30), "won": st.booleans(),
                                    "amount": st.integers(0, 10_000)})


@hsettings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(booking_shape, max_size=8), st.lists(deal_shape, max_size=6))
def test_totals_are_equal_under_every_model_and_follow_the_rule(bookings, deals):
    with transaction.atomic():
        for b in bookings:
            extra = {}
            if b["first"]:
                extra.update(first_touch_channel=b["first"], first_touch_source="ft")
            if b["last"]:
                extra.update(last_touch_channel=b["last"], last_touch_source="lt")
            book(f"p{b['person']}@example.com", b["channel"], b["day"], **extra)
        for d in deals:
            deal(f"p{d['person']}@example.com", created_days=d["day"], amount=str(d["amount"]), won=d["won"])
        expected = [d for d in deals if any(b["person"] == d["person"] and b["day"] < d["day"] for b in bookings)]
        for metric, want in (("deals", len(expected)), ("won", sum(d["won"] for d in expected)),
                             ("pipeline", f"{sum(d['amount'] for d in expected)}.00"),
                             ("revenue", f"{sum(d['amount'] for d in expected if d['won'])}.00")):
            totals = {model: money.metric_breakdown(metric=metric, group_by=["channel"], model=model)["total"]
                      for model in ("booking", "first_touch", "last_non_direct")}
            assert set(totals.values()) == {want}, (metric, totals)
        transaction.set_rollback(True)
    assert not Booking.objects.exists()


def test_end_to_end_from_the_fake_hubspot(api, start_fake_hubspot):
    """Deals read from the fake by the deal read, then reported: a contact who booked twice, deals in two
    currencies, a deal created before any booking."""
    server = start_fake_hubspot()
    server.fake.config.search_per_second = 0
    iso = lambda d: d.strftime("%Y-%m-%dT%H:%M:%S.000Z")  # noqa: E731
    book("twice@example.com", "Paid Social", days=0, hubspot_contact_id="801")
    book("twice@example.com", "Email", days=2, hubspot_contact_id="801")
    book("late@example.com", "Direct", days=10, hubspot_contact_id="802")
    server.fake.deal_seed(contacts=["801"], amount="1000", deal_currency_code="USD", hs_is_closed_won="true",
                          hs_is_closed="true", createdate=iso(T0 + timedelta(days=5)), modified=iso(T0 + timedelta(days=5)))
    server.fake.deal_seed(contacts=["801"], amount="300", deal_currency_code="EUR", hs_is_closed_won="false",
                          hs_is_closed="false", createdate=iso(T0 + timedelta(days=6)), modified=iso(T0 + timedelta(days=6)))
    server.fake.deal_seed(contacts=["802"], amount="999", deal_currency_code="USD", hs_is_closed_won="true",
                          hs_is_closed="true", createdate=iso(T0 + timedelta(days=1)), modified=iso(T0 + timedelta(days=6)))
    client = HubSpotClient(base_url=server.url, token="fake-token")
    try:
        deals_read(client=client, since=T0, until=T0 + timedelta(days=20), sleep=lambda s: None)
    finally:
        client.close()
    assert Deal.objects.count() == 3
    assert report(api, "deals")["total"] == 2  # 802's deal predates her booking
    assert by_channel(report(api, "revenue"), "revenue") == {"Email": "1000.00"}
    assert report(api, "pipeline")["total"] == {"EUR": "300.00", "USD": "1000.00"}
