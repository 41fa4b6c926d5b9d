"""`make run` seeds journeys: seed_demo calls seed_journeys, whose bookings carry visitor ids with touches."""

import pytest
from django.core.management import call_command

from bookings.models import Booking
from journeys.models import Touch
from journeys.selectors import booking_visitor_ids, journey_get

pytestmark = pytest.mark.django_db


def test_seed_demo_creates_journeys(capsys):
    call_command("seed_demo", "--count", "10")
    out = capsys.readouterr().out
    assert "0 not accepted" in out and out.count("not accepted)") == 2
    booked = [b for b in Booking.objects.filter(invitee_uri__contains="-journey-").order_by("id")]
    assert len(booked) == 12
    with_touches = [b for b in booked if Touch.objects.filter(visitor_id__in=booking_visitor_ids(b)).exists()]
    assert len(with_touches) == 12
    channels = set(Touch.objects.values_list("channel", flat=True))
    assert {"Paid Social", "Organic Search", "AI Assistants", "Email", "Paid Search"} <= channels
    click = Touch.objects.get(kind="click", visitor_id__in=booking_visitor_ids(booked[2]))
    assert click.link.utm_source == "newsletter" and click.link.click_count == 4
    # Every touch comes before its booking, and the journey lists them in order.
    journey = journey_get(email=booked[0].email)
    kinds = [e["type"] for e in journey["events"]]
    assert kinds[-1] == "booking" and kinds.count("touch") == 2
    assert [e["at"] for e in journey["events"]] == sorted(e["at"] for e in journey["events"])
    landing = journey["events"][0]
    assert landing["channel"] == "Paid Social" and landing["landing_path"] == "/blog/lost-utms"


def test_seeding_again_adds_no_touches(capsys):
    call_command("seed_journeys", "--people", "3")
    count = Touch.objects.count()
    call_command("seed_demo", "--count", "5")
    call_command("seed_journeys")
    assert "already present" in capsys.readouterr().out
    assert Touch.objects.count() == count
