"""Sourcebook settings. Everything configurable comes from the environment (see .env.example)."""

import os
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# SOURCEBOOK_ENV_FILE="" reads no file at all (tests' subprocesses: they never depend on a local .env).
_ENV_FILE = os.environ.get("SOURCEBOOK_ENV_FILE", str(BASE_DIR / ".env"))
if _ENV_FILE:
    environ.Env.read_env(_ENV_FILE, overwrite=False)

# --- Production guards (issue 11): safe defaults; project/checks.py refuses the public ones ---------
# DEBUG is off unless asked for. With it off, start-up (check, runserver, gunicorn, Celery) refuses the
# development SECRET_KEY and signing key (project/checks.py).
DEBUG = env.bool("DEBUG", default=False)
DEV_SECRET_KEY = "dev-only-insecure-secret-key-change-me-in-production-0123456789"
SECRET_KEY = env("SECRET_KEY", default=DEV_SECRET_KEY)
# "local" = `make run` on 127.0.0.1: production pages (DEBUG off) without HTTPS redirect, secure-only
# cookies or HSTS. "production" (the default) keeps all of them.
SOURCEBOOK_PROFILE = env("SOURCEBOOK_PROFILE", default="production")
LOCAL_PROFILE = SOURCEBOOK_PROFILE == "local"
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["*"] if DEBUG else ["127.0.0.1", "localhost"] if LOCAL_PROFILE else [])
# --- end production guards ---------------------------------------------------------------------------
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "project.apps.SourcebookAdminConfig",  # django.contrib.admin with our site (per-role "View site", landing)
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.contrib.postgres",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "django_prometheus",
    "django_htmx",
    "rangefilter",  # date-range filters in the bookings admin (django-admin-rangefilter)
    "import_export",  # the spend CSV upload in the admin (django-import-export)
    "axes",  # login throttling (issue 11)
    "project.apps.ProjectConfig",  # system checks (project/checks.py)
    "bookings",
    "attribution",
    "hubspot_sync",
    "journeys",
    "alerts",  # destinations, alerts, weekly digest (imports the apps above; imported by nothing)
    "privacy",  # forget_person (imports bookings, journeys, hubspot_sync; imported by nothing)
    "fakes.apps.FakesConfig",  # fake HubSpot/Calendly commands; no models, never imported by the apps above
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "project.middleware.PermissionsPolicyMiddleware",
    "project.middleware.CSPMiddleware",  # django-csp, skipped entirely on /webhooks/
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "project.request_guard.RequestGuardMiddleware",  # hostile input: a NUL in a URL is a 400, never a 500
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes asks: turns a lockout into its answer
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

# Calendly's webhook (served by its own handler, project/wsgi.py): a signed JSON POST needs none of the browser
# pages' middleware, nor django-prometheus' (about 10 labelled metric writes a request; intake counts deliveries
# and times them itself: sourcebook_webhook_*). The HTTPS redirect/HSTS and the Host check still apply.
WEBHOOK_MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
]
# Tracked links (/l/<slug>): a redirect that sets its own visitor cookie; the CSP still covers the 404 page.
LINK_MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "project.middleware.PermissionsPolicyMiddleware",
    "project.middleware.CSPMiddleware",
    "django.middleware.common.CommonMiddleware",
]

# Session-backed messages: the default cookie fallback builds a signer on every request, webhooks included.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

ROOT_URLCONF = "project.urls"
WSGI_APPLICATION = "project.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/sourcebook")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
# Off by default: a health check is one extra round trip per request on the webhook hot path. After a
# database restart the first request of each worker fails (a webhook gets 503 and Calendly retries).
DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("DB_CONN_HEALTH_CHECKS", default=False)
DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = env.int("DB_CONNECT_TIMEOUT", default=3)
# Server-side binding lets psycopg prepare the hot webhook statements (less parse/plan work per request):
# a statement run DB_PREPARE_THRESHOLD times on a connection is prepared (Django's default, None, never does).
# Behind PgBouncer in transaction mode set DB_PREPARE_THRESHOLD=0 (no prepared statements).
DATABASES["default"]["OPTIONS"]["server_side_binding"] = env.bool("DB_SERVER_SIDE_BINDING", default=True)
_prepare = env.int("DB_PREPARE_THRESHOLD", default=5)
DATABASES["default"]["OPTIONS"]["prepare_threshold"] = _prepare if _prepare > 0 else None
# The webhook view manages its own transactions: the raw delivery must commit on its own.
DATABASES["default"]["ATOMIC_REQUESTS"] = False

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env("REDIS_URL", default="redis://127.0.0.1:6379/0")
CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
# One time zone for everything a person reads: the rollup's days, the dashboard's periods, the admin's times and
# the digest's Monday. Changing it rebuilds the rollup at the next `migrate` (attribution.apps).
TIME_ZONE = env("SOURCEBOOK_TIME_ZONE", default=env("TIME_ZONE", default="UTC"))
try:
    import zoneinfo

    zoneinfo.ZoneInfo(TIME_ZONE)
