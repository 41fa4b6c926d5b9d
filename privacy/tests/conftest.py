import httpx
import pytest


@pytest.fixture
def fake_hubspot(start_fake_hubspot):
    """A running fake HubSpot, and the app pointed at it."""
    return start_fake_hubspot()


def fake_state(server) -> dict:
    return httpx.get(f"{server.url}/__fake__/state").json()


def fake_config(server, **changes) -> None:
    httpx.post(f"{server.url}/__fake__/config", json=changes).raise_for_status()
