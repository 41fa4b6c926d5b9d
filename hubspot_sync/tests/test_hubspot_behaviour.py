"""The client survives what HubSpot really does (tested against the strict in-process fake)."""

import math
from datetime import datetime, timedelta, timezone as dt_timezone
from zoneinfo import ZoneInfo

import httpx
import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.db.models import Q
from django.utils import timezone

from bookings import calendly
from bookings.models import Booking
from bookings.samples import invitee_payload
from hubspot_sync.models import BookingSync, DealRule, HubspotConnection, PropertyMapping
from hubspot_sync.services import outbox
from hubspot_sync.services.sync import hubspot_client, sync_drain

from .conftest import fake_state

pytestmark = pytest.mark.django_db

V = "2026-09"


def upserts(state) -> int:
    return sum(n for k, n in state["requests"].items() if "contacts/batch/upsert" in k)


# --- whole-batch 400: bisect, so one bad input does not dead-letter the others ---------------------

def test_one_bad_contact_dead_letters_alone_and_the_batch_is_bisected(post_signed, fake_hubspot):
    # An admin turned one of our properties into a dropdown without our value; only one person has a value for it
    # (empty values are omitted). (A property the portal lacks altogether is created by the sync instead:
    # test_journey_properties.py.)
    fake_hubspot.fake.properties["contacts"]["sourcebook_self_reported_source"] = {
        "type": "enumeration", "fieldType": "select", "options": ["podcast"]}
    for i in range(16):
        qa = [{"question": "How did you hear about us?", "answer": "ChatGPT"}] if i == 11 else []
        post_signed(invitee_payload(invitee_id=f"I{i}", email=f"p{i}@example.com", questions_and_answers=qa))
    sync_drain(max_seconds=20)
    states = dict(BookingSync.objects.values_list("booking__email", "state"))
    assert states.pop("p11@example.com") == "dead"
    assert set(states.values()) == {"synced"} and len(states) == 15
    dead = BookingSync.objects.get(state="dead")
    assert "INVALID_OPTION" in dead.last_error and "chatgpt" in dead.last_error
    assert dead.last_request["inputs"][0]["id"] == "p11@example.com"
    state = fake_state(fake_hubspot)
    assert len(state["contacts"]) == 15 and len(state["meetings"]) == 15
    assert upserts(state) <= 2 * math.log2(16) + 1  # bisected, not sent one by one


def test_one_bad_meeting_update_dead_letters_alone(post_signed, fake_hubspot):
    for i in range(4):
        post_signed(invitee_payload(invitee_id=f"I{i}", email=f"p{i}@example.com"))
    sync_drain(max_seconds=10)
    # HubSpot refuses NO_SHOW in this portal (an admin removed the option): the batch update is a 400.
    fake_hubspot.fake.properties["meetings"]["hs_meeting_outcome"]["options"].remove("NO_SHOW")
    post_signed(invitee_payload(invitee_id="I2", email="p2@example.com", event=calendly.NO_SHOW_CREATED))
    outbox.sync_requeue(booking_ids=list(Booking.objects.values_list("id", flat=True)))
    sync_drain(max_seconds=10)
    states = dict(BookingSync.objects.values_list("booking__email", "state"))
    assert states == {"p0@example.com": "synced", "p1@example.com": "synced", "p2@example.com": "dead",
                      "p3@example.com": "synced"}
    assert "INVALID_OPTION" in BookingSync.objects.get(state="dead").last_error


# --- a meeting deleted in HubSpot is created again ------------------------------------------------

