""""No delivery for longer than usual", learned per hour of the week from the last four weeks: a quiet Sunday night is
not an alert, a silent Tuesday noon is."""

from datetime import datetime, timedelta, timezone

import pytest
import time_machine

from alerts.checks import delivery_silence_check, usual_silence
from alerts.models import AlertState
from alerts.services.alerts import alerts_evaluate
from alerts.services.outbox import send_due
from bookings.models import WebhookDelivery

pytestmark = pytest.mark.django_db
TUESDAY_NOON = datetime(2026, 11, 10, 12, 40, tzinfo=timezone.utc)
SUNDAY_NIGHT = datetime(2026, 11, 8, 23, 0, tzinfo=timezone.utc)


def business_week_deliveries(*, since: datetime, until: datetime):
    """A delivery every 30 minutes, Monday to Saturday 08:00–19:30 (UTC, the suite's SOURCEBOOK_TIME_ZONE); Sundays
    and nights are quiet. Plus a forged one at night (rejected: it proves nothing about Calendly)."""
    rows, day = [], since.replace(hour=0, minute=0)
    while day < until:
        if day.weekday() != 6:
            for half_hours in range(16, 40):
                at = day + timedelta(minutes=30 * half_hours)
                if since <= at <= until:
                    rows.append(WebhookDelivery(received_at=at, body=b"{}", signature_valid=True, state="processed"))
        rows.append(WebhookDelivery(received_at=day + timedelta(hours=3), body=b"{}", signature_valid=False,
                                    state="rejected", signature_error="signature mismatch"))
        day += timedelta(days=1)
    WebhookDelivery.objects.bulk_create(rows)


def test_a_quiet_sunday_night_is_usual():
    business_week_deliveries(since=SUNDAY_NIGHT - timedelta(weeks=5), until=SUNDAY_NIGHT)
    # Last delivery Saturday 19:30: 27.5 hours ago. Each of the last four Sundays had Saturday 19:30 → Monday 08:00.
    assert usual_silence(SUNDAY_NIGHT) == timedelta(hours=36, minutes=30)
    assert not delivery_silence_check(SUNDAY_NIGHT).firing


def test_a_silent_tuesday_noon_fires():
    business_week_deliveries(since=TUESDAY_NOON - timedelta(weeks=5), until=TUESDAY_NOON.replace(hour=10, minute=0))
    assert usual_silence(TUESDAY_NOON) == timedelta(minutes=30)  # the floor (60 min) is what applies
    finding = delivery_silence_check(TUESDAY_NOON)
    assert finding.firing and "arrived 2.7 h ago" in finding.detail
    assert "Tuesday 12:00" in finding.detail


def test_the_floor_and_the_factor(settings):
    business_week_deliveries(since=TUESDAY_NOON - timedelta(weeks=5), until=TUESDAY_NOON.replace(hour=10, minute=0))
    settings.ALERTS_SILENCE_FLOOR_MINUTES = 180
    assert not delivery_silence_check(TUESDAY_NOON).firing  # 160 min < 3 h floor
    settings.ALERTS_SILENCE_FLOOR_MINUTES = 10
    settings.ALERTS_SILENCE_FACTOR = 6  # 6 × 30 min = 3 h
    assert not delivery_silence_check(TUESDAY_NOON).firing
    settings.ALERTS_SILENCE_FACTOR = 5  # 2.5 h
    assert delivery_silence_check(TUESDAY_NOON).firing


def test_no_alert_with_less_than_four_weeks_of_history_or_none_at_all():
    assert not delivery_silence_check(TUESDAY_NOON).firing  # no deliveries at all
    business_week_deliveries(since=TUESDAY_NOON - timedelta(weeks=3, days=6), until=TUESDAY_NOON.replace(hour=10, minute=0))
    assert usual_silence(TUESDAY_NOON) is None
    assert not delivery_silence_check(TUESDAY_NOON).firing


def test_only_signed_webhook_deliveries_count(settings):
    business_week_deliveries(since=TUESDAY_NOON - timedelta(weeks=5), until=TUESDAY_NOON.replace(hour=10, minute=0))
    WebhookDelivery.objects.create(received_at=TUESDAY_NOON - timedelta(minutes=5), body=b"{}", signature_valid=False,
                                   state="rejected")
    WebhookDelivery.objects.create(received_at=TUESDAY_NOON - timedelta(minutes=5), body=b"{}", origin="backfill",
                                   signature_valid=None, state="processed")
    assert delivery_silence_check(TUESDAY_NOON).firing


def test_the_cycle_resolves_when_deliveries_come_back(destination, webhook_receiver):
    destination("ops", marketing=False, digest=False)
    business_week_deliveries(since=TUESDAY_NOON - timedelta(weeks=5), until=TUESDAY_NOON.replace(hour=10, minute=0))
    with time_machine.travel(TUESDAY_NOON, tick=False) as clock:
        alerts_evaluate()
        clock.shift(timedelta(minutes=10))
        WebhookDelivery.objects.create(received_at=TUESDAY_NOON + timedelta(minutes=8), body=b"{}", signature_valid=True)
        alerts_evaluate()
        send_due()
    titles = [p["payload"]["title"] for p in webhook_receiver.received]
    assert titles == ["[Sourcebook] No Calendly delivery for longer than usual",
                      "[Sourcebook] Resolved: No Calendly delivery for longer than usual"]
    assert AlertState.objects.get(key="delivery_silence").firing is False
