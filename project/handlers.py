"""A Django WSGI handler with its own middleware list, for the webhook path (see project/wsgi.py)."""

from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler


class WebhookWSGIHandler(WSGIHandler):
    """Serves `/webhooks/...` and `/collect/` through `settings.WEBHOOK_MIDDLEWARE` instead of `settings.MIDDLEWARE`:
    Calendly's signed JSON callback and the snippet's beacons (text/plain JSON in, 204 out), neither of which has
    a session, a user, a form or a page.

    Django builds a handler's middleware chain once, from `settings.MIDDLEWARE`; this handler builds it
    from the webhook list (at import time, in one thread) and restores the setting straight away."""

    PREFIXES = ("/webhooks/", "/collect/")

    def load_middleware(self, is_async=False):
        site_middleware = settings.MIDDLEWARE
        settings.MIDDLEWARE = settings.WEBHOOK_MIDDLEWARE
        try:
            super().load_middleware(is_async=is_async)
        finally:
            settings.MIDDLEWARE = site_middleware
