"""The demo landing site (/demo-site/): two pages with the snippet and a Calendly link, so a new user can watch
a journey form in their own browser. Served only with DEBUG or SOURCEBOOK_DEMO_SITE on; otherwise a 404.

It is served by Sourcebook itself, so it runs under the same CSP: the snippet is `<script src="/sourcebook.js">`
(script-src 'self') and the page's only other script is a static file (no inline script, no nonce needed)."""

from __future__ import annotations

from django.conf import settings
from django.http import Http404
from django.shortcuts import render

DEMO_CALENDLY_URL = "https://calendly.com/acme-demo/30min"
PAGES = {"landing": "journeys/demo/landing.html", "pricing": "journeys/demo/pricing.html"}


def demo_site_on() -> bool:
    return bool(settings.DEBUG or settings.SOURCEBOOK_DEMO_SITE)


def demo_page(request, page: str = "landing"):
    if not demo_site_on() or page not in PAGES:
        raise Http404("the demo site is off (SOURCEBOOK_DEMO_SITE)")
    response = render(request, PAGES[page], {"calendly_url": DEMO_CALENDLY_URL})
    response["Cache-Control"] = "no-store"
    return response