except (ValueError, zoneinfo.ZoneInfoNotFoundError):
    raise ImproperlyConfigured(f"SOURCEBOOK_TIME_ZONE={TIME_ZONE!r} is not an IANA time zone (e.g. Europe/Berlin, "
                               "America/New_York, UTC).") from None
USE_I18N = True
FORMAT_MODULE_PATH = ["project.formats"]  # one date format in the UI (project/formats/en/formats.py)
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

LOGIN_URL = "login"
# "/" sends each role to its own page (project/landing.py): marketing the dashboard, sales the bookings list.
LOGIN_REDIRECT_URL = "/"

# Calendly's webhook bodies are small; anything bigger is refused with 413 before parsing.
WEBHOOK_MAX_BODY_BYTES = env.int("WEBHOOK_MAX_BODY_BYTES", default=1024 * 1024)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "project.pagination.StandardPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Sourcebook API",
    "DESCRIPTION": "Where booked demos come from: bookings, attribution reports.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI assets come from our own static files, never a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    # The schema and the docs are for logged-in users only (issue 11).
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "project.schema.add_error_responses"],
}

# --- Calendly -------------------------------------------------------------------------------
# Comma-separated so a new key can be added before the old one is removed (rotation).
# Entries are trimmed ("old, new" is two keys); a blank entry is refused (project/checks.py).
DEV_SIGNING_KEY = "dev-signing-key"
_SIGNING_KEYS_RAW = env("CALENDLY_WEBHOOK_SIGNING_KEYS", default="").strip()  # empty = unset
CALENDLY_WEBHOOK_SIGNING_KEYS = [k.strip() for k in _SIGNING_KEYS_RAW.split(",")] if _SIGNING_KEYS_RAW else [DEV_SIGNING_KEY]
if any(not k for k in CALENDLY_WEBHOOK_SIGNING_KEYS):
    raise ImproperlyConfigured("CALENDLY_WEBHOOK_SIGNING_KEYS has a blank entry (check for a stray comma); "
                               "give comma-separated keys, e.g. old-key,new-key")
CALENDLY_WEBHOOK_TOLERANCE_SECONDS = env.int("CALENDLY_WEBHOOK_TOLERANCE_SECONDS", default=180)
CALENDLY_API_URL = env("CALENDLY_API_URL", default="http://127.0.0.1:8026")
CALENDLY_TOKEN = env("CALENDLY_TOKEN", default="")
# Our public base URL: the webhook subscription points at <this>/webhooks/calendly/.
SOURCEBOOK_PUBLIC_URL = env("SOURCEBOOK_PUBLIC_URL", default=f"http://127.0.0.1:{env('PORT', default='8000')}")
# No webhook for this long during business hours (Mon–Fri 9–18 in TIME_ZONE) means something is wrong.
CALENDLY_SILENCE_ALERT_HOURS = env.int("CALENDLY_SILENCE_ALERT_HOURS", default=8)
# --- Calendly API client (i11: rate-limit cap) ---
# A request answered 429 waits out Calendly's announced reset at most this many times and this many
# seconds in total, then fails with the reason (a backfill run is marked failed), instead of waiting forever.
CALENDLY_RATE_LIMIT_MAX_WAITS = env.int("CALENDLY_RATE_LIMIT_MAX_WAITS", default=5)
CALENDLY_RATE_LIMIT_MAX_WAIT_SECONDS = env.float("CALENDLY_RATE_LIMIT_MAX_WAIT_SECONDS", default=300.0)

