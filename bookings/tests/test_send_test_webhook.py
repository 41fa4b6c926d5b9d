import pytest
from django.core.management import call_command

from bookings.models import Booking, WebhookDelivery


@pytest.mark.django_db(transaction=True)
def test_it_posts_a_signed_booking_to_a_live_server(live_server, capsys):
    call_command("send_test_webhook", "--url", f"{live_server.url}/webhooks/calendly/", "--utm-source", "google",
                 "--utm-medium", "cpc", "--email", "check@example.com", "--key", "test-signing-key")
    assert capsys.readouterr().out.startswith("200 ")
    booking = Booking.objects.get()
    assert (booking.email, booking.source, booking.channel) == ("check@example.com", "google", "Paid Search")


@pytest.mark.django_db(transaction=True)
def test_a_wrong_key_exits_non_zero(live_server, capsys):
    with pytest.raises(SystemExit) as exit_info:
        call_command("send_test_webhook", "--url", f"{live_server.url}/webhooks/calendly/", "--key", "wrong")
    assert exit_info.value.code == 1
    assert capsys.readouterr().out.startswith("401 ")
    assert WebhookDelivery.objects.get().state == "rejected"
