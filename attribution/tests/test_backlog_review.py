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


def test_a_bulk_confirm_for_another_period_than_previewed_is_previewed_again(marketing, said):
    data = {"answer": "linkedin", "source": "linkedin", "channel": "Paid Social"}
    preview = marketing.post(URL, data)
    assert preview.context["preview"]["moving"] == 3
    # The same confirm posted to the whole history (a stale tab, an edited URL) would also move the May booking.
    again = marketing.post("/dashboard/direct/?range=all",
                           {**data, "confirm": "1", "previewed": preview.context["preview"]["signature"]})
    assert again.status_code == 200 and again.context["preview"]["moving"] == 4
    assert ManualAttribution.objects.count() == 0


def test_a_bulk_confirm_after_the_backlog_grew_is_previewed_again(marketing, said, book):
    data = {"answer": "linkedin", "source": "linkedin", "channel": "Paid Social"}
    preview = marketing.post(URL, data)
    book(days=6, answer="LinkedIn")  # one more booking says LinkedIn between the preview and the confirm
    again = marketing.post(URL, {**data, "confirm": "1", "previewed": preview.context["preview"]["signature"]})
    assert again.status_code == 200 and again.context["preview"]["moving"] == 4
    assert ManualAttribution.objects.count() == 0
    assign_confirmed(marketing, data, url=URL)
    assert ManualAttribution.objects.count() == 4


def test_two_confirms_at_once_assign_each_booking_once(marketing, said, monkeypatch):
    """Two confirms (a double click) both read the backlog before either commits: the second one's ids are stale
    by the time it locks them, and it must not audit a second assignment on top of the first."""
    from attribution import selectors
    first = Booking.objects.filter(channel="Direct").order_by("pk").first()
    data = {"booking": [first.pk], "source": "g2", "channel": "Referral"}
    preview = marketing.post(URL, data)
    confirm = {**data, "confirm": "1", "previewed": preview.context["preview"]["signature"]}
    stale = selectors.direct_backlog_ids(booking_ids=[first.pk])
    marketing.post(URL, confirm)
    monkeypatch.setattr(selectors, "direct_backlog_ids", lambda **kwargs: stale)  # read before the first committed
    marketing.post(URL, confirm)
    assert ManualAttribution.objects.filter(booking=first).count() == 1


def test_a_bulk_confirm_for_another_answer_than_previewed_is_previewed_again(marketing, said, book):
    book(days=6, answer="Reddit")  # as many as said ChatGPT: the count alone can't tell the two apart
    data = {"answer": "chatgpt", "source": "g2", "channel": "Referral"}
    preview = marketing.post(URL, data)
    assert preview.context["preview"]["moving"] == 1 and preview.context["preview"]["signature"]
    again = marketing.post(URL, {**data, "answer": "reddit", "confirm": "1",
                                 "previewed": preview.context["preview"]["signature"]})
    assert again.status_code == 200 and again.context["preview"]["moving"] == 1, again.status_code
    assert ManualAttribution.objects.count() == 0