# --- Attribution ----------------------------------------------------------------------------
# Our own brand names are not a source: links tagged with them land in Unassigned and in hygiene.
SOURCEBOOK_BRAND_NAMES = env.list("SOURCEBOOK_BRAND_NAMES", default=["sourcebook"])
# The "how did you hear about us" question (RE2, case-insensitive); empty = the built-in pattern in
# attribution/defaults.py, its one home.
SELF_REPORTED_QUESTION_PATTERN = env("SELF_REPORTED_QUESTION_PATTERN", default="")
# Domains whose links `lint_utms` checks.
SOURCEBOOK_LINK_DOMAINS = env.list("SOURCEBOOK_LINK_DOMAINS", default=["calendly.com"])
UTM_CAMPAIGN_PATTERN = env("UTM_CAMPAIGN_PATTERN", default=r"^[a-z0-9]+(?:[-_][a-z0-9]+)*_\d{6}$")

# --- HubSpot --------------------------------------------------------------------------------
HUBSPOT_API_URL = env("HUBSPOT_API_URL", default="http://127.0.0.1:8025")
HUBSPOT_ACCESS_TOKEN = env("HUBSPOT_ACCESS_TOKEN", default="")
HUBSPOT_RATE_LIMIT = env.int("HUBSPOT_RATE_LIMIT", default=90)
HUBSPOT_RATE_WINDOW_SECONDS = env.int("HUBSPOT_RATE_WINDOW_SECONDS", default=10)
HUBSPOT_TIMEOUT_SECONDS = env.float("HUBSPOT_TIMEOUT_SECONDS", default=10.0)
HUBSPOT_BATCH_SIZE = env.int("HUBSPOT_BATCH_SIZE", default=100)
HUBSPOT_MAX_ATTEMPTS = env.int("HUBSPOT_MAX_ATTEMPTS", default=8)
# CRM search has its own limit (4 requests/s per token, HubSpot changelog "CRM Search API Rate Limit Increase");
# the deal read sends at most this many a second (a 429 still waits its Retry-After).
HUBSPOT_SEARCH_RATE_LIMIT = env.int("HUBSPOT_SEARCH_RATE_LIMIT", default=4)
# The deal read asks for deals modified until this many seconds ago: HubSpot's search index lags by seconds.
HUBSPOT_DEAL_READ_LAG_SECONDS = env.int("HUBSPOT_DEAL_READ_LAG_SECONDS", default=60)
# Exponential backoff (with jitter) between attempts is capped here.
HUBSPOT_RETRY_MAX_SECONDS = env.int("HUBSPOT_RETRY_MAX_SECONDS", default=600)
# After a meeting create that may have happened (timeout, 5xx), wait this long before searching for it:
# HubSpot's search index lags by seconds (reference: ~30 s).
HUBSPOT_UNCERTAIN_CREATE_RETRY_SECONDS = env.int("HUBSPOT_UNCERTAIN_CREATE_RETRY_SECONDS", default=60)
# A claim not renewed for this long belongs to a dead worker and goes back to the queue. Workers renew
# it right before every HubSpot write, so it must outlast one request (else two workers could send).
HUBSPOT_CLAIM_TIMEOUT_SECONDS = env.int("HUBSPOT_CLAIM_TIMEOUT_SECONDS", default=300)
if HUBSPOT_CLAIM_TIMEOUT_SECONDS <= 4 * HUBSPOT_TIMEOUT_SECONDS:  # httpx applies the timeout per phase (connect, write, read, pool)
    raise ImproperlyConfigured(f"HUBSPOT_CLAIM_TIMEOUT_SECONDS ({HUBSPOT_CLAIM_TIMEOUT_SECONDS}) must be more than 4 x "
                               f"HUBSPOT_TIMEOUT_SECONDS ({HUBSPOT_TIMEOUT_SECONDS:g}): a claim must outlast a request")
# OAuth app (multi-portal): the rotating token pair lives in the database (HubspotConnection).
HUBSPOT_CLIENT_ID = env("HUBSPOT_CLIENT_ID", default="")
HUBSPOT_CLIENT_SECRET = env("HUBSPOT_CLIENT_SECRET", default="")
HUBSPOT_REFRESH_TOKEN = env("HUBSPOT_REFRESH_TOKEN", default="")
# HubSpot's daily request limit resets at midnight in the portal's time zone; hubspot_setup reads it from the
# portal. Set this (e.g. America/New_York) to override; unknown = retry hourly after a DAILY 429.
HUBSPOT_ACCOUNT_TIME_ZONE = env("HUBSPOT_ACCOUNT_TIME_ZONE", default="")

