import pytest
from django.test import Client

from bookings.samples import encode, signed_headers

TEST_KEY = "test-signing-key"


@pytest.fixture(autouse=True)
def _signing_keys(settings):
    settings.CALENDLY_WEBHOOK_SIGNING_KEYS = [TEST_KEY]


@pytest.fixture
def csrf_client():
    """Webhooks must work through a client that enforces CSRF, as a real caller would."""
    return Client(enforce_csrf_checks=True)


@pytest.fixture
def post_signed(csrf_client):
    def post(payload, *, key=TEST_KEY, timestamp=None, client=None, url="/webhooks/calendly/"):
        body = payload if isinstance(payload, bytes) else encode(payload)
        headers = signed_headers(body, key=key, timestamp=timestamp)
        return (client or csrf_client).post(
            url, data=body, content_type="application/json",
            headers={k: v for k, v in headers.items() if k != "Content-Type"},
        )

    return post


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """Transactional tests truncate tables (seed rules included) in a reused test DB: re-seed."""
    from attribution.services import defaults_install

    with django_db_blocker.unblock():
        defaults_install()


@pytest.fixture(autouse=True)
def _fresh_ruleset_cache():
    """A rolled-back test must not leave its compiled rules cached for the next one."""
    from attribution import ruleset

    ruleset._cache["ruleset"] = None
    yield
    ruleset._cache["ruleset"] = None
