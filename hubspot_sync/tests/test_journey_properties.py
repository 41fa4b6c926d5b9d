"""The contact in HubSpot carries the visitor's journey: first touch (source, medium, campaign, landing page,
date), last non-direct touch, the number of touches and the days from first touch to booking."""

import datetime as dt
import json

import pytest
from django.test import Client
from django.utils import timezone

from bookings.samples import invitee_payload
from hubspot_sync.services.payloads import CONTACT_PROPERTIES, contact_properties
from hubspot_sync.services.sync import sync_drain
from journeys.models import Touch
from journeys.services import visitor_id_new
from journeys.tests.conftest import CHROME, ORIGIN

from .conftest import fake_state

pytestmark = pytest.mark.django_db
LANDING = "https://www.example.com/blog/post?utm_source=LinkedIn&utm_medium=paid_social&utm_campaign=spring_202606"


@pytest.fixture(autouse=True)
def _site_origins(settings):
    settings.SOURCEBOOK_SITE_ORIGINS = [ORIGIN]


def beacon(vid, url, ref=""):
    response = Client(enforce_csrf_checks=True).post(
        "/collect/", data=json.dumps({"v": vid, "url": url, "ref": ref, "k": "session"}), content_type="text/plain",
        headers={"Origin": ORIGIN, "User-Agent": CHROME})
    assert response.status_code == 204


def test_the_contact_gets_first_and_last_touch_from_the_journey(post_signed, fake_hubspot):
    vid = visitor_id_new()
    beacon(vid, LANDING)
    beacon(vid, "https://www.example.com/pricing", ref="https://www.google.com/")
    Touch.objects.filter(visitor_id=vid, landing_path="/blog/post").update(at=timezone.now() - dt.timedelta(days=3))
    assert post_signed(invitee_payload(invitee_id="JP1", email="jo@example.com", booked_at=timezone.now(),
                                       tracking={"utm_term": vid})).status_code == 200
    assert sync_drain(max_seconds=10).synced == 1
    contact = fake_state(fake_hubspot)["contacts"]["jo@example.com"]
    assert contact["sourcebook_first_touch_source"] == "linkedin"
    assert contact["sourcebook_first_touch_medium"] == "paid_social"
    assert contact["sourcebook_first_touch_campaign"] == "spring_202606"
    assert contact["sourcebook_first_touch_landing_page"] == "/blog/post"
    assert contact["sourcebook_last_touch_channel"] == "Organic Search"
    assert contact["sourcebook_touches"] == "2"
    assert contact["sourcebook_days_to_booking"] == "3"
    assert contact["sourcebook_first_touch_at"].startswith((timezone.now() - dt.timedelta(days=3)).strftime("%Y-%m-%d"))


def test_a_person_without_a_journey_sends_no_journey_properties(post_signed, fake_hubspot):
    assert post_signed(invitee_payload(invitee_id="JP2", email="no@example.com",
                                       tracking={"utm_source": "google", "utm_medium": "cpc"})).status_code == 200
    assert sync_drain(max_seconds=10).synced == 1
    contact = fake_state(fake_hubspot)["contacts"]["no@example.com"]
    assert not [name for name in contact if "_touch" in name or name in ("sourcebook_touches", "sourcebook_days_to_booking")]


def test_every_property_we_send_is_one_hubspot_setup_creates():
    from bookings.tests.factories import BookingFactory

    t = timezone.now()
    booking = BookingFactory.build(id=1, first_touch_at=t - dt.timedelta(days=1), first_touch_source="x", last_touch_at=t,
                                   last_touch_channel="Email", touch_count=3, first_touch_landing_path="/p")
    sent = set(contact_properties(bookings=[booking]))
    declared = {name for name, *_ in CONTACT_PROPERTIES} | {"email", "firstname", "lastname"}
    assert sent <= declared, sent - declared


@pytest.fixture
def bare_hubspot(start_fake_hubspot):
    """A fake HubSpot portal that has never seen Sourcebook's properties (an install from before they existed)."""
    return start_fake_hubspot(seed=3, preset=False)


def test_a_portal_missing_our_properties_gets_them_and_the_contact_syncs(post_signed, bare_hubspot):
    assert post_signed(invitee_payload(invitee_id="JP3", email="new@example.com",
                                       tracking={"utm_source": "google", "utm_medium": "cpc"})).status_code == 200
    report = sync_drain(max_seconds=10)
    assert report.synced == 1 and report.dead == 0
    contact = fake_state(bare_hubspot)["contacts"]["new@example.com"]
    assert contact["sourcebook_last_utm_source"] == "google"