# --- Celery ---------------------------------------------------------------------------------
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE = {
    "heartbeat": {"task": "project.heartbeat", "schedule": 30.0},
    "hubspot-sweep": {"task": "hubspot_sync.sweep", "schedule": 30.0},
    "stuck-deliveries": {"task": "bookings.process_stuck_deliveries", "schedule": 60.0},
    "report-rollup": {"task": "attribution.rollup_compact", "schedule": 10.0},
    "upcoming-meetings": {"task": "attribution.upcoming_compact", "schedule": 300.0},
    "calendly-subscription-check": {"task": "bookings.calendly_subscription_check", "schedule": 900.0},
}
# Re-attribution jobs: one whose message was lost, or whose worker died mid-way, is enqueued again (it resumes).
# Deals of contacts that booked, read back from HubSpot for money reports (hubspot_sync/services/deal_read.py).
CELERY_BEAT_SCHEDULE["hubspot-deal-read"] = {"task": "hubspot_sync.deal_read", "schedule": 900.0}
CELERY_BEAT_SCHEDULE["hubspot-deal-credit"] = {"task": "hubspot_sync.deal_credit_all", "schedule": 86400.0}
# The daily money rollup's pending deltas folded in (hubspot_sync/services/money_rollup.py), as report-rollup does.
CELERY_BEAT_SCHEDULE["money-rollup"] = {"task": "hubspot_sync.money_compact", "schedule": 10.0}
# HubSpot's owners, daily: a Calendly host's email finds its HubSpot owner (the contact owner field mapping).
CELERY_BEAT_SCHEDULE["hubspot-owners-refresh"] = {"task": "hubspot_sync.owners_refresh", "schedule": 86400.0}
CELERY_BEAT_SCHEDULE["reattribute-sweep"] = {"task": "attribution.reattribute_job_sweep", "schedule": 60.0}

# --- Webhook intake: hostile input ------------------------------------------------------------
# Rejected (unsigned, forged, stale, oversized) deliveries one client IP (project/clientip.py; IPv6 per /64)
# may leave per minute; past it they get 429 + Retry-After and are not stored. 0 = no limit. Correctly
# signed deliveries never count and are never throttled.
WEBHOOK_REJECT_RATE_LIMIT = env.int("WEBHOOK_REJECT_RATE_LIMIT", default=60)
# Rejected deliveries are deleted after this many days by beat (daily); 0 keeps them. Others are never purged.
WEBHOOK_REJECTED_RETENTION_DAYS = env.int("WEBHOOK_REJECTED_RETENTION_DAYS", default=30)
CELERY_BEAT_SCHEDULE["purge-rejected-deliveries"] = {"task": "bookings.purge_rejected_deliveries", "schedule": 86400.0}

# --- Journeys (issue 13): the site snippet, /collect/, tracked links ------------------------------------
# Origins (scheme://host[:port]) of the marketing sites that include /sourcebook.js; only they may POST
# touches to /collect/ (CORS). Comma-separated; empty = /collect/ refuses everything.
# In the local profile (and with DEBUG) Sourcebook's own origin is allowed by default, so the demo site
# (SOURCEBOOK_DEMO_SITE, below) can send touches from http://127.0.0.1:$PORT or http://localhost:$PORT.
_OWN_ORIGINS = [f"http://{host}:{env('PORT', default='8000')}" for host in ("127.0.0.1", "localhost")]
SOURCEBOOK_SITE_ORIGINS = [o.strip().rstrip("/").lower() for o in env.list(
    "SOURCEBOOK_SITE_ORIGINS", default=_OWN_ORIGINS if (LOCAL_PROFILE or DEBUG) else []) if o.strip()]
# A two-page demo landing site with the snippet and a Calendly link at /demo-site/, served only with DEBUG
# on or this on (`make run` turns it on); otherwise 404.
SOURCEBOOK_DEMO_SITE = env.bool("SOURCEBOOK_DEMO_SITE", default=False)
# Touches older than this are deleted by beat (daily); 395 days ≈ 13 months. 0 = keep.
JOURNEY_RETENTION_DAYS = env.int("JOURNEY_RETENTION_DAYS", default=395)
# A booking's first touch and last non-direct touch are looked for this many days before it was booked.
JOURNEY_LOOKBACK_DAYS = env.int("JOURNEY_LOOKBACK_DAYS", default=90)
# Tracked links (/l/<slug>) set no cookie and pass no visitor id when consent is required.
JOURNEY_CONSENT_REQUIRED = env.bool("JOURNEY_CONSENT_REQUIRED", default=False)
CELERY_BEAT_SCHEDULE["purge-touches"] = {"task": "journeys.purge_touches", "schedule": 86400.0}

