import httpx
import pytest


@pytest.fixture
def fake_hubspot(start_fake_hubspot):
    """A running fake HubSpot with our properties in place, and the app pointed at it."""
    return start_fake_hubspot()


def fake_state(server) -> dict:
    return httpx.get(f"{server.url}/__fake__/state").json()
