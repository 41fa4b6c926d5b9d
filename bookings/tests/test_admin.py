import pytest
from django.contrib.auth.models import User

from bookings import calendly
from bookings.models import Booking, WebhookDelivery
from bookings.samples import invitee_payload

from .factories import WebhookDeliveryFactory, staff_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw-123456789"))
    return client


@pytest.fixture
def bookings(post_signed):
    post_signed(invitee_payload(invitee_id="A", email="ada@example.com", name="Ada Lovelace",
                                tracking={"utm_source": "google", "utm_medium": "cpc", "utm_campaign": "brand_202606"}))
    post_signed(invitee_payload(invitee_id="B", email="bob@example.com", name="Bob Stone",
                                tracking={"utm_source": "linkedin", "utm_medium": "paid", "utm_campaign": "spring_202606"}))
    post_signed(invitee_payload(invitee_id="B", email="bob@example.com", event=calendly.INVITEE_CANCELED))


def test_sales_list_filters_and_search(admin_client, bookings):
    page = admin_client.get("/admin/bookings/booking/").content.decode()
    assert "ada@example.com" in page and "bob@example.com" in page
    canceled = admin_client.get("/admin/bookings/booking/?status__exact=canceled").content.decode()
    assert "bob@example.com" in canceled and "ada@example.com" not in canceled
    by_channel = admin_client.get("/admin/bookings/booking/?channel__exact=Paid+Search").content.decode()
    assert "ada@example.com" in by_channel and "bob@example.com" not in by_channel
    found = admin_client.get("/admin/bookings/booking/?q=bob").content.decode()
    assert "bob@example.com" in found and "ada@example.com" not in found
    by_campaign = admin_client.get("/admin/bookings/booking/?campaign__exact=spring_202606").content.decode()
    assert "bob@example.com" in by_campaign and "ada@example.com" not in by_campaign
    # Channel choices come from the report rollup (cheap at a million bookings); source and campaign are a box.
    assert "?channel__exact=Paid+Search" in page and 'name="source__exact"' in page
    by_source = admin_client.get("/admin/bookings/booking/?source__exact=linkedin").content.decode()
    assert "bob@example.com" in by_source and "ada@example.com" not in by_source


def test_booking_page_shows_raw_tracking_and_links_to_deliveries(admin_client, bookings):
    booking = Booking.objects.get(email="bob@example.com")
    page = admin_client.get(f"/admin/bookings/booking/{booking.pk}/change/").content.decode()
    assert "&quot;utm_campaign&quot;: &quot;spring_202606&quot;" in page
    assert f"/admin/bookings/webhookdelivery/?invitee_uri={booking.invitee_uri}" in page
    deliveries = admin_client.get(f"/admin/bookings/webhookdelivery/?invitee_uri={booking.invitee_uri}").content.decode()
    assert deliveries.count("invitee.canceled") >= 1 and "invitee.created" in deliveries


def test_delivery_page_pretty_prints_the_body(admin_client, bookings):
    delivery = WebhookDelivery.objects.first()
    page = admin_client.get(f"/admin/bookings/webhookdelivery/{delivery.pk}/change/").content.decode()
    assert "&quot;event&quot;: &quot;" in page
    assert "calendly-webhook-signature" in page


def test_replay_action_turns_a_failed_delivery_into_a_booking(admin_client):
    delivery = WebhookDeliveryFactory(state=WebhookDelivery.State.FAILED, error="was broken before a fix")
    response = admin_client.post("/admin/bookings/webhookdelivery/", {
        "action": "replay", "_selected_action": [delivery.pk]}, follow=True)
    assert "Replayed: 1 processed" in response.content.decode()
    delivery.refresh_from_db()
    assert delivery.state == "processed" and delivery.error == ""
    assert Booking.objects.filter(invitee_uri=delivery.invitee_uri).exists()


def test_sales_can_view_but_not_change(client, bookings):
    client.force_login(staff_user("sam", "view_booking", "view_webhookdelivery"))
    booking = Booking.objects.first()
    assert client.get("/admin/bookings/booking/").status_code == 200
    page = client.get(f"/admin/bookings/booking/{booking.pk}/change/")
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert client.post(f"/admin/bookings/booking/{booking.pk}/change/", {"email": "x@example.com"}).status_code == 403
    assert client.post(f"/admin/bookings/booking/{booking.pk}/delete/", {"post": "yes"}).status_code == 403
    deliveries = client.get("/admin/bookings/webhookdelivery/").content.decode()
    assert "Replay selected" not in deliveries
    assert Booking.objects.get(pk=booking.pk).email == booking.email