# --- Alerts and digest (alerts/) ---------------------------------------------------------------
# Destinations are apprise URLs set in the admin. A message that fails is retried with backoff (30 s doubling, at
# most ALERTS_RETRY_MAX_SECONDS apart) and dead-lettered after ALERTS_MAX_ATTEMPTS tries.
ALERTS_MAX_ATTEMPTS = env.int("ALERTS_MAX_ATTEMPTS", default=6)
ALERTS_RETRY_MAX_SECONDS = env.int("ALERTS_RETRY_MAX_SECONDS", default=1800)
ALERTS_CLAIM_TIMEOUT_SECONDS = env.int("ALERTS_CLAIM_TIMEOUT_SECONDS", default=300)
CELERY_BEAT_SCHEDULE["alerts-sweep"] = {"task": "alerts.sweep", "schedule": 60.0}
# Weekly digest: the last full Monday–Sunday week, queued on Monday from DIGEST_SEND_HOUR (0–23, local time in
# SOURCEBOOK_TIME_ZONE) for every destination subscribed to it; beat checks every 15 minutes (alerts.digest_due).
DIGEST_ENABLED = env.bool("DIGEST_ENABLED", default=True)
DIGEST_SEND_HOUR = env.int("DIGEST_SEND_HOUR", default=8)
if not 0 <= DIGEST_SEND_HOUR <= 23:
    raise ImproperlyConfigured(f"DIGEST_SEND_HOUR={DIGEST_SEND_HOUR} is not an hour of the day (0–23).")
CELERY_BEAT_SCHEDULE["alerts-digest-due"] = {"task": "alerts.digest_due", "schedule": 900.0}
# Alerts (alerts/checks.py; README "Alerts"): beat evaluates them every 2 minutes; the worker-heartbeat alert is sent
# by `manage.py alerts_watchdog` (every ALERTS_WATCHDOG_SECONDS), outside Celery.
CELERY_BEAT_SCHEDULE["alerts-evaluate"] = {"task": "alerts.evaluate", "schedule": 120.0}
# A firing alert is repeated at most this often (hours; 0 = never); marketing alerts, facts of a full week, by default never.
ALERTS_REPEAT_HOURS = env.int("ALERTS_REPEAT_HOURS", default=24)
ALERTS_MARKETING_REPEAT_HOURS = env.int("ALERTS_MARKETING_REPEAT_HOURS", default=0)
# Alerts never evaluated nor sent: comma-separated keys, or a family (e.g. delivery_silence,unassigned_value).
ALERTS_DISABLED = env.list("ALERTS_DISABLED", default=[])
ALERTS_WATCHDOG_SECONDS = env.int("ALERTS_WATCHDOG_SECONDS", default=30)
# No Calendly delivery for longer than max(floor, factor x the longest silence seen at this hour of the week in the
# last 4 weeks).
ALERTS_SILENCE_FACTOR = env.float("ALERTS_SILENCE_FACTOR", default=1.5)
ALERTS_SILENCE_FLOOR_MINUTES = env.int("ALERTS_SILENCE_FLOOR_MINUTES", default=60)
# This many rejected deliveries within the window (minutes) is a spike.
ALERTS_REJECTED_THRESHOLD = env.int("ALERTS_REJECTED_THRESHOLD", default=20)
ALERTS_REJECTED_WINDOW_MINUTES = env.int("ALERTS_REJECTED_WINDOW_MINUTES", default=60)
# Marketing: a (direct) share move of more than this many points between the last two full weeks, each with at least
# ALERTS_DIRECT_MIN_BOOKINGS bookings.
ALERTS_DIRECT_JUMP_POINTS = env.float("ALERTS_DIRECT_JUMP_POINTS", default=10.0)
ALERTS_DIRECT_MIN_BOOKINGS = env.int("ALERTS_DIRECT_MIN_BOOKINGS", default=20)
# An Unassigned source / medium is new when it has bookings in the last ALERTS_NEW_VALUE_DAYS days and none in the
# ALERTS_NEW_VALUE_LOOKBACK_DAYS before.
ALERTS_NEW_VALUE_DAYS = env.int("ALERTS_NEW_VALUE_DAYS", default=7)
ALERTS_NEW_VALUE_LOOKBACK_DAYS = env.int("ALERTS_NEW_VALUE_LOOKBACK_DAYS", default=90)
# A campaign with bookings in each of this many weeks, then none in the last full week, has dropped.
ALERTS_CAMPAIGN_WEEKS = env.int("ALERTS_CAMPAIGN_WEEKS", default=4)

