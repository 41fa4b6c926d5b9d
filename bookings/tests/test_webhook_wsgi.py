"""The webhook through the WSGI application gunicorn serves (project/wsgi.py), which gives `/webhooks/` its own
short middleware list: a signed delivery is stored and derived, a forged one is refused, and the site's
pages still get every browser-facing header."""

import io
import sys

import pytest

from bookings.models import Booking, WebhookDelivery
from bookings.samples import encode, invitee_payload, signed_headers
from conftest import TEST_KEY


def _call(path: str, *, method: str = "GET", body: bytes = b"", headers: dict | None = None):
    from project.wsgi import application

    environ = {
        "REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1", "HTTP_HOST": "127.0.0.1",
        "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body), "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr, "wsgi.multithread": True, "wsgi.multiprocess": True, "wsgi.run_once": False,
        "wsgi.version": (1, 0),
    }
    for name, value in (headers or {}).items():
        key = name.upper().replace("-", "_")
        environ[key if key == "CONTENT_TYPE" else f"HTTP_{key}"] = value
    answer = {}

    def start_response(status, response_headers, exc_info=None):
        answer["status"], answer["headers"] = int(status.split()[0]), dict(response_headers)

    chunks = application(environ, start_response)
    try:
        answer["body"] = b"".join(chunks)
    finally:
        getattr(chunks, "close", lambda: None)()
    return answer


@pytest.fixture
def served(settings, monkeypatch):
    monkeypatch.setenv("SOURCEBOOK_SKIP_PREFLIGHT", "1")  # the test database is not DATABASE_URL's
    settings.ALLOWED_HOSTS = ["127.0.0.1"]
    settings.SECURE_SSL_REDIRECT = False


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", ["/webhooks/calendly/", "/webhooks/calendly"])
def test_a_signed_delivery_is_stored_and_derived_through_the_served_application(served, path):
    body = encode(invitee_payload(invitee_id="WSGI1", tracking={"utm_source": "linkedin", "utm_medium": "paid_social"}))
    answer = _call(path, method="POST", body=body, headers=signed_headers(body, key=TEST_KEY))
    assert answer["status"] == 200, answer["body"]
    assert answer["headers"]["Content-Type"] == "application/json"
    assert "Set-Cookie" not in answer["headers"]
    booking = Booking.objects.get(invitee_uri__endswith="/WSGI1")
    assert (booking.source, booking.medium) == ("linkedin", "paid_social")
    assert WebhookDelivery.objects.get().state == WebhookDelivery.State.PROCESSED


@pytest.mark.django_db(transaction=True)
def test_a_forged_delivery_is_refused_and_kept_through_the_served_application(served):
    body = encode(invitee_payload(invitee_id="WSGI2"))
    answer = _call("/webhooks/calendly/", method="POST", body=body, headers=signed_headers(body, key="not-the-key"))
    assert answer["status"] == 401
    assert not Booking.objects.exists()
    assert WebhookDelivery.objects.get().signature_valid is False


@pytest.mark.django_db(transaction=True)
def test_a_webhook_with_an_unknown_host_is_refused(served):
    body = encode(invitee_payload(invitee_id="WSGI3"))
    answer = _call("/webhooks/calendly/", method="POST", body=body,
                   headers={**signed_headers(body, key=TEST_KEY), "Host": "evil.example"})
    assert answer["status"] == 400
    assert not Booking.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_pages_still_get_the_browser_facing_middleware(served):
    answer = _call("/accounts/login/")
    assert answer["status"] == 200
    assert answer["headers"]["X-Frame-Options"] == "DENY"
    assert "Content-Security-Policy" in answer["headers"]
    assert "csrftoken" in answer["headers"].get("Set-Cookie", "")


@pytest.mark.django_db(transaction=True)
def test_a_beacon_is_stored_through_the_served_application(served, settings):
    import json

    from journeys.models import Touch

    settings.SOURCEBOOK_SITE_ORIGINS = ["https://www.example.com"]
    vid = "sbv_" + "b" * 22
    body = json.dumps({"v": vid, "url": "https://www.example.com/?utm_source=linkedin&utm_medium=paid_social",
                       "ref": "", "k": "session"}).encode()
    answer = _call("/collect/", method="POST", body=body, headers={
        "Content-Type": "text/plain;charset=UTF-8", "Origin": "https://www.example.com",
        "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"})
    assert answer["status"] == 204, answer["body"]
    assert answer["headers"]["Access-Control-Allow-Origin"] == "https://www.example.com"
    assert Touch.objects.get(visitor_id=vid).source == "linkedin"
    forbidden = _call("/collect/", method="POST", body=body, headers={"Content-Type": "text/plain", "Origin": "https://evil.example"})
    assert forbidden["status"] == 403


@pytest.mark.django_db(transaction=True)
def test_a_tracked_link_redirects_and_an_unknown_one_is_the_styled_404_with_its_csp(served):
    from journeys.models import Touch, TrackedLink

    TrackedLink.objects.create(slug="spring", destination="https://www.example.com/pricing", utm_source="linkedin",
                               utm_medium="social", utm_campaign="spring_202606")
    chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
    answer = _call("/l/spring", headers={"User-Agent": chrome})
    assert answer["status"] == 302
    assert "utm_source=linkedin" in answer["headers"]["Location"] and "sb_vid=sbv_" in answer["headers"]["Location"]
    assert "sb_vid=" in answer["headers"]["Set-Cookie"]
    assert Touch.objects.get().kind == "click"
    missing = _call("/l/nope", headers={"User-Agent": chrome})
    assert missing["status"] == 404 and b"There is no page here" in missing["body"]
    assert "Content-Security-Policy" in missing["headers"]
