"""The WSGI application gunicorn serves.

Three Django handlers share one process: `/webhooks/` and `/collect/` run through `WEBHOOK_MIDDLEWARE`,
tracked links (`/l/`) through `LINK_MIDDLEWARE` (settings.py), the rest of the site through `MIDDLEWARE`. Calendly's callback is a signed JSON POST and the
snippet's beacon a text/plain JSON POST answered 204: no session, no user, no HTML, so the browser pages'
middleware (sessions, CSRF, auth, messages, CSP, axes, htmx, whitenoise) would only cost them time: about a
fifth of the webhook's CPU per delivery (bench/README.md, "Ingest"). A tracked link is a redirect that sets
its own cookie; it keeps the CSP middleware for its styled 404 page.
"""

import os

from django.core.wsgi import get_wsgi_application

from project.checks import refuse_unsafe_start
from project.preflight import check_or_exit

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
# gunicorn never runs Django's system checks: refuse the public development secrets here (DEBUG off).
refuse_unsafe_start("gunicorn")
check_or_exit()
site = get_wsgi_application()

from project.handlers import LeanWSGIHandler  # noqa: E402  (after Django is set up)

_webhook = LeanWSGIHandler("WEBHOOK_MIDDLEWARE")
# Path prefix -> handler; everything else is the site (sessions, CSRF, auth, CSP, axes, ...).
LEAN_PATHS = (("/webhooks/", _webhook), ("/collect/", _webhook), ("/l/", LeanWSGIHandler("LINK_MIDDLEWARE")))


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    for prefix, handler in LEAN_PATHS:
        if path.startswith(prefix):
            return handler(environ, start_response)
    return site(environ, start_response)
