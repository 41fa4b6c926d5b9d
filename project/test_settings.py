"""Settings for the test suite: same as production code paths, isolated Redis database."""

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
