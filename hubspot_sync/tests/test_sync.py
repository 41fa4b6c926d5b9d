import threading
from datetime import timedelta

import httpx
import pytest
from django.core.management import call_command
from django.db import connection

from bookings import calendly
from bookings.models import Booking
from bookings.samples import invitee_payload
from hubspot_sync.models import BookingSync, HubspotConnection
from hubspot_sync.services import outbox
from hubspot_sync.services.connection import connection_token
from hubspot_sync.services.sync import sync_drain

from .conftest import fake_state

pytestmark = pytest.mark.django_db

UTM = {"utm_source": "linkedin", "utm_medium": "paid", "utm_campaign": "spring_202606"}


def test_a_booking_becomes_a_contact_and_a_meeting(post_signed, fake_hubspot):
    post_signed(invitee_payload(invitee_id="A", email="dana@example.com", tracking=UTM,
                                questions_and_answers=[{"question": "How did you hear about us?", "answer": "ChatGPT"}]))
    report = sync_drain(max_seconds=10)
    assert report.synced == 1
    state = fake_state(fake_hubspot)
    contact = state["contacts"]["dana@example.com"]
    assert contact["sourcebook_last_utm_source"] == "linkedin"
    assert contact["sourcebook_last_channel"] == "Paid Social"
    assert contact["sourcebook_first_channel"] == "Paid Social"
    assert contact["sourcebook_self_reported_source"] == "chatgpt"
    assert contact["sourcebook_bookings_count"] == "1"
    [meeting] = state["meetings"]
    assert meeting["properties"]["hs_meeting_outcome"] == "SCHEDULED"
    assert meeting["contacts"] == [contact["id"]]
    booking = Booking.objects.get()
    assert (booking.hubspot_state, booking.hubspot_meeting_id, booking.hubspot_contact_id) == ("synced", meeting["id"], contact["id"])


def test_outcomes_follow_the_booking_without_duplicates(post_signed, fake_hubspot):
    created = invitee_payload(invitee_id="A", tracking=UTM)
    post_signed(created)
    sync_drain(max_seconds=10)
    post_signed(invitee_payload(invitee_id="A", event=calendly.NO_SHOW_CREATED, tracking=UTM))
    sync_drain(max_seconds=10)
    assert fake_state(fake_hubspot)["meetings"][0]["properties"]["hs_meeting_outcome"] == "NO_SHOW"
    post_signed(invitee_payload(invitee_id="A", event=calendly.INVITEE_CANCELED, tracking=UTM,
                                updated_at=Booking.objects.get().booked_at + timedelta(hours=1)))
    # Duplicates and a replay change nothing in HubSpot.
    post_signed(created)
    call_command("replay_deliveries") if _has_command("replay_deliveries") else None
    sync_drain(max_seconds=10)
    state = fake_state(fake_hubspot)
    assert len(state["meetings"]) == 1
    assert state["meetings"][0]["properties"]["hs_meeting_outcome"] == "CANCELED"
    assert state["duplicate_meetings"] == {}
    assert len(state["contacts"]) == 1


def _has_command(name):
    from django.core.management import get_commands

    return name in get_commands()


def test_reschedule_marks_the_old_meeting_rescheduled(post_signed, fake_hubspot):
    old_uri = "https://api.calendly.com/scheduled_events/EV-O/invitees/O"
    post_signed(invitee_payload(invitee_id="O", event_id="EV-O", tracking=UTM))
    post_signed(invitee_payload(event=calendly.INVITEE_CANCELED, invitee_id="O", event_id="EV-O", rescheduled=True,
                                new_invitee="https://api.calendly.com/scheduled_events/EV-N/invitees/N", tracking=UTM))
    post_signed(invitee_payload(invitee_id="N", event_id="EV-N", old_invitee=old_uri))
    sync_drain(max_seconds=10)
    outcomes = {m["properties"]["sourcebook_booking_uri"]: m["properties"]["hs_meeting_outcome"]
                for m in fake_state(fake_hubspot)["meetings"]}
    assert outcomes[old_uri] == "RESCHEDULED"
    assert outcomes["https://api.calendly.com/scheduled_events/EV-N/invitees/N"] == "SCHEDULED"
    contact = next(iter(fake_state(fake_hubspot)["contacts"].values()))
    assert contact["sourcebook_bookings_count"] == "1"


