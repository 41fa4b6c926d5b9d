"""A destination that hangs never slows a webhook: nothing is sent on the request path.

Celery runs eagerly here, so if intake ever queued a notification (or kicked the send task), the send would run
inside the request and this destination — which accepts connections and never answers — would hold it."""

import socket
import threading
import time

import pytest

from alerts.channels import Message
from alerts.models import Destination, Notification
from alerts.services.outbox import notify
from bookings.models import Booking
from bookings.samples import invitee_payload

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def hanging_url():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held = []
    stop = threading.Event()

    def accept():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])  # accept, read nothing, answer nothing
            except OSError:
                continue

    threading.Thread(target=accept, daemon=True).start()
    yield f"json://127.0.0.1:{server.getsockname()[1]}/hook"
    stop.set()
    for conn in held:
        conn.close()
    server.close()


def test_webhooks_answer_at_once_while_a_destination_hangs(settings, post_signed, hanging_url):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    Destination.objects.create(name="hangs", url=hanging_url)
    # Eager: this send waits out apprise's timeout here, before the clock starts, and stays pending for a retry.
    notify("ops", Message(subject="pending before the webhooks", text="t"))
    started = time.monotonic()
    for i in range(3):
        response = post_signed(invitee_payload(invitee_id=f"hang-{i}", email=f"p{i}@example.com"))
        assert response.status_code == 200, response.content
    elapsed = time.monotonic() - started
    assert Booking.objects.count() == 3
    assert elapsed < 3, f"webhooks took {elapsed:.1f} s: something sent on the request path"
    assert Notification.objects.count() == 1  # intake queued nothing
