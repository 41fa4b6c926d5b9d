"""A delivery sent with `Transfer-Encoding: chunked` (no Content-Length) is read to its end, under the cap.

Django's `request.body` reads Content-Length bytes, so it saw an empty body and refused a real,
signed booking as forged. gunicorn de-chunks into `wsgi.input`; these tests run the app under a
real gunicorn, as in production.
"""

import os
import secrets
from pathlib import Path

import httpx
import pytest

from bookings import calendly
from bookings.models import Booking, WebhookDelivery
from bookings.samples import encode, invitee_payload, signed_headers

ROOT = Path(__file__).resolve().parents[2]
KEY = "test-signing-key"  # project.test_settings forces its own key, whatever the environment says
CAP = 64 * 1024


@pytest.fixture(scope="module")
def gunicorn_url(django_db_setup, django_db_blocker):
    from django.db import connection

    from bench.harness import free_port, gunicorn_command, gunicorn_running

    db = connection.settings_dict
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "project.test_settings",
        "DATABASE_URL": f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}",
        "CALENDLY_WEBHOOK_SIGNING_KEYS": KEY,
        "WEBHOOK_MAX_BODY_BYTES": str(CAP),
        "DEBUG": "1",
        "SECRET_KEY": secrets.token_urlsafe(60),
    }
    cmd = gunicorn_command(port, workers=1, threads=2, worker_class="gthread")
    try:
        with gunicorn_running(cmd, port=port, env=env, root=ROOT, ready_timeout=60) as server:
            yield server.url
    except RuntimeError as exc:
        pytest.fail(str(exc))


def _chunks(body: bytes, size: int = 1000):
    for start in range(0, len(body), size):
        yield body[start:start + size]


@pytest.mark.django_db(transaction=True)
def test_a_signed_chunked_delivery_is_read_whole_and_makes_its_booking(gunicorn_url):
    payload = invitee_payload(invitee_id="CHUNKED", tracking={"utm_source": "google", "utm_medium": "cpc"},
                              questions_and_answers=[{"question": "Notes", "answer": "y" * 20_000, "position": 0}])
    body = encode(payload)
    headers = {**signed_headers(body, key=KEY), "Content-Type": "application/json"}
    response = httpx.post(f"{gunicorn_url}/webhooks/calendly/", content=_chunks(body), headers=headers, timeout=10)
    assert response.request.headers.get("transfer-encoding") == "chunked"
    assert "content-length" not in response.request.headers
    assert response.status_code == 200, response.text
    delivery = WebhookDelivery.objects.get()
    assert bytes(delivery.body) == body and delivery.state == "processed"
    assert Booking.objects.get().invitee_uri == payload["payload"]["uri"]


@pytest.mark.django_db(transaction=True)
def test_an_oversized_chunked_delivery_gets_413(gunicorn_url):
    body = encode(invitee_payload(questions_and_answers=[{"question": "q", "answer": "z" * (3 * CAP), "position": 0}]))
    headers = {**signed_headers(body, key=KEY), "Content-Type": "application/json"}
    response = httpx.post(f"{gunicorn_url}/webhooks/calendly", content=_chunks(body, 8192), headers=headers, timeout=10)
    assert response.status_code == 413
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == "rejected" and bytes(delivery.body) == b"" and delivery.body_size == CAP + 1
    assert not Booking.objects.exists()


class EndlessInput:
    """A de-chunked, terminated WSGI input (as gunicorn gives) that never ends; counts what was read."""

    def __init__(self):
        self.read_bytes = 0

    def read(self, size=-1):
        assert size is not None and size > 0, "an unbounded read of a chunked body"
        self.read_bytes += size
        return b"{" * size

    def readline(self, size=-1):
        return self.read(size if size and size > 0 else 1)


@pytest.mark.django_db
def test_a_chunked_body_is_never_read_past_the_cap(csrf_client, settings):
    settings.WEBHOOK_MAX_BODY_BYTES = 100_000
    stream = EndlessInput()
    response = csrf_client.post("/webhooks/calendly/", data=b"", content_type="application/json",
                                **{"CONTENT_LENGTH": "", "wsgi.input": stream, "wsgi.input_terminated": True,
                                   "HTTP_TRANSFER_ENCODING": "chunked"})
    assert response.status_code == 413
    assert stream.read_bytes == 100_001
    assert WebhookDelivery.objects.get().body_size == 100_001


@pytest.mark.django_db
def test_a_chunked_signed_body_through_a_terminated_input_is_accepted(csrf_client):
    import io

    body = encode(invitee_payload(invitee_id="TERMINATED"))
    signature = signed_headers(body, key="test-signing-key")[calendly.SIGNATURE_HEADER]
    response = csrf_client.post("/webhooks/calendly/", data=b"", content_type="application/json",
                                headers={calendly.SIGNATURE_HEADER: signature},
                                **{"CONTENT_LENGTH": "", "wsgi.input": io.BytesIO(body), "wsgi.input_terminated": True})
    assert response.status_code == 200
    assert Booking.objects.filter(invitee_uri__endswith="/TERMINATED").exists()
