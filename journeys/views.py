"""Public capture endpoints: the snippet, /collect/ and tracked-link redirects. Thin: parse, call a
service, respond. No login, no CSRF (no cookies of ours are trusted here), CORS only for our sites."""

from __future__ import annotations

import gzip
import hashlib
import logging
from functools import lru_cache
from pathlib import Path

from django.conf import settings
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.views.decorators.csrf import csrf_exempt

from journeys import services
from journeys.bots import is_bot
from project.clientip import client_ip
from project.metrics import JOURNEY_REQUESTS

logger = logging.getLogger("sourcebook.journeys")
SNIPPET_PATH = Path(__file__).resolve().parent / "static" / "journeys" / "sourcebook.js"
SNIPPET_MAX_AGE = 3600  # an hour: a fixed snippet reaches every site the same day
VISITOR_COOKIE = "sb_vid"
VISITOR_COOKIE_MAX_AGE = 400 * 86400  # browsers cap cookie lifetime at 400 days


def snippet_compact(source: str) -> str:
    """The readable source minus indentation and whole-line `//` comments (the file has no multi-line
    strings, so this never changes what it does): keeps the gzipped snippet under 3 KB."""
    lines = (line.strip() for line in source.splitlines())
    return "\n".join(line for line in lines if line and not line.startswith("//")) + "\n"


@lru_cache(maxsize=1)
def _snippet() -> tuple[bytes, bytes, str]:
    body = snippet_compact(SNIPPET_PATH.read_text("utf-8")).encode()
    return body, gzip.compress(body, 9, mtime=0), '"' + hashlib.sha256(body).hexdigest()[:20] + '"'


def snippet(request):
    """GET /sourcebook.js: the same bytes for every site, cacheable by browsers and CDNs."""
    body, zipped, etag = _snippet()
    if request.method not in ("GET", "HEAD"):
        return HttpResponse(status=405, headers={"Allow": "GET, HEAD"})
    headers = {"Cache-Control": f"public, max-age={SNIPPET_MAX_AGE}, stale-while-revalidate=86400", "ETag": etag,
               "Vary": "Accept-Encoding", "Cross-Origin-Resource-Policy": "cross-origin"}
    if etag in [t.strip() for t in request.headers.get("If-None-Match", "").split(",")]:
        return HttpResponse(status=304, headers=headers)
    if "gzip" in request.headers.get("Accept-Encoding", ""):
        body = zipped
        headers["Content-Encoding"] = "gzip"
    return HttpResponse(body, content_type="application/javascript; charset=utf-8", headers=headers)


def _allowed_origin(request) -> str | None:
    origin = (request.headers.get("Origin") or "").rstrip("/").lower()
    return origin if origin and origin in settings.SOURCEBOOK_SITE_ORIGINS else None


def _cors(response: HttpResponse, origin: str) -> HttpResponse:
    response["Access-Control-Allow-Origin"] = origin
    response["Vary"] = "Origin"
    return response


@csrf_exempt
def collect(request):
    """POST /collect/: one touch from the snippet (text/plain JSON via sendBeacon, or application/json)."""
    origin = _allowed_origin(request)
    if origin is None:
        JOURNEY_REQUESTS.labels(result="forbidden").inc()
        response = HttpResponse(status=403)
        response["Vary"] = "Origin"
        return response
    if request.method == "OPTIONS":
        response = HttpResponse(status=204)
        response["Access-Control-Allow-Methods"] = "POST, OPTIONS"
        response["Access-Control-Allow-Headers"] = "Content-Type"
        response["Access-Control-Max-Age"] = "86400"
        return _cors(response, origin)
    if request.method == "HEAD":  # a prefetcher or scanner: answered like a beacon, never stored
        JOURNEY_REQUESTS.labels(result="bot").inc()
        return _cors(HttpResponse(status=204), origin)
    if request.method != "POST":
        JOURNEY_REQUESTS.labels(result="malformed").inc()
        return _cors(HttpResponse(status=405, headers={"Allow": "POST, OPTIONS"}), origin)
    content_type = request.content_type or ""
    if content_type not in ("text/plain", "application/json", ""):
        JOURNEY_REQUESTS.labels(result="malformed").inc()
        return _cors(HttpResponse(status=415), origin)
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > services.MAX_BODY_BYTES:
        JOURNEY_REQUESTS.labels(result="too_large").inc()
        return _cors(HttpResponse(status=413), origin)
    body = request.read(services.MAX_BODY_BYTES + 1)  # never more, whatever a chunked body claims
    if len(body) > services.MAX_BODY_BYTES:
        JOURNEY_REQUESTS.labels(result="too_large").inc()
        return _cors(HttpResponse(status=413), origin)
    if is_bot(method=request.method, user_agent=request.headers.get("User-Agent", ""), meta=request.META):
        JOURNEY_REQUESTS.labels(result="bot").inc()
        return _cors(HttpResponse(status=204), origin)
    try:
        touch = services.collect_parse(body=body)
    except services.CollectError as exc:
        JOURNEY_REQUESTS.labels(result="malformed").inc()
        return _cors(HttpResponse(str(exc), status=400, content_type="text/plain"), origin)
    services.touch_collect(touch=touch, ip=client_ip(request))
    JOURNEY_REQUESTS.labels(result="touch").inc()
    return _cors(HttpResponse(status=204), origin)


def tracked_link(request, slug: str):
    """GET /l/<slug>: 302 to the destination with its UTMs and the clicker's visitor id."""
    link = services.tracked_link_find(slug=slug)
    if link is None:
        raise Http404("unknown link")  # templates/404.html
    consent_required = settings.JOURNEY_CONSENT_REQUIRED
    bot = is_bot(method=request.method, user_agent=request.headers.get("User-Agent", ""), meta=request.META)
    visitor_id, new_visitor = "", False
    if not consent_required:
        cookie = request.COOKIES.get(VISITOR_COOKIE, "")
        new_visitor = not services.visitor_id_valid(cookie)
        visitor_id = cookie if not new_visitor else ("" if bot else services.visitor_id_new())
    if bot:
        JOURNEY_REQUESTS.labels(result="bot").inc()
    else:
        services.tracked_link_click(link=link, visitor_id=visitor_id, referrer=request.headers.get("Referer", ""),
                                    ip=client_ip(request), new_visitor=new_visitor)
        JOURNEY_REQUESTS.labels(result="click").inc()
    response = HttpResponseRedirect(services.tracked_link_url(link=link, visitor_id=visitor_id))
    response["Cache-Control"] = "private, no-store"  # every click must reach us to be counted
    response["Referrer-Policy"] = "no-referrer-when-downgrade"
    if visitor_id and not bot:
        response.set_cookie(VISITOR_COOKIE, visitor_id, max_age=VISITOR_COOKIE_MAX_AGE, samesite="Lax",
                            secure=request.is_secure(), httponly=True)
    return response
