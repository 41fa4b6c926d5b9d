"""The smallest honest Calendly webhook receiver, for `bench/ingest.py --baseline` only.

Django + DRF under the same gunicorn flags, no middleware, no installed apps: one APIView that verifies
the HMAC and the timestamp, then in one transaction inserts the raw delivery and upserts one row per
invitee. Sourcebook's throughput is reported as a share of this one's, measured in the same run.
"""

import os

SECRET_KEY = "baseline-" + "x" * 50
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS: list = []
MIDDLEWARE: list = []
ROOT_URLCONF = "bench.baseline.app"
WSGI_APPLICATION = "bench.baseline.app.application"
USE_TZ = True
_url = os.environ["DATABASE_URL"].split("://", 1)[1]
_user, _, _rest = _url.partition("@")
_hostport, _, _name = _rest.partition("/")
_host, _, _port = _hostport.partition(":")
DATABASES = {"default": {"ENGINE": "django.db.backends.postgresql", "NAME": _name, "USER": _user,
                         "HOST": _host, "PORT": _port or "5432", "CONN_MAX_AGE": None,
                         "OPTIONS": {"server_side_binding": True}}}
REST_FRAMEWORK = {
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "DEFAULT_THROTTLE_CLASSES": [],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
}
SIGNING_KEY = os.environ.get("CALENDLY_WEBHOOK_SIGNING_KEYS", "bench-key").split(",")[0]
