"""Settings for the test suite: same as production code paths, isolated Redis database.

Tests never depend on a local `.env` (`make run` writes one): every value below that a `.env` could
also set is forced here.
"""

from project.settings import *  # noqa: F403

REDIS_URL = env("TEST_REDIS_URL", default="redis://127.0.0.1:6379/15")  # noqa: F405
CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
CELERY_BROKER_URL = REDIS_URL
HUBSPOT_ACCESS_TOKEN = ""
HUBSPOT_CLIENT_ID = ""
STORAGES = {  # noqa: F405
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_AUTOREFRESH = True

# --- Production guards (issue 11): the suite runs with DEBUG off (as Django's runner does anyway) and
# its own secrets, whatever the environment or a local .env says. Plain HTTP like the local profile.
DEBUG = False
SECRET_KEY = "test-only-secret-key-" + "t" * 50
CALENDLY_WEBHOOK_SIGNING_KEYS = ["test-signing-key"]
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
SECURE_SSL_REDIRECT = False
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = False
SECURE_HSTS_SECONDS = 0
# The suite's requests come from 127.0.0.1; tests that check the allow-list set their own.
METRICS_ALLOWED_IPS = ["127.0.0.1", "::1"]
METRICS_TOKEN = ""
TRUSTED_PROXY_COUNT = 0
TRUSTED_PROXIES = []
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = timedelta(minutes=15)  # noqa: F405
# Journeys: no site may send touches unless a test says so; the demo site is off (a local .env may say otherwise).
SOURCEBOOK_SITE_ORIGINS = []
SOURCEBOOK_DEMO_SITE = False
