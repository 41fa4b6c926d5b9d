"""Journey capture: touches from the site snippet (/collect/), clicks on tracked links (/l/<slug>), the
links themselves, and retention. Every write about journeys lives here."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import secrets
import time
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from psycopg.types.json import Jsonb

from attribution import rules
from attribution.links import link_build
from attribution.ruleset import ruleset_current
from bookings.models import Booking
from bookings.services.fold import booking_rebuild
from journeys.channels import click_id_values, host_normalize, touch_attribution, utm_values
from journeys.enqueue import bookings_refold_on_commit
from journeys.models import Touch, TrackedLink

MAX_BODY_BYTES = 4096
# One definition of the id (attribution.rules recognises it in a booking's tracking).
VISITOR_ID_PREFIX, VISITOR_ID_RE = rules.VISITOR_ID_PREFIX, rules.VISITOR_ID_RE
SLUG_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"  # no 0/o/1/l: slugs get read aloud and retyped


class CollectError(ValueError):
    """A body /collect/ cannot use (the view answers 400)."""


@dataclass(frozen=True)
class CollectedTouch:
    """A snippet's report, parsed: nothing downstream reads the JSON."""

    visitor_id: str
    url: str
    referrer: str
    client_at: dt.datetime | None
    kind: str


def visitor_id_new() -> str:
    """`sbv_` + 22 url-safe characters (132 random bits): recognisable in any tracking field."""
    return VISITOR_ID_PREFIX + secrets.token_urlsafe(17)[:22]


def visitor_id_valid(value) -> bool:
    return isinstance(value, str) and bool(VISITOR_ID_RE.match(value))


def collect_parse(*, body: bytes) -> CollectedTouch:
    """The /collect/ body: `{"v": visitor id, "url": page URL, "ref": referrer, "t": client ms, "k": kind}`."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise CollectError("body is not JSON") from None
    if not isinstance(data, dict):
        raise CollectError("body is not a JSON object")
    visitor_id, url, referrer = data.get("v"), data.get("url"), data.get("ref") or ""
    if not visitor_id_valid(visitor_id):
        raise CollectError("v is not a visitor id (sbv_ + 22 characters)")
    if not isinstance(url, str) or not isinstance(referrer, str):
        raise CollectError("url and ref must be strings")
    try:  # text PostgreSQL cannot store (NUL, a lone surrogate) would fail the insert: refuse it here
        if "\x00" in url + referrer:
            raise UnicodeError
        (url + referrer).encode("utf-8")
    except UnicodeError:
        raise CollectError("url or ref holds characters that are not text (NUL, lone surrogates)") from None
    try:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError
    except ValueError:  # also "http://[::1" (an invalid IPv6 literal)
        raise CollectError("url must be an absolute http(s) URL") from None
    client_at = None
    stamp = data.get("t")
    if isinstance(stamp, (int, float)) and not isinstance(stamp, bool) and 0 < stamp < 4102444800000:
        client_at = dt.datetime.fromtimestamp(stamp / 1000, tz=dt.timezone.utc)
    kind = data.get("k") if data.get("k") in (Touch.Kind.SESSION, Touch.Kind.PAGEVIEW) else Touch.Kind.PAGEVIEW
    return CollectedTouch(visitor_id=visitor_id, url=url, referrer=referrer, client_at=client_at, kind=kind)


# --- IP addresses: never stored raw ------------------------------------------------------------------

_salts: dict = {}


def _daily_salt(day: dt.date) -> bytes:
    """A random salt per day, shared by all processes through the cache and forgotten after two days, so
    yesterday's hashes can't be recomputed. Cache down: a per-process salt (hashes stop joining, nothing leaks)."""
    salt = _salts.get(day)
    if salt is None:
        key = f"journeys:ip-salt:{day.isoformat()}"
        try:
            cache.add(key, secrets.token_hex(16), timeout=2 * 86400)
            salt = cache.get(key)
        except Exception:  # noqa: BLE001 - capture must not fail because Redis is down
            salt = None
        salt = (salt or secrets.token_hex(16)).encode()
        _salts.clear()
        _salts[day] = salt
    return salt


def ip_hash(ip: str | None, *, day: dt.date | None = None) -> str:
    """HMAC of the client's /24 (IPv4) or /48 (IPv6) with today's salt: enough to spot a flood, not a person."""
    if not ip:
        return ""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ""
    prefix = 24 if address.version == 4 else 48
    network = ipaddress.ip_network(f"{address}/{prefix}", strict=False)
    digest = hmac.new(_daily_salt(day or timezone.now().date()), str(network).encode(), hashlib.sha256)
    return digest.hexdigest()[:32]


# --- touches ------------------------------------------------------------------------------------------


def _touch_row(*, visitor_id: str, kind: str, page_url: str, referrer: str, ip: str | None,
               client_at=None, link: TrackedLink | None = None, extra_utms: dict | None = None,
               at: dt.datetime | None = None) -> Touch:
    parts = urlsplit(page_url)
    pairs = parse_qsl(parts.query, keep_blank_values=False)
    utms = utm_values(pairs)
    if extra_utms:
        utms = {**utms, **{k: v for k, v in extra_utms.items() if v}}
    click_ids = click_id_values(pairs)
    try:
        referrer_host = host_normalize(urlsplit(referrer).hostname if referrer else "")
    except ValueError:  # a referrer we can't parse says nothing
        referrer_host = ""
    own = (parts.hostname or "",)
    if referrer_host and referrer_host in {host_normalize(h) for h in own}:
        referrer_host = ""  # internal navigation
    term = utms.get("term", "")
    if VISITOR_ID_RE.match(term or ""):
        utms.pop("term")  # our own id carried in utm_term is no UTM
    found = touch_attribution(utms=utms, click_ids=click_ids, referrer_host=referrer_host, ruleset=ruleset_current())
    raw = {name: str(value)[:500] for name, value in utms.items()
           if name in ("source", "medium", "campaign", "content", "term") and value and not rules.is_visitor_id(value)}
    return Touch(
        visitor_id=visitor_id, at=at or timezone.now(), client_at=client_at, kind=kind, utm_raw=raw,
        source=found.source, medium=found.medium, campaign=found.campaign, content=found.content, term=found.term,
        click_ids=click_ids, referrer_host=referrer_host[:255], landing_path=(parts.path or "/")[:512],
        channel=found.channel, link=link, ip_hash=ip_hash(ip),
    )


def touch_collect(*, touch: CollectedTouch, ip: str | None, at: dt.datetime | None = None) -> Touch:
    """Store what the snippet saw; the server, not the browser, decides the UTMs and the channel. `at` is the
    server's clock (now); only the demo seed (seed_journeys) passes a past time."""
    row = _touch_row(visitor_id=touch.visitor_id, kind=touch.kind, page_url=touch.url, referrer=touch.referrer,
                     ip=ip, client_at=touch.client_at, at=at)
    row.save(force_insert=True)
    _bookings_refold_if_joined(touch=row)
    return row


