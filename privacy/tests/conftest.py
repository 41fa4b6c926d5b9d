import httpx
import pytest

from fakes.hubspot import FakeConfig, FakeHubSpotServer
from hubspot_sync.ratelimit import RateLimiter


@pytest.fixture
def fake_hubspot(settings):
    """A running fake HubSpot, and the app pointed at it."""
    server = FakeHubSpotServer(config=FakeConfig(seed=7), preset_properties=True).start()
    settings.HUBSPOT_API_URL = server.url
    settings.HUBSPOT_ACCESS_TOKEN = "fake-token"
    settings.HUBSPOT_TIMEOUT_SECONDS = 2.0
    settings.HUBSPOT_RATE_LIMIT = 1000
    RateLimiter().reset()
    yield server
    server.stop()
    RateLimiter().reset()


def fake_state(server) -> dict:
    return httpx.get(f"{server.url}/__fake__/state").json()


def fake_config(server, **changes) -> None:
    httpx.post(f"{server.url}/__fake__/config", json=changes).raise_for_status()
