import pytest

ORIGIN = "https://www.example.com"
CHROME = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 "
          "Safari/537.36")


@pytest.fixture(autouse=True)
def _site_origins(settings):
    settings.SOURCEBOOK_SITE_ORIGINS = [ORIGIN]
    settings.JOURNEY_CONSENT_REQUIRED = False


@pytest.fixture(autouse=True)
def _no_cached_links():
    from journeys import services

    services._links.clear()
    yield
    services._links.clear()


@pytest.fixture
def marketing(login_as):
    return login_as("mkt", perms=("view_dashboard",))