# --- tracked links -------------------------------------------------------------------------------------


def _slug_new() -> str:
    return "".join(secrets.choice(SLUG_ALPHABET) for _ in range(8))


def tracked_link_create(*, destination: str, source: str, medium: str, campaign: str, content: str = "",
                        term: str = "", owner=None) -> tuple[TrackedLink, str]:
    """Save a link the builder accepts (same convention: no brand, no placeholders); returns it and the
    built URL. Raises attribution.links.LinkError with every reason it can't."""
    url = link_build(base_url=destination, source=source, medium=medium, campaign=campaign, content=content,
                     term=term, ruleset=ruleset_current())
    for _ in range(5):
        try:
            with transaction.atomic():
                link = TrackedLink.objects.create(
                    slug=_slug_new(), destination=destination.strip(), utm_source=source.strip().lower(),
                    utm_medium=medium.strip().lower(), utm_campaign=campaign.strip().lower(),
                    utm_content=content.strip().lower(), utm_term=term.strip(), owner=owner)
            return link, url
        except IntegrityError:  # 32^8 slugs: a collision is rare, try another
            continue
    raise RuntimeError("could not find a free slug")


def tracked_link_url(*, link: TrackedLink, visitor_id: str) -> str:
    """Where a click goes: the destination with the link's UTMs (replacing any there) and the visitor id.

    A Calendly destination has no snippet to adopt `sb_vid`, so the id goes into the booking's tracking
    instead: `utm_term`, or `salesforce_uuid` when the link has a term of its own."""
    parts = urlsplit(link.destination)
    kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
            if not k.lower().startswith("utm_") and k not in ("sb_vid", "salesforce_uuid")]
    utms = [("utm_source", link.utm_source), ("utm_medium", link.utm_medium), ("utm_campaign", link.utm_campaign),
            ("utm_content", link.utm_content), ("utm_term", link.utm_term)]
    kept += [(k, v) for k, v in utms if v]
    if visitor_id:
        host = (parts.hostname or "").lower()
        if host == "calendly.com" or host.endswith(".calendly.com"):
            kept.append(("salesforce_uuid" if link.utm_term else "utm_term", visitor_id))
        else:
            kept.append(("sb_vid", visitor_id))
    return urlunsplit(parts._replace(query=urlencode(kept)))


_links: dict = {}
LINK_CACHE_SECONDS = 30.0


