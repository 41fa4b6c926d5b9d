import pytest
from django.core.management import call_command

from bookings.models import Booking, WebhookDelivery

pytestmark = pytest.mark.django_db


def test_demo_data_goes_through_the_real_endpoint(capsys):
    call_command("seed_demo", "--count", "120")
    assert "0 not accepted" in capsys.readouterr().out
    assert WebhookDelivery.objects.exclude(state="processed").count() == 0
    assert WebhookDelivery.objects.filter(signature_valid=True).count() == WebhookDelivery.objects.count()
    bookings = Booking.objects.exclude(invitee_uri__contains="-journey-")  # seed_journeys' visitors who book
    assert bookings.count() == 122  # 120 + the two halves of one reschedule
    assert bookings.filter(status="canceled").exists()
    assert bookings.filter(no_show=True).exists()
    assert bookings.filter(rescheduled=True).count() == 1
    assert bookings.filter(rescheduled_from__isnull=False).count() == 1
    assert bookings.filter(channel="Direct").count() > 10
    assert {"Paid Search", "Paid Social", "AI Assistants", "Email", "Unassigned"} <= set(bookings.values_list("channel", flat=True))


def test_running_it_again_adds_nothing(capsys):
    call_command("seed_demo", "--count", "20")
    count = Booking.objects.count()
    call_command("seed_demo")
    assert "already present" in capsys.readouterr().out
    assert Booking.objects.count() == count
