"""Django WSGI handlers with their own middleware list, for paths that serve no browser page (see project/wsgi.py)."""

from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler


class LeanWSGIHandler(WSGIHandler):
    """Serves a few paths through a short middleware list (a setting name) instead of `settings.MIDDLEWARE`.

    Django builds a handler's middleware chain once, from `settings.MIDDLEWARE`; this handler builds it from
    its own list (at import time, in one thread) and restores the setting straight away."""

    def __init__(self, middleware_setting: str):
        self.middleware_setting = middleware_setting
        super().__init__()

    def load_middleware(self, is_async=False):
        site_middleware = settings.MIDDLEWARE
        settings.MIDDLEWARE = getattr(settings, self.middleware_setting)
        try:
            super().load_middleware(is_async=is_async)
        finally:
            settings.MIDDLEWARE = site_middleware