def tracked_link_find(*, slug: str) -> TrackedLink | None:
    """The link behind a slug, remembered per process for 30 s: a redirect is one write, not a read and a write.
    An edited destination reaches every process within LINK_CACHE_SECONDS."""
    now = time.monotonic()
    hit = _links.get(slug)
    if hit is not None and hit[1] > now:
        return hit[0]
    link = TrackedLink.objects.filter(slug=slug).only(
        "id", "slug", "destination", "utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term").first()
    if len(_links) > 10_000:
        _links.clear()
    if link is not None:
        _links[slug] = (link, now + LINK_CACHE_SECONDS)
    return link


def tracked_link_click(*, link: TrackedLink, visitor_id: str, referrer: str, ip: str | None,
                       at: dt.datetime | None = None, new_visitor: bool = False) -> Touch | None:
    """Count a person's click and record it as a touch (no visitor id under consent-required: counted, not joined).
    `new_visitor`: the id was made for this click, so no booking can carry it yet (no probe for one)."""
    parts = urlsplit(link.destination)
    row = _touch_row(
        visitor_id=visitor_id, kind=Touch.Kind.CLICK, page_url=urlunsplit(parts._replace(query="")), referrer=referrer,
        ip=ip, link=link, at=at,
        extra_utms={"source": link.utm_source, "medium": link.utm_medium, "campaign": link.utm_campaign,
                    "content": link.utm_content, "term": link.utm_term},
    )
    if row.referrer_host == host_normalize(urlsplit(settings.SOURCEBOOK_PUBLIC_URL).hostname or ""):
        row.referrer_host = ""
    _click_store(row, link_id=link.pk)
    if row.link_id is None:
        _links.pop(link.slug, None)  # deleted since we cached it: the touch is kept, without the link
    if not new_visitor:
        _bookings_refold_if_joined(touch=row)
    return row


_CLICK_COLUMNS = ("visitor_id", "at", "client_at", "kind", "utm_raw", "source", "medium", "campaign", "content", "term",
                  "click_ids", "referrer_host", "landing_path", "channel", "ip_hash")


def _click_store(row: Touch, *, link_id: int) -> None:
    """The click count and the click's touch in one statement (one round trip, one commit: a redirect's cost);
    a link deleted since it was cached counts nothing and the touch keeps no link."""
    values = [Jsonb(getattr(row, name)) if name in ("utm_raw", "click_ids") else getattr(row, name)
              for name in _CLICK_COLUMNS]
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH counted AS (UPDATE {TrackedLink._meta.db_table} SET click_count = click_count + 1 WHERE id = %s"
            f" RETURNING id) INSERT INTO {Touch._meta.db_table} ({', '.join(_CLICK_COLUMNS)}, link_id)"
            f" VALUES ({', '.join(['%s'] * len(_CLICK_COLUMNS))}, (SELECT id FROM counted)) RETURNING id, link_id",
            [link_id, *values])
        row.id, row.link_id = cursor.fetchone()


# --- a touch that arrives after its booking ----------------------------------------------------------


def _bookings_refold_if_joined(*, touch: Touch) -> None:
    """A touch of a visitor who already booked (later than this touch) may change that booking's journey
    attribution: re-fold those bookings in a worker, after commit. One indexed probe; usually no booking."""
    if not touch.visitor_id:
        return
    if Booking.objects.filter(visitor_id=touch.visitor_id, booked_at__gte=touch.at).exists():
        bookings_refold_on_commit(visitor_id=touch.visitor_id)


def bookings_refold_for_visitor(*, visitor_id: str) -> int:
    """Re-fold every booking of this visitor id from its deliveries (through the seam, so HubSpot hears of
    a change), each in its own transaction. Returns how many bookings were re-folded."""
    uris = list(Booking.objects.filter(visitor_id=visitor_id).order_by("id").values_list("invitee_uri", flat=True))
    for uri in uris:
        with transaction.atomic():
            booking_rebuild(invitee_uri=uri)
    return len(uris)


# --- retention -----------------------------------------------------------------------------------------


def touches_purge(*, older_than_days: int | None = None, batch_size: int = 5000) -> int:
    """Touches past JOURNEY_RETENTION_DAYS are deleted (in batches: the table is the biggest we keep)."""
    days = settings.JOURNEY_RETENTION_DAYS if older_than_days is None else older_than_days
    if days <= 0:
        return 0
    cutoff = timezone.now() - dt.timedelta(days=days)
    removed = 0
    while True:
        ids = list(Touch.objects.filter(at__lt=cutoff).values_list("id", flat=True)[:batch_size])
        if not ids:
            return removed
        removed += Touch.objects.filter(id__in=ids).delete()[0]
