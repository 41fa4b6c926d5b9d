"""A deal's credited bookings are stored on the deal and follow the bookings: the deal read sets them for the deals
it stores; a booking that arrives later (a late webhook, a reschedule) moves them when the sync drains its batch."""

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, example, given, settings as hsettings, strategies as st
from django.db import transaction

from bookings.models import Booking
from bookings.samples import invitee_payload
from bookings.tests.factories import BookingFactory
from hubspot_sync.client import HubSpotClient
from hubspot_sync.models import Deal, DealContact
from hubspot_sync.services.deal_credit import deals_credit, deals_credit_all
from hubspot_sync.services.deal_read import deals_read
from hubspot_sync.services.sync import sync_drain

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 5, 4, 10, tzinfo=timezone.utc)


def iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def read_deals(server):
    client = HubSpotClient(base_url=server.url, token="fake-token")
    try:
        deals_read(client=client, since=T0 - timedelta(days=30), until=T0 + timedelta(days=30), sleep=lambda s: None)
    finally:
        client.close()


def test_a_late_booking_and_a_reschedule_move_the_credit_through_the_sync(post_signed, fake_hubspot):
    fake_hubspot.fake.config.search_per_second = 0
    post_signed(invitee_payload(invitee_id="A", event_id="EA", email="ann@example.com", booked_at=T0))
    assert sync_drain(max_seconds=10).synced == 1
    contact = Booking.objects.get().hubspot_contact_id
    fake_hubspot.fake.deal_seed(contacts=[contact], amount="500", createdate=iso(T0 + timedelta(days=10)),
                                modified=iso(T0 + timedelta(days=10)))
    read_deals(fake_hubspot)
    deal = Deal.objects.get()
    first = Booking.objects.get(invitee_uri__endswith="/A")
    assert (deal.first_booking_id, deal.last_booking_id, deal.last_booked_at) == (first.pk, first.pk, T0)

    # Ann's second booking, made on day 5 (before the deal), is delivered late: the sync of its batch moves the credit.
    post_signed(invitee_payload(invitee_id="B", event_id="EB", email="ann@example.com", booked_at=T0 + timedelta(days=5)))
    sync_drain(max_seconds=10)
    deal.refresh_from_db()
    second = Booking.objects.get(invitee_uri__endswith="/B")
    assert (deal.first_booking_id, deal.last_booking_id, deal.last_booked_at) == (first.pk, second.pk, second.booked_at)

    # A booking made after the deal was created is never credited.
    post_signed(invitee_payload(invitee_id="C", event_id="EC", email="ann@example.com", booked_at=T0 + timedelta(days=20)))
    sync_drain(max_seconds=10)
    deal.refresh_from_db()
    assert deal.last_booking_id == second.pk


def test_a_deal_deleted_in_hubspot_leaves_the_reports_and_a_reattribute_moves_its_money(post_signed, fake_hubspot):
    from hubspot_sync.models import DealCredit

    fake_hubspot.fake.config.search_per_second = 0
    post_signed(invitee_payload(invitee_id="A", event_id="EA", email="ann@example.com", booked_at=T0,
                                tracking={"utm_source": "newsletter", "utm_medium": "email"}))
    sync_drain(max_seconds=10)
    contact = Booking.objects.get().hubspot_contact_id
    kept = fake_hubspot.fake.deal_seed(contacts=[contact], amount="500", createdate=iso(T0 + timedelta(days=10)),
                                       modified=iso(T0 + timedelta(days=10)))
    gone = fake_hubspot.fake.deal_seed(contacts=[contact], amount="70", createdate=iso(T0 + timedelta(days=11)),
                                       modified=iso(T0 + timedelta(days=11)))
    read_deals(fake_hubspot)
    rows = DealCredit.objects.filter(model="booking")
    assert sorted(rows.values_list("deal__hubspot_id", "channel")) == [(kept, "Email"), (gone, "Email")]
    assert DealCredit.objects.count() == 6  # one per model and deal

    fake_hubspot.fake.deal_archive(gone)
    read_deals(fake_hubspot)
    assert list(rows.values_list("deal__hubspot_id", flat=True)) == [kept]

    # The booking is assigned by hand to another channel: the sync of that change moves the deal's money with it.
    from django.contrib.auth.models import User

    from attribution.services import bookings_assign_attribution

    bookings_assign_attribution(booking_ids=[Booking.objects.get().pk], source="google", medium="cpc", campaign="x",
                                user=User.objects.create(username="m"))
    sync_drain(max_seconds=10)
    booking = Booking.objects.get()
    assert booking.channel != "Email"
    assert list(rows.values_list("channel", "source")) == [(booking.channel, "google")]


def test_the_full_pass_repairs_a_credit_and_only_writes_what_changed():
    booking = BookingFactory(email="bo@example.com", booked_at=T0)
    deal = Deal.objects.create(hubspot_id="D1", created_at=T0 + timedelta(days=1))
    DealContact.objects.create(deal=deal, hubspot_contact_id="1", email="bo@example.com")
    assert deals_credit_all() == 1
    assert Deal.objects.get().last_booking_id == booking.pk
    assert deals_credit_all() == 0  # nothing changed: nothing written
    Booking.objects.filter(pk=booking.pk).update(rescheduled=True)  # moved away: no longer counted
    assert deals_credit_all() == 1
    deal.refresh_from_db()
    assert (deal.first_booking_id, deal.last_booking_id, deal.last_booked_at) == (None, None, None)


shape = st.lists(st.tuples(st.integers(0, 2), st.integers(0, 20), st.booleans()), max_size=8)


@hsettings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@example(bookings=[(0, 3, False), (0, 5, False)], deals=[(0, 5)])  # booked as the deal was created: not before it
@example(bookings=[(1, 2, False), (1, 2, False), (1, 4, True)], deals=[(1, 9)])  # a tie in booked_at; a moved one
@given(bookings=shape, deals=st.lists(st.tuples(st.integers(0, 2), st.one_of(st.none(), st.integers(0, 20))), max_size=5))
def test_the_stored_credit_is_the_first_and_last_countable_booking_before_the_deal(bookings, deals):
    """Oracle: the rule written out in Python over (person, day, moved-away) bookings, ties broken by id."""
    with transaction.atomic():
        made = [(p, day, moved, BookingFactory(email=f"p{p}@example.com", booked_at=T0 + timedelta(days=day),
                                               rescheduled=moved).pk) for p, day, moved in bookings]
        stored = []
        for person, created in deals:
            d = Deal.objects.create(hubspot_id=f"D{len(stored)}",
                                    created_at=None if created is None else T0 + timedelta(days=created))
            DealContact.objects.create(deal=d, hubspot_contact_id=str(person), email=f"p{person}@example.com")
            stored.append((d, person, created))
        deals_credit(emails=[f"p{p}@example.com" for p in range(3)])
        for d, person, created in stored:
            d.refresh_from_db()
            before = sorted((day, pk) for p, day, moved, pk in made
                            if p == person and not moved and created is not None and day < created)
            want = (before[0][1], before[-1][1]) if before else (None, None)
            assert (d.first_booking_id, d.last_booking_id) == want
        transaction.set_rollback(True)
