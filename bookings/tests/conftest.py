import pytest


@pytest.fixture(autouse=True)
def _fresh_rejection_counts():
    """Each test starts with no rejected deliveries counted against 127.0.0.1."""
    from bookings.throttle import rejection_throttle_reset

    rejection_throttle_reset()
    yield


@pytest.fixture(autouse=True)
def _seeded_rules_in_transactional_tests(request):
    """A transactional test (live server, gunicorn) may follow one that truncated every table, the
    seeded attribution rules included: put them back so its bookings are attributed as in production."""
    marker = request.node.get_closest_marker("django_db")
    if marker and marker.kwargs.get("transaction"):
        from attribution.ruleset import ruleset_changed
        from attribution.services import defaults_install

        request.getfixturevalue("transactional_db")
        defaults_install()
        ruleset_changed()


@pytest.fixture
def fake_calendly_with(settings):
    """Start the in-project fake Calendly API with N scheduled events and point the client at it."""
    from fakes.calendly import FakeCalendlyServer

    servers = []

    def start(events: int, **options):
        server = FakeCalendlyServer(events=events, rate_limit=options.pop("rate_limit", 10_000), **options).start()
        servers.append(server)
        settings.CALENDLY_API_URL = server.url
        settings.CALENDLY_TOKEN = "fake-calendly-token"
        settings.SOURCEBOOK_PUBLIC_URL = "https://sourcebook.example"
        return server

    yield start
    for server in servers:
        server.stop()
