"""An older payload without `scheduled_event` gets its start time and event type from the Calendly API,
in a Celery task after commit (never on the webhook request), stored as a delivery so replays keep it."""

import copy

import pytest
from django.core.management import call_command
from django.utils.dateparse import parse_datetime

from fakes.calendly import FakeCalendlyServer
from bookings.models import Booking, WebhookDelivery
from bookings.tasks import booking_event_fetch_task

pytestmark = pytest.mark.django_db


@pytest.fixture
def fake_calendly(settings):
    server = FakeCalendlyServer(events=5, rate_limit=10_000).start()
    settings.CALENDLY_API_URL = server.url
    settings.CALENDLY_TOKEN = "fake-calendly-token"
    yield server
    server.stop()


@pytest.fixture
def eager(settings):
    from project.celery import app

    settings.CELERY_TASK_ALWAYS_EAGER = True
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


def legacy_delivery(fake, index=0):
    """A v2 webhook of the older shape: the invitee with `event` as a URI and no embedded scheduled_event."""
    event = fake.events[index]
    invitee = copy.deepcopy(fake.invitees[event["uri"].rsplit("/", 1)[-1]][0])
    assert invitee["event"] == event["uri"] and "scheduled_event" not in invitee
    return event, invitee, {"event": "invitee.created", "created_at": invitee["created_at"], "payload": invitee}


def assert_event_fields(booking, event):
    assert booking.start_time == parse_datetime(event["start_time"])
    assert booking.end_time == parse_datetime(event["end_time"])
    assert booking.event_type_uri == event["event_type"] and booking.event_type_name == event["name"]


def test_a_legacy_payload_gets_start_time_and_event_type_from_the_api(
        fake_calendly, post_signed, eager, django_capture_on_commit_callbacks):
    event, invitee, body = legacy_delivery(fake_calendly.fake)
    with django_capture_on_commit_callbacks(execute=True):
        assert post_signed(body).status_code == 200
    booking = Booking.objects.get(invitee_uri=invitee["uri"])
    assert_event_fields(booking, event)
    assert booking.email == invitee["email"] and booking.event_uri == event["uri"]
    assert sorted(WebhookDelivery.objects.values_list("origin", flat=True)) == ["backfill", "webhook"]


def test_a_replay_of_every_delivery_keeps_the_fetched_fields(
        fake_calendly, post_signed, eager, django_capture_on_commit_callbacks):
    event, invitee, body = legacy_delivery(fake_calendly.fake)
    with django_capture_on_commit_callbacks(execute=True):
        post_signed(body)
    calls = fake_calendly.fake.calls
    Booking.objects.all().delete()  # rebuild from the stored deliveries alone
    with django_capture_on_commit_callbacks(execute=True):
        call_command("replay_deliveries")
    assert_event_fields(Booking.objects.get(invitee_uri=invitee["uri"]), event)
    assert fake_calendly.fake.calls == calls  # the stored API snapshot is read; Calendly is not asked again


def test_the_webhook_request_never_calls_calendly(fake_calendly, post_signed, django_capture_on_commit_callbacks):
    _, invitee, body = legacy_delivery(fake_calendly.fake)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert post_signed(body).status_code == 200
    assert fake_calendly.fake.calls == 0 and callbacks  # the fetch waits for commit, then runs in a worker
    booking = Booking.objects.get(invitee_uri=invitee["uri"])
    assert booking.start_time is None
    assert booking_event_fetch_task(booking_id=booking.pk) in ("created", "updated")
    booking.refresh_from_db()
    assert booking.start_time is not None
    assert booking_event_fetch_task(booking_id=booking.pk) == "complete"  # idempotent by state


def test_a_full_payload_or_no_token_never_asks_calendly(fake_calendly, post_signed, settings, eager,
                                                        django_capture_on_commit_callbacks):
    from bookings.samples import invitee_payload

    with django_capture_on_commit_callbacks(execute=True):
        post_signed(invitee_payload(invitee_id="FULL"))  # has scheduled_event
    settings.CALENDLY_TOKEN = ""
    _, invitee, body = legacy_delivery(fake_calendly.fake)
    with django_capture_on_commit_callbacks(execute=True):
        post_signed(body)
    assert fake_calendly.fake.calls == 0
    assert Booking.objects.get(invitee_uri=invitee["uri"]).start_time is None


def test_a_rate_limited_fetch_is_retried_then_succeeds_later(fake_calendly, post_signed, settings, eager,
                                                             django_capture_on_commit_callbacks):
    settings.CALENDLY_RATE_LIMIT_MAX_WAIT_SECONDS = 5  # the fake's ~60 s reset is past the budget: retry via Celery
    fake_calendly.fake.rate_limit = 0
    event, invitee, body = legacy_delivery(fake_calendly.fake)
    with django_capture_on_commit_callbacks(execute=True):
        assert post_signed(body).status_code == 200  # the webhook never waits for Calendly
    booking = Booking.objects.get(invitee_uri=invitee["uri"])
    assert booking.start_time is None
    assert fake_calendly.fake.throttled == 1 + booking_event_fetch_task.max_retries  # retried, bounded
    fake_calendly.fake.rate_limit = 10_000
    booking_event_fetch_task.apply(kwargs={"booking_id": booking.pk})
    assert_event_fields(Booking.objects.get(pk=booking.pk), event)


def test_an_event_calendly_does_not_know_is_not_retried(fake_calendly, post_signed, eager,
                                                         django_capture_on_commit_callbacks):
    _, invitee, body = legacy_delivery(fake_calendly.fake)
    uri = invitee["uri"].replace(invitee["uri"].split("/")[-3], "GONE")
    body["payload"] = {**invitee, "uri": uri, "event": uri.rsplit("/invitees/", 1)[0]}
    with django_capture_on_commit_callbacks(execute=True):
        assert post_signed(body).status_code == 200
    assert fake_calendly.fake.calls == 1  # a 404 is permanent
    assert Booking.objects.get(invitee_uri=uri).start_time is None