def test_contacts_are_coalesced_with_first_and_last_touch(post_signed, fake_hubspot):
    from bookings.samples import invitee_payload as p
    from datetime import datetime, timezone

    t0 = datetime(2026, 5, 1, tzinfo=timezone.utc)
    post_signed(p(invitee_id="A", email="sam@example.com", booked_at=t0, tracking={"utm_source": "google", "utm_medium": "cpc"}))
    post_signed(p(invitee_id="B", email="sam@example.com", booked_at=t0 + timedelta(days=9), tracking=UTM))
    report = sync_drain(max_seconds=10)
    state = fake_state(fake_hubspot)
    contact = state["contacts"]["sam@example.com"]
    assert contact["sourcebook_first_channel"] == "Paid Search"
    assert contact["sourcebook_last_channel"] == "Paid Social"
    assert contact["sourcebook_bookings_count"] == "2"
    upserts = sum(n for k, n in state["requests"].items() if "contacts/batch/upsert" in k)
    assert upserts == 1 and report.synced == 2


def test_a_partial_failure_retries_only_the_failed_input(post_signed, fake_hubspot):
    post_signed(invitee_payload(invitee_id="A", email="good@example.com"))
    post_signed(invitee_payload(invitee_id="B", email="broken-address"))
    sync_drain(max_seconds=10)
    states = dict(BookingSync.objects.values_list("booking__email", "state"))
    assert states == {"good@example.com": "synced", "broken-address": "dead"}
    dead = BookingSync.objects.get(state="dead")
    assert "INVALID_EMAIL" in dead.last_error
    assert dead.last_request["inputs"][0]["id"] == "broken-address"
    assert list(fake_state(fake_hubspot)["contacts"]) == ["good@example.com"]


def test_rate_limits_are_honoured_and_nothing_is_lost(post_signed, fake_hubspot):
    # A batch is three requests (the only-if-empty read, the contact upsert, the meeting create): a window that
    # holds fewer than one batch's requests would never let a batch through.
    httpx.post(f"{fake_hubspot.url}/__fake__/config", json={"rate_limit": 3, "window_seconds": 1.0})
    for i in range(5):
        post_signed(invitee_payload(invitee_id=f"I{i}", email=f"p{i}@example.com"))
    from django.conf import settings

    settings.HUBSPOT_BATCH_SIZE = 2
    for _ in range(30):
        sync_drain(max_seconds=3)
        if not BookingSync.objects.exclude(state="synced").exists():
            break
        BookingSync.objects.filter(state="pending").update(next_attempt_at=BookingSync.objects.first().updated_at - timedelta(hours=1))
    state = fake_state(fake_hubspot)
    assert state["throttled"] > 0
    assert len(state["meetings"]) == 5 and state["duplicate_meetings"] == {}
    assert set(BookingSync.objects.values_list("state", flat=True)) == {"synced"}


def test_an_ambiguous_create_is_looked_up_not_repeated(post_signed, fake_hubspot, settings):
    post_signed(invitee_payload(invitee_id="A"))
    httpx.post(f"{fake_hubspot.url}/__fake__/config", json={"timeout_rate": 1.0, "timeout_sleep": 3,
                                                               "timeout_paths": ["meetings/batch/create"]})
    settings.HUBSPOT_TIMEOUT_SECONDS = 0.5
    sync_drain(max_seconds=1)
    sync = BookingSync.objects.get()
    assert sync.state == "pending" and sync.meeting_create_uncertain
    # The retry waits for HubSpot's search index to show the meeting if it was created.
    assert sync.next_attempt_at - sync.updated_at >= timedelta(seconds=settings.HUBSPOT_UNCERTAIN_CREATE_RETRY_SECONDS)
    httpx.post(f"{fake_hubspot.url}/__fake__/config", json={"timeout_rate": 0.0})
    BookingSync.objects.update(next_attempt_at=sync.updated_at - timedelta(hours=1))
    sync_drain(max_seconds=5)
    state = fake_state(fake_hubspot)
    assert len(state["meetings"]) == 1
    assert BookingSync.objects.get().state == "synced"
    assert Booking.objects.get().hubspot_meeting_id == state["meetings"][0]["id"]


