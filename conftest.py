import pytest
import redis
from django.conf import settings
from django.test import Client

from bookings.samples import encode, signed_headers
from project.health import HEARTBEAT_KEY, SUBSCRIPTION_KEY

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


@pytest.fixture
def login_as(client):
    """Log the test client in as a new user: in a role group (as `manage.py setup_roles` makes them) and/or with
    permissions by codename. Returns the client, with `.user` set."""

    def login(username: str = "user", *, group: str | None = None, perms: tuple = ()):
        from django.contrib.auth.models import Group, Permission, User
        from django.core.management import call_command

        user = User.objects.create_user(username, password="pw-123456789")
        if group:
            call_command("setup_roles", verbosity=0)
            user.groups.add(Group.objects.get(name=group))
        if perms:
            found = list(Permission.objects.filter(codename__in=perms))
            assert len(found) == len(set(perms)), f"unknown permission in {perms}"
            user.user_permissions.add(*found)
        client.force_login(user)
        client.user = user
        return client

    return login


@pytest.fixture
def start_fake_hubspot(settings):
    """Start the in-project fake HubSpot and point the app at it; `preset=False` is a portal that has never seen
    Sourcebook's properties. Stopped after the test."""
    from fakes.hubspot import FakeConfig, FakeHubSpotServer
    from hubspot_sync.ratelimit import RateLimiter

    servers = []

    def start(*, seed: int = 7, preset: bool = True):
        server = FakeHubSpotServer(config=FakeConfig(seed=seed), preset_properties=preset).start()
        servers.append(server)
        settings.HUBSPOT_API_URL, settings.HUBSPOT_ACCESS_TOKEN = server.url, "fake-token"
        settings.HUBSPOT_TIMEOUT_SECONDS, settings.HUBSPOT_RATE_LIMIT = 2.0, 1000
        RateLimiter().reset()
        return server

    yield start
    for server in servers:
        server.stop()
    RateLimiter().reset()


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """Transactional tests truncate tables (seed rules included) in a reused test DB: re-seed."""
    from attribution.services import defaults_install
    from hubspot_sync.services.mapping import mapping_defaults_install

    with django_db_blocker.unblock():
        defaults_install()
        mapping_defaults_install()


@pytest.fixture(autouse=True)
def _fresh_ruleset_cache():
    """A rolled-back test must not leave its compiled rules cached for the next one."""
    from attribution import ruleset

    ruleset._cache["ruleset"] = None
    yield
    ruleset._cache["ruleset"] = None


@pytest.fixture(autouse=True)
def _fresh_filter_choices():
    """The dashboard's filter choices are cached a minute: a test sees its own bookings' values."""
    from django.core.cache import cache

    cache.delete_many([f"sourcebook:known:{c}:500" for c in ("event_type_name", "channel", "source", "campaign")])


@pytest.fixture
def clean_redis():
    """Redis without the health keys (worker heartbeat, Calendly subscription state), before and after: what the
    health checks and the operational alerts read. Yields the client."""
    r = redis.Redis.from_url(settings.REDIS_URL)
    r.delete(HEARTBEAT_KEY, SUBSCRIPTION_KEY)
    yield r
    r.delete(HEARTBEAT_KEY, SUBSCRIPTION_KEY)