@pytest.mark.parametrize("mode", ["404", "207"])
def test_a_meeting_deleted_in_hubspot_is_created_again(post_signed, fake_hubspot, mode):
    httpx.post(f"{fake_hubspot.url}/__fake__/config", json={"missing_on_update": mode})
    post_signed(invitee_payload(invitee_id="A", email="a@example.com"))
    post_signed(invitee_payload(invitee_id="B", email="b@example.com"))
    sync_drain(max_seconds=10)
    a = Booking.objects.get(email="a@example.com")
    old_id = a.hubspot_meeting_id
    httpx.delete(f"{fake_hubspot.url}/crm/objects/{V}/meetings/{old_id}", headers={"Authorization": "Bearer fake-token"})
    post_signed(invitee_payload(invitee_id="A", email="a@example.com", event=calendly.NO_SHOW_CREATED))
    post_signed(invitee_payload(invitee_id="B", email="b@example.com", event=calendly.NO_SHOW_CREATED))
    sync_drain(max_seconds=10)
    assert set(BookingSync.objects.values_list("state", flat=True)) == {"synced"}
    a.refresh_from_db()
    assert a.hubspot_meeting_id and a.hubspot_meeting_id != old_id
    meetings = {m["id"]: m for m in fake_state(fake_hubspot)["meetings"]}
    assert meetings[a.hubspot_meeting_id]["properties"]["hs_meeting_outcome"] == "NO_SHOW"
    assert meetings[a.hubspot_meeting_id]["contacts"] == [a.hubspot_contact_id]
    assert meetings[Booking.objects.get(email="b@example.com").hubspot_meeting_id]["properties"]["hs_meeting_outcome"] == "NO_SHOW"
    assert len(meetings) == 2


# --- the daily limit -------------------------------------------------------------------------------

def test_a_daily_429_pauses_sync_until_the_portals_midnight_and_shows_in_healthz(post_signed, fake_hubspot, settings):
    settings.HUBSPOT_ACCOUNT_TIME_ZONE = "America/New_York"
    post_signed(invitee_payload(invitee_id="A"))
    httpx.post(f"{fake_hubspot.url}/__fake__/config", json={"daily_limit": 1})  # the upsert passes, the create hits it
    sync_drain(max_seconds=5)
    sync = BookingSync.objects.get()
    zone = ZoneInfo("America/New_York")
    midnight = datetime.combine(timezone.now().astimezone(zone).date() + timedelta(days=1), datetime.min.time(), tzinfo=zone)
    assert sync.state == "pending" and sync.attempts == 0
    assert abs((sync.next_attempt_at - midnight).total_seconds()) < 1  # not 10 s later
    assert HubspotConnection.objects.get().daily_limit_until == midnight
    before = fake_state(fake_hubspot)["requests"]
    BookingSync.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    assert sync_drain(max_seconds=2).claimed == 0  # nothing is claimed or sent before the reset
    assert fake_state(fake_hubspot)["requests"] == before

    from project.health import health_report

    _, checks = health_report()
    assert checks["hubspot"]["ok"] is False
    assert checks["hubspot"]["daily_limit_until"] == midnight.astimezone(dt_timezone.utc).isoformat()

    HubspotConnection.objects.update(daily_limit_until=timezone.now() - timedelta(seconds=1))  # the reset passed
    httpx.post(f"{fake_hubspot.url}/__fake__/config", json={"daily_limit": 0})
    sync_drain(max_seconds=5)
    assert BookingSync.objects.get().state == "synced"


def test_without_a_known_time_zone_the_pause_ends_at_the_next_full_hour(post_signed, fake_hubspot, settings):
    settings.HUBSPOT_ACCOUNT_TIME_ZONE = ""
    post_signed(invitee_payload(invitee_id="A"))
    httpx.post(f"{fake_hubspot.url}/__fake__/config", json={"daily_limit": 1})
    sync_drain(max_seconds=5)
    until = HubspotConnection.objects.get().daily_limit_until
    assert until.minute == 0 and until.second == 0 and timedelta(0) < until - timezone.now() <= timedelta(hours=1)


def test_hubspot_setup_stores_the_portal_time_zone(fake_hubspot, capsys):
    httpx.post(f"{fake_hubspot.url}/__fake__/config", json={"time_zone": "Europe/Paris"})
    call_command("hubspot_setup")
    assert "portal time zone: Europe/Paris" in capsys.readouterr().out
    assert HubspotConnection.objects.get().portal_time_zone == "Europe/Paris"


