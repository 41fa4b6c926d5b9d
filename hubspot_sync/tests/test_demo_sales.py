"""`make run`'s demo sales team opens deals in the fake HubSpot through the public API for held meetings, and reads
them back: the dashboard has money from the first minute. Deterministic and safe to run again."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from bookings.models import Booking
from bookings.samples import invitee_payload
from hubspot_sync.models import Deal
from hubspot_sync.services.sync import sync_drain

pytestmark = pytest.mark.django_db


def test_demo_sales_opens_deals_for_held_meetings_and_reads_them_back(post_signed, fake_hubspot, capsys, settings):
    fake_hubspot.fake.config.search_per_second = 0
    settings.HUBSPOT_DEAL_READ_LAG_SECONDS = 0  # the fake has no search index to wait for
    past = timezone.now() - timedelta(days=3)
    for i in range(12):
        post_signed(invitee_payload(invitee_id=f"H{i}", event_id=f"EH{i}", email=f"held{i}@example.com",
                                    booked_at=past - timedelta(days=1), start_time=past))
    post_signed(invitee_payload(invitee_id="F", event_id="EF", email="future@example.com", booked_at=past,
                                start_time=timezone.now() + timedelta(days=2)))
    sync_drain(max_seconds=20)
    assert Booking.objects.exclude(hubspot_contact_id="").count() == 13

    call_command("demo_sales", "--once", "--share", "0.5")
    deals = list(Deal.objects.select_related("last_booking"))
    assert 2 <= len(deals) <= 11  # about half of the twelve held meetings (a hash decides, not the clock)
    assert all(d.last_booking.email.startswith("held") for d in deals)  # a meeting still ahead gets no deal yet
    assert {d.closed_won or d.closed_lost or bool(d.stage) for d in deals} == {True}
    out = capsys.readouterr().out
    assert f"{len(deals)} deals opened in HubSpot" in out and f"{len(deals)} deals read back" in out

    call_command("demo_sales", "--once", "--share", "0.5")  # a second run (make run again) opens none twice
    assert Deal.objects.count() == len(deals)
    assert len(fake_hubspot.fake.deals) == len(deals)