def test_server_errors_back_off_and_become_dead_letters(post_signed, fake_hubspot, settings):
    settings.HUBSPOT_MAX_ATTEMPTS = 2
    httpx.post(f"{fake_hubspot.url}/__fake__/config", json={"fail_rate": 1.0})
    post_signed(invitee_payload(invitee_id="A"))
    sync_drain(max_seconds=2)
    assert BookingSync.objects.get().state == "pending"
    BookingSync.objects.update(next_attempt_at=BookingSync.objects.get().updated_at - timedelta(hours=1))
    sync_drain(max_seconds=2)
    dead = BookingSync.objects.get()
    assert dead.state == "dead" and dead.last_status in (500, 502, 503)
    httpx.post(f"{fake_hubspot.url}/__fake__/config", json={"fail_rate": 0.0})
    outbox.sync_retry_dead(booking_ids=[dead.pk])
    sync_drain(max_seconds=5)
    assert BookingSync.objects.get().state == "synced"


def test_a_revoked_private_token_pauses_sync_and_shows_broken(post_signed, fake_hubspot, settings, client):
    settings.HUBSPOT_ACCESS_TOKEN = "revoked"
    post_signed(invitee_payload(invitee_id="A"))
    sync_drain(max_seconds=2)
    sync = BookingSync.objects.get()
    assert sync.state == "pending" and sync.last_status == 401  # not a dead letter: data was fine
    assert HubspotConnection.objects.get().state == "broken"


def test_dry_run_keeps_the_exact_payload(post_signed, settings):
    settings.HUBSPOT_ACCESS_TOKEN = ""
    post_signed(invitee_payload(invitee_id="A", email="dry@example.com", tracking=UTM))
    report = sync_drain(max_seconds=2)
    sync = BookingSync.objects.get()
    assert report.skipped == 1 and sync.state == "skipped"
    contact = sync.last_request["contacts_batch_upsert"]["inputs"][0]
    assert contact["id"] == "dry@example.com"
    assert contact["properties"]["sourcebook_last_utm_campaign"] == "spring_202606"
    assert Booking.objects.get().hubspot_state == "skipped"


@pytest.mark.django_db(transaction=True)
def test_two_workers_draining_send_each_change_once(post_signed, fake_hubspot, settings):
    settings.HUBSPOT_BATCH_SIZE = 5
    for i in range(40):
        post_signed(invitee_payload(invitee_id=f"I{i}", email=f"p{i}@example.com"))

    def worker():
        sync_drain(max_seconds=20)
        connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    state = fake_state(fake_hubspot)
    assert len(state["meetings"]) == 40 and state["duplicate_meetings"] == {}
    creates = sum(n for k, n in state["requests"].items() if "meetings/batch/create" in k)
    assert creates == 8  # 40 bookings / 5 per batch, none sent twice


