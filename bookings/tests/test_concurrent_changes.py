"""Booking changes racing each other on real PostgreSQL: nothing deadlocks, nothing is lost.

Each thread has its own database connection; a barrier starts them together."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest
from django.db import connection, transaction
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from attribution.models import ChannelRule
from attribution.ruleset import ruleset_changed
from attribution.services import bookings_reattribute
from bookings import calendly
from bookings.models import Booking, WebhookDelivery
from bookings.samples import encode, invitee_payload, signed_headers
from bookings.services.intake import delivery_receive
from conftest import TEST_KEY
from hubspot_sync.models import BookingSync
from hubspot_sync.services import outbox

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


def _book(n: int, prefix: str) -> list[dict]:
    """n bookings through the webhook path; returns their cancel payloads (a later invitee version)."""
    cancels = []
    for i in range(n):
        booked = T0 + timedelta(minutes=i)
        _receive(invitee_payload(invitee_id=f"{prefix}{i}", event_id=f"EV-{prefix}{i}", booked_at=booked))
        cancel_at = T0 + timedelta(days=1)
        cancels.append(invitee_payload(event=calendly.INVITEE_CANCELED, invitee_id=f"{prefix}{i}", event_id=f"EV-{prefix}{i}",
                                       booked_at=booked, updated_at=cancel_at, occurred_at=cancel_at))
    return cancels


@pytest.mark.django_db(transaction=True)
def test_a_sync_finishing_while_webhooks_change_its_bookings_loses_no_change():
    """The outbox finish and the webhook both take bookings, then outbox rows: whichever commits first,
    the change reaches HubSpot (the row goes round again), and the sync itself is recorded."""
    cancels = _book(30, "F")
    rows = outbox.sync_claim(size=100)
    assert len(rows) == 30

    def webhooks():  # newest booking first: the opposite of the finish's id order
        return [_receive(p).state for p in reversed(cancels)]

    finished, states = _race(lambda: outbox.sync_finish_ok(rows=rows), webhooks)
    assert finished == {r.booking_id for r in rows} and set(states) == {"processed"}
    for booking in Booking.objects.select_related("sync"):
        assert booking.status == "canceled"  # no webhook's change was undone
        assert (booking.sync.state, booking.hubspot_state) == ("pending", "pending")  # and it goes to HubSpot again
        assert booking.sync.synced_version == 1 and booking.sync.version == 2  # the finished sync is on record


@pytest.mark.django_db(transaction=True)
def test_a_retry_of_dead_letters_while_webhooks_arrive_neither_deadlocks_nor_touches_other_bookings():
    """Retry-dead locks bookings before outbox rows like every writer (one transaction here, as under
    an atomic request), and only the rows it moved back become pending."""
    cancels = _book(40, "D")
    rows = sorted(outbox.sync_claim(size=100), key=lambda r: r.booking_id)
    dead, synced = rows[:20], rows[20:]
    outbox.sync_finish_dead(rows=dead, error="HubSpot said no", status=400)
    outbox.sync_finish_ok(rows=synced)
    ids = [r.booking_id for r in rows]
    changed = cancels[::2]  # every other booking, dead and synced alike, changes meanwhile

    def retry():
        with transaction.atomic():
            return outbox.sync_retry_dead(booking_ids=list(reversed(ids)))

    def webhooks():
        return [_receive(p).state for p in changed]

    _race(retry, webhooks)
    canceled = {URI(f"D{i}") for i in range(0, 40, 2)}
    dead_ids = {r.booking_id for r in dead}
    for booking in Booking.objects.select_related("sync"):
        assert booking.status == ("canceled" if booking.invitee_uri in canceled else "active")
        if booking.invitee_uri in canceled or booking.pk in dead_ids:
            assert (booking.sync.state, booking.hubspot_state) == ("pending", "pending"), booking.invitee_uri
        else:  # synced and untouched: retry-dead must leave it alone
            assert (booking.sync.state, booking.hubspot_state) == ("synced", "synced"), booking.invitee_uri
    assert not WebhookDelivery.objects.exclude(state="processed").exists()


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