# --- an empty string is never sent -----------------------------------------------------------------

def test_a_one_word_name_never_wipes_the_last_name(post_signed, fake_hubspot):
    post_signed(invitee_payload(invitee_id="A", email="dana@example.com", name="Dana Reyes"))
    sync_drain(max_seconds=5)
    post_signed(invitee_payload(invitee_id="B", email="dana@example.com", name="Dana"))
    sync_drain(max_seconds=5)
    contact = fake_state(fake_hubspot)["contacts"]["dana@example.com"]
    assert contact["firstname"] == "Dana" and contact["lastname"] == "Reyes"


def test_no_payload_carries_an_empty_value(post_signed, settings):
    settings.HUBSPOT_ACCESS_TOKEN = ""  # dry run records exactly what would be sent
    post_signed(invitee_payload(invitee_id="A", email="cher@example.com", name="Cher"))
    sent = BookingSync.objects.get()
    sync_drain(max_seconds=2)
    sent.refresh_from_db()
    contact = sent.last_request["contacts_batch_upsert"]["inputs"][0]["properties"]
    [meeting] = sent.last_request["meetings"]
    assert "" not in contact.values() and "" not in meeting.values() and None not in meeting.values()
    assert "lastname" not in contact


# --- links a person can open -----------------------------------------------------------------------

def test_the_meeting_links_to_the_invitees_calendly_page(post_signed, fake_hubspot):
    post_signed(invitee_payload(invitee_id="4b1c0e2a-aaaa-bbbb-cccc-1234567890ab"))
    sync_drain(max_seconds=5)
    [meeting] = fake_state(fake_hubspot)["meetings"]
    url = meeting["properties"]["hs_meeting_external_url"]
    assert url == "https://calendly.com/reschedulings/4b1c0e2a-aaaa-bbbb-cccc-1234567890ab"
    assert "api.calendly.com" not in url


# --- meeting search follows paging ---------------------------------------------------------------

def test_meeting_search_reads_every_page(fake_hubspot):
    uri = "https://api.calendly.com/scheduled_events/E/invitees/I"
    with fake_hubspot.fake.lock:  # duplicates left by earlier ambiguous creates: more than one page
        for _ in range(250):
            meeting_id = fake_hubspot.fake._id()
            fake_hubspot.fake.meetings[meeting_id] = {"id": meeting_id, "properties": {"sourcebook_booking_uri": uri},
                                                      "contacts": []}
    client = hubspot_client()
    try:
        found = client.meetings_search_by_property("sourcebook_booking_uri", [uri, "other"])
    finally:
        client.close()
    assert len(found) == 250 and len({m["id"] for m in found}) == 250


# --- scopes ------------------------------------------------------------------------------------------

def test_the_scope_check_asks_for_deal_scopes_when_a_deal_rule_is_enabled(fake_hubspot, capsys):
    httpx.post(f"{fake_hubspot.url}/__fake__/config", json={"scopes": [
        "crm.objects.contacts.read", "crm.objects.contacts.write", "crm.schemas.contacts.write"]})
    # Deal and owner mappings off: contacts alone need only the contact scopes.
    PropertyMapping.objects.filter(Q(object_type="deals") | Q(sourcebook_field="owner")).update(policy="never")
    call_command("hubspot_setup")
    assert "token scopes: ok" in capsys.readouterr().out
    DealRule.objects.create(enabled=True, event_type_name="Product demo", pipeline_id="default", stage_id="qualifiedtobuy")
    call_command("hubspot_setup")
    assert "token scopes: missing crm.objects.deals.read, crm.objects.deals.write" in capsys.readouterr().out
    PropertyMapping.objects.filter(sourcebook_field="owner").update(policy="if_empty")
    call_command("hubspot_setup")
    assert "crm.objects.owners.read" in capsys.readouterr().out
    PropertyMapping.objects.filter(object_type="deals").update(policy="always")
    call_command("hubspot_setup")
    assert "crm.schemas.deals.write" in capsys.readouterr().out


