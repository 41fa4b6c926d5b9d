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
