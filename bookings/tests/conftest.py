import pytest


@pytest.fixture(autouse=True)
def _fresh_rejection_counts():
    """Each test starts with no rejected deliveries counted against 127.0.0.1."""
    from bookings.throttle import rejection_throttle_reset

    rejection_throttle_reset()
    yield
