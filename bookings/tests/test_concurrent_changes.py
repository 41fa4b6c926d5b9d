"""Booking changes racing each other on real PostgreSQL: nothing deadlocks, nothing is lost.

Each thread has its own database connection; a barrier starts them together."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest
from django.db import connection
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from attribution.models import ChannelRule
from attribution.ruleset import ruleset_changed
from attribution.services import bookings_reattribute
from bookings import calendly
from bookings.models import Booking, WebhookDelivery
from bookings.samples import encode, invitee_payload, signed_headers
from bookings.services import delivery_receive
from conftest import TEST_KEY
from hubspot_sync.models import BookingSync

T0 = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=10)
URI = "https://api.calendly.com/scheduled_events/EV-{0}/invitees/{0}".format


def _receive(payload: dict):
    body = encode(payload)
    headers = {k.lower(): v for k, v in signed_headers(body, key=TEST_KEY).items()}
    return delivery_receive(body=body, headers=headers, remote_addr="127.0.0.1")


def _race(*jobs, timeout: float = 60.0) -> list:
    """Run the jobs at the same instant, each in its own thread and connection; re-raise any error."""
    barrier = threading.Barrier(len(jobs))
    results: list = [None] * len(jobs)
    errors: list = []

    def run(i, job):
        try:
            barrier.wait(timeout=10)
            results[i] = job()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    assert not any(t.is_alive() for t in threads), "a racing change never finished (deadlock?)"
    if errors:
        raise errors[0]
    return results


def _state(uri: str) -> dict:
    return Booking.objects.filter(invitee_uri=uri).values("status", "no_show", "source", "channel", "hubspot_state").get()


@pytest.mark.django_db(transaction=True)
def test_two_deliveries_for_the_same_invitee_at_once_both_count():
    utm = {"utm_source": "linkedin", "utm_medium": "paid"}
    created = invitee_payload(invitee_id="R1", event_id="EV-R1", booked_at=T0, tracking=utm)
    no_show_at = T0 + timedelta(days=4)
    no_show = invitee_payload(event=calendly.NO_SHOW_CREATED, invitee_id="R1", event_id="EV-R1", booked_at=T0,
                              updated_at=no_show_at, occurred_at=no_show_at, tracking=utm)
    receipts = _race(lambda: _receive(created), lambda: _receive(no_show))
    assert [r.state for r in receipts] == ["processed", "processed"]
    assert _state(URI("R1")) == {"status": "active", "no_show": True, "source": "linkedin", "channel": "Paid Social",
                                 "hubspot_state": "pending"}
    assert BookingSync.objects.get().state == "pending"


@pytest.mark.django_db(transaction=True)
def test_both_halves_of_a_reschedule_at_once_link_the_chain():
    utm = {"utm_source": "linkedin", "utm_medium": "paid", "utm_campaign": "spring_202606"}
    moved = T0 + timedelta(days=2)
    _receive(invitee_payload(invitee_id="A", event_id="EV-A", booked_at=T0, tracking=utm))
    cancel_old = invitee_payload(event=calendly.INVITEE_CANCELED, invitee_id="A", event_id="EV-A", booked_at=T0,
                                 tracking=utm, updated_at=moved, occurred_at=moved, rescheduled=True, new_invitee=URI("B"))
    create_new = invitee_payload(invitee_id="B", event_id="EV-B", booked_at=moved, old_invitee=URI("A"))
    receipts = _race(lambda: _receive(cancel_old), lambda: _receive(create_new))
    assert {r.state for r in receipts} == {"processed"}
    old, new = Booking.objects.get(invitee_uri=URI("A")), Booking.objects.get(invitee_uri=URI("B"))
    assert (old.status, old.rescheduled) == ("canceled", True)
    assert new.rescheduled_from_id == old.pk
    assert (new.source, new.channel, new.booked_at) == ("linkedin", "Paid Social", T0)
    assert set(BookingSync.objects.values_list("booking_id", flat=True)) == {old.pk, new.pk}


@pytest.mark.django_db(transaction=True)
def test_a_reattribute_while_webhooks_arrive_loses_no_update():
    for i in range(60):
        _receive(invitee_payload(invitee_id=f"S{i}", event_id=f"EV-S{i}", booked_at=T0 + timedelta(minutes=i),
                                 tracking={"utm_source": "newsletter-x", "utm_medium": "weird"}))
    assert set(Booking.objects.values_list("channel", flat=True)) == {"Unassigned"}
    ChannelRule.objects.create(position=1, channel="Email", source_values=["newsletter-x"])
    ruleset_changed()
    cancel_at = T0 + timedelta(days=1)
    cancels = [invitee_payload(event=calendly.INVITEE_CANCELED, invitee_id=f"S{i}", event_id=f"EV-S{i}",
                               booked_at=T0 + timedelta(minutes=i), updated_at=cancel_at, occurred_at=cancel_at,
                               tracking={"utm_source": "newsletter-x", "utm_medium": "weird"}) for i in range(0, 60, 2)]

    def webhooks():
        return [_receive(p).state for p in cancels]

    _race(lambda: bookings_reattribute(batch_size=7), webhooks)
    rows = {b.invitee_uri: b for b in Booking.objects.all()}
    for i in range(60):
        booking = rows[URI(f"S{i}")]
        assert booking.channel == "Email"  # the reattribute reached every booking
        assert booking.status == ("canceled" if i % 2 == 0 else "active")  # and no webhook's change was undone
    assert not WebhookDelivery.objects.exclude(state="processed").exists()
    assert BookingSync.objects.filter(state="pending").count() == 60


@pytest.mark.django_db
@hsettings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(order=st.permutations(range(4)), duplicate=st.integers(min_value=0, max_value=3))
def test_order_independence_through_the_webhook_request_path(order, duplicate):
    """The same property as test_booking_order_independence, through delivery_receive (verify, derive,
    store in one commit) rather than store-then-process."""
    Booking.objects.all().delete()
    WebhookDelivery.objects.all().delete()
    utm = {"utm_source": "google", "utm_medium": "cpc"}
    at = [T0 + timedelta(days=d) for d in (0, 3, 4, 5)]
    history = [
        invitee_payload(invitee_id="O", event_id="EV-O", booked_at=T0, tracking=utm),
        invitee_payload(event=calendly.NO_SHOW_CREATED, invitee_id="O", event_id="EV-O", booked_at=T0, tracking=utm,
                        updated_at=at[1], occurred_at=at[1]),
        invitee_payload(event=calendly.NO_SHOW_DELETED, invitee_id="O", event_id="EV-O", booked_at=T0, tracking=utm,
                        updated_at=at[2], occurred_at=at[2]),
        invitee_payload(event=calendly.INVITEE_CANCELED, invitee_id="O", event_id="EV-O", booked_at=T0, tracking=utm,
                        updated_at=at[3], occurred_at=at[3]),
    ]
    for i in [*order, duplicate]:
        assert _receive(history[i]).state == "processed"
    assert _state(URI("O")) == {"status": "canceled", "no_show": False, "source": "google", "channel": "Paid Search",
                                "hubspot_state": "pending"}