# --- Privacy --------------------------------------------------------------------------------
# Key of the suppression list's HMAC of forgotten people's emails. Empty: derived from SECRET_KEY. Set it (and
# never change it) if SECRET_KEY may rotate: with another key the list matches nobody and forgotten people come back.
PRIVACY_SUPPRESSION_KEY = env("PRIVACY_SUPPRESSION_KEY", default="")

# --- Client addresses -------------------------------------------------------------------------
# Who is the client? Only our own proxies are believed (project/clientip.py). Set one of them when
# Sourcebook runs behind a reverse proxy; with neither, the TCP peer is the client.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])

# --- Health and metrics ---------------------------------------------------------------------------
HEALTH_WORKER_MAX_AGE_SECONDS = env.int("HEALTH_WORKER_MAX_AGE_SECONDS", default=120)
HEALTH_OUTBOX_MAX_AGE_SECONDS = env.int("HEALTH_OUTBOX_MAX_AGE_SECONDS", default=900)
# The default allow-list (this host) applies only with DEBUG on: behind a proxy on the same host every
# visitor is 127.0.0.1. With DEBUG off, scrape with METRICS_TOKEN or set METRICS_ALLOWED_IPS explicitly.
METRICS_ALLOWED_IPS = env.list("METRICS_ALLOWED_IPS", default=["127.0.0.1", "::1"] if DEBUG else [])
METRICS_TOKEN = env("METRICS_TOKEN", default="")
PROMETHEUS_EXPORT_MIGRATIONS = False

# --- Production hardening (active when DEBUG=0; the local profile keeps plain HTTP on 127.0.0.1) -----
# Calendly counts a 3xx as a failure: never redirect the webhook callback. Health probes often speak
# plain HTTP to the app directly: no redirect for /healthz (liveness and details) either.
SECURE_REDIRECT_EXEMPT = [r"^webhooks/", r"^healthz"]
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not LOCAL_PROFILE)
    SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not LOCAL_PROFILE)
    CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if LOCAL_PROFILE else 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

# --- Login throttling (django-axes, issue 11) ----------------------------------------------------------
# Lock a username + client IP pair after AXES_FAILURE_LIMIT failures for AXES_COOLOFF_MINUTES; staff
# unlock in the admin (Axes > Access attempts: delete the row). The IP is ours (project/clientip.py).
AUTHENTICATION_BACKENDS = [
    "project.auth.AxesRequestBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_CLIENT_IP_CALLABLE = "project.clientip.client_ip"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False

# --- Content-Security-Policy and Permissions-Policy (issue 11) ---------------------------------------
# Scripts only from our own static files or with the per-request nonce (templates use
# {{ request.csp_nonce }}); inline style attributes stay allowed (the admin and Swagger UI use them).
from csp.constants import NONCE, NONE, SELF  # noqa: E402

CONTENT_SECURITY_POLICY = {
    # JSON for machines: no page to protect, and the webhook hot path stays as lean as before.
    # /collect/ and /sourcebook.js answer other sites' pages (204s and a script), never render one of ours.
    "EXCLUDE_URL_PREFIXES": ["/webhooks/", "/collect", "/sourcebook.js"],
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, "'unsafe-inline'"],
        "img-src": [SELF, "data:"],
        "font-src": [SELF, "data:"],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [SELF],
    },
}
PERMISSIONS_POLICY = env(
    "PERMISSIONS_POLICY",
    default="camera=(), microphone=(), geolocation=(), payment=(), usb=(), magnetometer=(), gyroscope=(), "
            "accelerometer=(), browsing-topics=()",
)

LOG_FORMAT = env("LOG_FORMAT", default="text")  # "json" for one JSON object per line
LOG_LEVEL = env("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "text": {"()": "project.logging.KeyValueFormatter", "format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
        },
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    # httpx logs every request URL at INFO: never let a token in a query string reach the log (issue 11).
    "loggers": {"django.db.backends": {"level": "WARNING"}, "httpx": {"level": "WARNING"},
                "httpcore": {"level": "WARNING"},
                "axes": {"level": "WARNING"}},  # lockouts and repeated failures are WARNING; INFO is chatter
}
