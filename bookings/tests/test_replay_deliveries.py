from datetime import datetime, timedelta, timezone

import pytest
from django.core.management import call_command

from bookings import calendly
from bookings.models import Booking, WebhookDelivery
from bookings.samples import invitee_payload

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 6, 1, tzinfo=timezone.utc)
SKIP = {"id", "created_at", "updated_at", "rescheduled_from"}


def snapshot():
    rows = []
    for b in Booking.objects.order_by("invitee_uri"):
        row = {f.attname: getattr(b, f.attname) for f in Booking._meta.concrete_fields if f.attname not in SKIP | {"rescheduled_from_id"}}
        row["rescheduled_from"] = b.rescheduled_from.invitee_uri if b.rescheduled_from else None
        rows.append(row)
    return rows


@pytest.fixture
def history(post_signed):
    utm = {"utm_source": "google", "utm_medium": "cpc"}
    post_signed(invitee_payload(invitee_id="A", booked_at=T0, tracking=utm))
    post_signed(invitee_payload(invitee_id="A", booked_at=T0, event=calendly.NO_SHOW_CREATED, occurred_at=T0 + timedelta(days=2)))
    post_signed(invitee_payload(invitee_id="B", booked_at=T0, tracking={"utm_source": "Newsletter", "utm_medium": "email"}))
    post_signed(invitee_payload(invitee_id="B", booked_at=T0, event=calendly.INVITEE_CANCELED, updated_at=T0 + timedelta(hours=3)))
    old = "https://api.calendly.com/scheduled_events/EV-O/invitees/O"
    post_signed(invitee_payload(invitee_id="O", event_id="EV-O", booked_at=T0, tracking=utm))
    post_signed(invitee_payload(invitee_id="O", event_id="EV-O", booked_at=T0, event=calendly.INVITEE_CANCELED, rescheduled=True,
                                new_invitee="https://api.calendly.com/scheduled_events/EV-N/invitees/N", updated_at=T0 + timedelta(hours=1)))
    post_signed(invitee_payload(invitee_id="N", event_id="EV-N", booked_at=T0 + timedelta(hours=1), old_invitee=old))
    post_signed(b'{"event": "invitee.created", "payload": "broken"}')
    post_signed(invitee_payload(invitee_id="X"), key="forged")


def test_replaying_everything_into_an_empty_table_reproduces_it(history):
    before = snapshot()
    assert len(before) == 4
    Booking.objects.all().delete()
    call_command("replay_deliveries")
    assert snapshot() == before
    assert WebhookDelivery.objects.filter(state="rejected").count() == 1  # forged stays rejected, no booking
    assert not Booking.objects.filter(invitee_uri__endswith="/X").exists()


def test_failed_only_touches_failed_deliveries(history, capsys):
    processed_before = dict(WebhookDelivery.objects.filter(state="processed").values_list("id", "attempts"))
    call_command("replay_deliveries", "--failed")
    assert "1 failed" in capsys.readouterr().out
    assert dict(WebhookDelivery.objects.filter(state="processed").values_list("id", "attempts")) == processed_before


def test_replay_by_id(history, capsys):
    delivery = WebhookDelivery.objects.filter(state="processed").first()
    call_command("replay_deliveries", "--id", str(delivery.pk))
    assert "Replayed 1 deliveries: 1 processed" in capsys.readouterr().out
    delivery.refresh_from_db()
    assert delivery.attempts == 2