# --- reconnecting a broken OAuth connection -----------------------------------------------------

@pytest.fixture
def broken_oauth(settings, fake_hubspot, post_signed):
    settings.HUBSPOT_ACCESS_TOKEN = ""
    settings.HUBSPOT_CLIENT_ID = "fake-client"
    settings.HUBSPOT_CLIENT_SECRET = "fake-secret"
    settings.HUBSPOT_REFRESH_TOKEN = "stolen"
    post_signed(invitee_payload(invitee_id="A"))
    sync_drain(max_seconds=2)
    assert HubspotConnection.objects.get().state == "broken"
    return fake_hubspot


def _resume(fake_hubspot):
    BookingSync.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    sync_drain(max_seconds=5)
    assert BookingSync.objects.get().state == "synced"
    assert len(fake_state(fake_hubspot)["meetings"]) == 1


def test_the_command_reconnects_with_a_new_refresh_token(broken_oauth, capsys):
    call_command("hubspot_connect", refresh_token="fake-refresh-0")
    assert "ok again" in capsys.readouterr().out
    conn = HubspotConnection.objects.get()
    assert conn.state == "ok" and conn.broken_reason == "" and conn.refresh_token == "fake-refresh-1"
    _resume(broken_oauth)


def test_the_command_reconnects_with_an_authorization_code(broken_oauth):
    call_command("hubspot_connect", code="fake-code", redirect_uri="https://sourcebook.example.com/oauth/callback")
    assert HubspotConnection.objects.get().state == "ok"
    _resume(broken_oauth)


def test_a_refused_reconnect_says_why_and_stays_broken(broken_oauth):
    with pytest.raises(CommandError, match="BAD_REFRESH_TOKEN"):
        call_command("hubspot_connect", refresh_token="also-stolen")
    assert HubspotConnection.objects.get().state == "broken"


def test_the_admin_reconnects_and_never_shows_the_token(broken_oauth, client):
    client.force_login(User.objects.create_superuser("root", "r@example.com", "pw-123456789"))
    conn = HubspotConnection.objects.get()
    listing = client.post("/admin/hubspot_sync/hubspotconnection/", {"action": "reconnect", "_selected_action": [conn.pk]})
    url = f"/admin/hubspot_sync/hubspotconnection/{conn.pk}/reconnect/"
    assert listing.status_code == 302 and listing["Location"] == url
    assert "Reconnect" in client.get(url).content.decode()
    refused = client.post(url, {"refresh_token": "also-stolen"})
    assert refused.status_code == 200 and "BAD_REFRESH_TOKEN" in refused.content.decode()
    assert "also-stolen" not in refused.content.decode()
    done = client.post(url, {"refresh_token": "fake-refresh-0"})
    assert done.status_code == 302
    assert HubspotConnection.objects.get().state == "ok"
    page = client.get(f"/admin/hubspot_sync/hubspotconnection/{conn.pk}/change/").content.decode()
    assert "fake-refresh-1" not in page and "Reconnect HubSpot" in page
    _resume(broken_oauth)


def test_a_revoked_private_token_is_cleared_after_the_token_is_fixed(post_signed, fake_hubspot, settings):
    settings.HUBSPOT_ACCESS_TOKEN = "revoked"
    post_signed(invitee_payload(invitee_id="A"))
    sync_drain(max_seconds=2)
    assert HubspotConnection.objects.get().state == "broken"
    with pytest.raises(CommandError):
        call_command("hubspot_connect")
    settings.HUBSPOT_ACCESS_TOKEN = "fake-token"
    call_command("hubspot_connect")
    assert HubspotConnection.objects.get().state == "ok"
