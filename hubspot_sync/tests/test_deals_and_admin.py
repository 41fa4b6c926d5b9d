import httpx
import pytest
from django.contrib.auth.models import User

from bookings.samples import invitee_payload
from hubspot_sync.models import BookingSync, DealRule, HubspotConnection
from hubspot_sync.services.sync import sync_drain

from .conftest import fake_state

pytestmark = pytest.mark.django_db


def test_deal_rules_are_off_by_default(post_signed, fake_hubspot):
    post_signed(invitee_payload(invitee_id="A", event_type_name="Product demo"))
    sync_drain(max_seconds=5)
    assert fake_state(fake_hubspot)["deals"] == []


def test_a_demo_booking_creates_one_deal_and_never_moves_it_backwards(post_signed, fake_hubspot):
    DealRule.objects.create(enabled=True, event_type_name="Product demo", pipeline_id="default", stage_id="qualifiedtobuy")
    post_signed(invitee_payload(invitee_id="A", email="dana@example.com", event_type_name="Product demo"))
    post_signed(invitee_payload(invitee_id="B", email="sam@example.com", event_type_name="Intro call"))
    sync_drain(max_seconds=5)
    deals = fake_state(fake_hubspot)["deals"]
    assert len(deals) == 1 and deals[0]["properties"]["dealstage"] == "qualifiedtobuy"
    # The deal moves on in HubSpot; a second demo booking must not pull it back or open another deal.
    deal_id = deals[0]["id"]
    httpx.patch(f"{fake_hubspot.url}/crm/objects/2026-09/deals/{deal_id}", json={"properties": {"dealstage": "contractsent"}},
                headers={"Authorization": "Bearer fake-token"})
    post_signed(invitee_payload(invitee_id="C", email="dana@example.com", event_type_name="Product demo"))
    sync_drain(max_seconds=5)
    deals = fake_state(fake_hubspot)["deals"]
    assert len(deals) == 1 and deals[0]["properties"]["dealstage"] == "contractsent"


def test_an_earlier_open_deal_is_advanced_not_duplicated(post_signed, fake_hubspot):
    DealRule.objects.create(enabled=True, event_type_name="Product demo", pipeline_id="default", stage_id="presentationscheduled")
    post_signed(invitee_payload(invitee_id="A", email="lee@example.com", event_type_name="Intro call"))
    sync_drain(max_seconds=5)
    contact_id = fake_state(fake_hubspot)["contacts"]["lee@example.com"]["id"]
    created = httpx.post(f"{fake_hubspot.url}/crm/objects/2026-09/deals", headers={"Authorization": "Bearer fake-token"}, json={
        "properties": {"dealname": "Lee", "pipeline": "default", "dealstage": "appointmentscheduled"},
        "associations": [{"to": {"id": contact_id}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 3}]}]})
    assert created.status_code == 201
    post_signed(invitee_payload(invitee_id="B", email="lee@example.com", event_type_name="Product demo"))
    sync_drain(max_seconds=5)
    deals = fake_state(fake_hubspot)["deals"]
    assert len(deals) == 1 and deals[0]["properties"]["dealstage"] == "presentationscheduled"


def test_dead_letters_are_listed_with_bodies_and_can_be_retried_or_discarded(post_signed, fake_hubspot, client):
    post_signed(invitee_payload(invitee_id="A", email="broken-address"))
    post_signed(invitee_payload(invitee_id="B", email="also-broken"))
    sync_drain(max_seconds=5)
    client.force_login(User.objects.create_superuser("root", "r@example.com", "pw-123456789"))
    assert list(BookingSync.objects.values_list("state", flat=True)) == ["dead", "dead"]
    listing = client.get("/admin/hubspot_sync/bookingsync/").content.decode()
    assert "broken-address (active)" in listing and "dead letter" in listing
    first, second = BookingSync.objects.order_by("pk")
    page = client.get(f"/admin/hubspot_sync/bookingsync/{first.pk}/change/").content.decode()
    assert "request sent" in page.lower() and "&quot;idProperty&quot;: &quot;email&quot;" in page and "INVALID_EMAIL" in page
    client.post("/admin/hubspot_sync/bookingsync/", {"action": "retry", "_selected_action": [first.pk]})
    client.post("/admin/hubspot_sync/bookingsync/", {"action": "discard", "_selected_action": [second.pk]})
    assert BookingSync.objects.get(pk=first.pk).state == "pending"
    assert BookingSync.objects.get(pk=second.pk).state == "discarded"


def test_tokens_never_appear_in_the_admin(client):
    HubspotConnection.objects.create(name="default", access_token="secret-access-123", refresh_token="secret-refresh-456")
    client.force_login(User.objects.create_superuser("root", "r@example.com", "pw-123456789"))
    conn = HubspotConnection.objects.get()
    page = client.get(f"/admin/hubspot_sync/hubspotconnection/{conn.pk}/change/").content.decode()
    assert "secret-access-123" not in page and "secret-refresh-456" not in page and "set (hidden)" in page
