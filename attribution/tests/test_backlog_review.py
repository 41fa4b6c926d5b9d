"""Review findings on the (direct) backlog's assignment: a confirm changes only bookings still in the backlog."""

import pytest

from attribution.models import ManualAttribution
from attribution.tests.conftest import assign_confirmed
from attribution.tests.test_backlog import JUNE_QUERY, marketing, said  # noqa: F401 (fixtures)
from bookings.models import Booking

pytestmark = pytest.mark.django_db
URL = f"/dashboard/direct/?{JUNE_QUERY}"


def test_a_confirm_leaves_a_tagged_booking_slipped_into_the_ids_alone(marketing, said):
    direct = Booking.objects.filter(channel="Direct").order_by("pk").first()
    tagged = Booking.objects.exclude(channel="Direct").get()
    assign_confirmed(marketing, {"booking": [direct.pk, tagged.pk], "source": "g2", "channel": "Referral"}, url=URL)
    tagged.refresh_from_db()
    assert tagged.attributed_by != "manual" and tagged.channel != "Referral"
    assert list(ManualAttribution.objects.values_list("booking_id", flat=True)) == [direct.pk]


def test_a_double_submitted_confirm_assigns_once(marketing, said):
    first, second = Booking.objects.filter(channel="Direct").order_by("pk")[:2]
    data = {"booking": [first.pk], "source": "g2", "channel": "Referral"}
    preview = marketing.post(URL, data)
    confirm = {**data, "confirm": "1", "previewed": preview.context["preview"]["signature"]}
    marketing.post(URL, confirm)
    marketing.post(URL, {**confirm, "booking": [first.pk, second.pk]})  # resubmitted with another id added
    assert ManualAttribution.objects.filter(booking=first).count() == 1