def test_the_sweep_recovers_rows_whose_task_was_lost(post_signed, fake_hubspot, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    from project.celery import app

    app.conf.task_always_eager = True
    try:
        post_signed(invitee_payload(invitee_id="A"))  # the on-commit kick never runs inside a test transaction
        assert BookingSync.objects.get().state == "pending"
        from hubspot_sync.tasks import hubspot_sweep_task

        hubspot_sweep_task.apply()
        assert BookingSync.objects.get().state == "synced"
    finally:
        app.conf.task_always_eager = False


class TestOAuth:
    @pytest.fixture
    def oauth(self, settings, fake_hubspot):
        settings.HUBSPOT_ACCESS_TOKEN = ""
        settings.HUBSPOT_CLIENT_ID = "fake-client"
        settings.HUBSPOT_CLIENT_SECRET = "fake-secret"
        settings.HUBSPOT_REFRESH_TOKEN = "fake-refresh-0"
        return fake_hubspot

    def test_it_refreshes_and_stores_the_rotated_pair(self, oauth, post_signed):
        post_signed(invitee_payload(invitee_id="A"))
        assert sync_drain(max_seconds=5).synced == 1
        conn = HubspotConnection.objects.get()
        assert conn.refresh_token == "fake-refresh-1" and conn.token_version == 1
        assert fake_state(oauth)["refreshes"] == 1
        connection_token()  # still fresh: no second refresh
        assert fake_state(oauth)["refreshes"] == 1

    @pytest.mark.django_db(transaction=True)
    def test_concurrent_workers_never_spend_the_same_refresh_token(self, oauth):
        tokens, errors = [], []

        def worker():
            try:
                tokens.append(connection_token())
            except Exception as exc:  # noqa: BLE001
                errors.append(exc)
            finally:
                connection.close()

        threads = [threading.Thread(target=worker) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert len(set(tokens)) == 1
        assert fake_state(oauth)["refreshes"] == 1
        assert HubspotConnection.objects.get().state == "ok"

    def test_a_bad_refresh_token_breaks_the_connection_once(self, oauth, settings, post_signed):
        from prometheus_client import REGISTRY

        before = REGISTRY.get_sample_value("hubspot_refresh_attempts_total", {"result": "bad_refresh_token"}) or 0
        settings.HUBSPOT_REFRESH_TOKEN = "stolen"
        post_signed(invitee_payload(invitee_id="A"))
        sync_drain(max_seconds=2)
        sync_drain(max_seconds=2)
        assert HubspotConnection.objects.get().state == "broken"
        after = REGISTRY.get_sample_value("hubspot_refresh_attempts_total", {"result": "bad_refresh_token"})
        assert after == before + 1  # no retry storm
        assert BookingSync.objects.get().state == "pending"


def test_hubspot_setup_is_idempotent(fake_hubspot, capsys):
    fake_hubspot.fake.preset = False
    fake_hubspot.fake.reset()
    call_command("hubspot_setup")
    first = capsys.readouterr().out
    call_command("hubspot_setup")
    second = capsys.readouterr().out
    assert "contacts.sourcebook_last_utm_source: created" in first
    assert "contacts.sourcebook_last_utm_source: already there" in second
    assert "token scopes: ok" in first


def test_a_worker_whose_claim_was_swept_sends_nothing_and_finishes_nothing(post_signed, fake_hubspot, settings):
    """A worker stalled past the claim timeout (say, behind a 429 pause) must not push rows another
    worker now owns: its meeting create would be a duplicate."""
    from hubspot_sync.client import HubSpotClient
    from hubspot_sync.services.sync import sync_batch

    post_signed(invitee_payload(invitee_id="A", tracking=UTM))
    stalled = {"done": False}

    def stall_then_lose_the_claim():
        if not stalled["done"]:  # before the stalled worker's first request: the sweep and a second worker run
            stalled["done"] = True
            assert outbox.sync_sweep_stale(older_than_seconds=-1) == 1
            assert sync_drain(max_seconds=5).synced == 1

    slow = HubSpotClient(base_url=fake_hubspot.url, token="fake-token", timeout=2, before_request=stall_then_lose_the_claim)
    report = sync_batch(client=slow)
    state = fake_state(fake_hubspot)
    assert len(state["meetings"]) == 1 and state["duplicate_meetings"] == {}
    assert report.synced == 0 and report.requests == 0  # it noticed before sending anything
    sync = BookingSync.objects.get()
    assert sync.state == "synced" and sync.synced_version == sync.version
