"""Any arrival order of one invitee's deliveries, with duplicates, ends in the same booking."""

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from bookings import calendly
from bookings.models import Booking, WebhookDelivery
from bookings.samples import encode, invitee_payload
from bookings.services.fold import booking_fold
from bookings.services.intake import delivery_process, delivery_record

T0 = datetime(2026, 6, 1, 9, 0, tzinfo=timezone.utc)
URI = "https://api.calendly.com/scheduled_events/EV-P/invitees/P"
STATE_FIELDS = ("status", "no_show", "canceled_at", "cancel_reason", "email", "source", "campaign", "start_time", "booked_at")


def _history(with_cancel: bool, no_show_flips: int) -> list[dict]:
    """A plausible life of one invitee: created, some no-show toggles, maybe a cancel."""
    utm = {"utm_source": "google", "utm_medium": "cpc", "utm_campaign": "brand"}
    events = [invitee_payload(invitee_id="P", event_id="EV-P", booked_at=T0, tracking=utm)]
    for i in range(no_show_flips):
        kind = calendly.NO_SHOW_CREATED if i % 2 == 0 else calendly.NO_SHOW_DELETED
        at = T0 + timedelta(days=3, hours=i)
        events.append(invitee_payload(event=kind, invitee_id="P", event_id="EV-P", booked_at=T0,
                                      updated_at=at, occurred_at=at, tracking=utm))
    if with_cancel:
        at = T0 + timedelta(days=5)
        events.append(invitee_payload(event=calendly.INVITEE_CANCELED, invitee_id="P", event_id="EV-P", booked_at=T0,
                                      updated_at=at, occurred_at=at, tracking=utm, cancel_reason="No longer needed"))
    return events


def _deliver(payload: dict) -> None:
    delivery = delivery_record(body=encode(payload), headers={}, remote_addr="127.0.0.1", origin="backfill")
    delivery_process(delivery=delivery)


def _state() -> dict:
    return Booking.objects.filter(invitee_uri=URI).values(*STATE_FIELDS).get()


@pytest.mark.django_db
@hsettings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), with_cancel=st.booleans(), no_show_flips=st.integers(min_value=0, max_value=3))
def test_any_permutation_with_duplicates_ends_in_the_same_state(data, with_cancel, no_show_flips):
    events = _history(with_cancel, no_show_flips)
    Booking.objects.all().delete()
    WebhookDelivery.objects.all().delete()
    for payload in events:
        _deliver(payload)
    expected = _state()

    Booking.objects.all().delete()
    WebhookDelivery.objects.all().delete()
    shuffled = data.draw(st.permutations(events))
    duplicates = data.draw(st.lists(st.sampled_from(events), max_size=3))
    for payload in [*shuffled, *duplicates]:
        _deliver(payload)
    assert _state() == expected
    assert expected["status"] == ("canceled" if with_cancel else "active")
    assert expected["no_show"] == (no_show_flips % 2 == 1)


@given(perm=st.permutations(range(5)))
def test_the_fold_itself_is_order_independent(perm):
    events = [calendly.event_parse(encode(p)) for p in _history(True, 3)]
    assert booking_fold(events=[events[i] for i in perm]) == booking_fold(events=events)


def _chain() -> list[dict]:
    """A booked from a LinkedIn link, moved to B, then to C; neither move carries UTM, C only a visitor id."""
    uri = "https://api.calendly.com/scheduled_events/EV-{0}/invitees/{0}".format
    utm = {"utm_source": "linkedin", "utm_medium": "paid", "utm_campaign": "spring_202606"}
    moved_b, moved_c = T0 + timedelta(days=2), T0 + timedelta(days=4)
    return [
        invitee_payload(invitee_id="A", event_id="EV-A", booked_at=T0, tracking=utm),
        invitee_payload(event=calendly.INVITEE_CANCELED, invitee_id="A", event_id="EV-A", booked_at=T0, tracking=utm,
                        updated_at=moved_b, occurred_at=moved_b, rescheduled=True, new_invitee=uri("B")),
        invitee_payload(invitee_id="B", event_id="EV-B", booked_at=moved_b, old_invitee=uri("A")),
        invitee_payload(event=calendly.INVITEE_CANCELED, invitee_id="B", event_id="EV-B", booked_at=moved_b,
                        updated_at=moved_c, occurred_at=moved_c, rescheduled=True, new_invitee=uri("C")),
        invitee_payload(invitee_id="C", event_id="EV-C", booked_at=moved_c, old_invitee=uri("B"),
                        tracking={"utm_term": "visitor-123"}),
    ]


@pytest.mark.django_db
@hsettings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(order=st.permutations(range(5)))
def test_a_twice_rescheduled_booking_keeps_its_source_and_booking_date_in_any_order(order):
    from bookings.selectors import booking_countable

    Booking.objects.all().delete()
    WebhookDelivery.objects.all().delete()
    events = _chain()
    for i in order:
        _deliver(events[i])
    [counted] = booking_countable()  # the chain counts once: its last booking
    assert counted.invitee_uri.endswith("/invitees/C")
    assert (counted.channel, counted.source, counted.campaign) == ("Paid Social", "linkedin", "spring_202606")
    assert counted.booked_at == T0  # the demo was booked on day 0, not when it was moved
    assert counted.rescheduled_from.invitee_uri.endswith("/invitees/B")
    assert counted.rescheduled_from.rescheduled_from.invitee_uri.endswith("/invitees/A")
