"""Journey reads: a person's visitor ids, their touches, first / last non-direct touch (plain dataclasses,
so attribution can fold them without touching the ORM)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Iterable

from django.db.models import Q

from attribution.rules import DIRECT, DIRECT_SOURCE, NOT_SET, Ruleset
from bookings.journey_port import JourneySummary, JourneyTouch
from bookings.models import Booking
from journeys.channels import touch_attribution
from journeys.models import Touch, TrackedLink
from journeys.services import VISITOR_ID_RE

TOUCH_FIELDS = ("id", "visitor_id", "at", "kind", "source", "medium", "campaign", "content", "term", "channel",
                "landing_path", "referrer_host", "click_ids", "link__slug")
# Tracking keys a visitor id can ride in (the snippet's `utm_term` / `salesforce_uuid`).
VISITOR_ID_KEYS = ("utm_term", "salesforce_uuid")


@dataclass(frozen=True)
class TouchRecord:
    id: int
    visitor_id: str
    at: dt.datetime
    kind: str
    source: str
    medium: str
    campaign: str
    content: str
    term: str
    channel: str
    landing_path: str
    referrer_host: str
    click_ids: dict
    link_slug: str = ""

    @property
    def is_direct(self) -> bool:
        return self.channel in ("", "Direct")


@dataclass(frozen=True)
class FirstAndLast:
    first: TouchRecord | None
    last_non_direct: TouchRecord | None
    count: int


def _record(row: dict) -> TouchRecord:
    slug = row.pop("link__slug", None) or ""
    return TouchRecord(**row, link_slug=slug)


def booking_visitor_ids(booking: Booking) -> list[str]:
    """Every visitor id a booking carries: the fold's `visitor_id` (a lone utm_term) and any `sbv_` id in
    its tracking's utm_term / salesforce_uuid, even beside other UTMs."""
    found = []
    if booking.visitor_id and VISITOR_ID_RE.match(booking.visitor_id):
        found.append(booking.visitor_id)
    tracking = booking.tracking or {}
    for key in VISITOR_ID_KEYS:
        value = str(tracking.get(key) or "").strip()
        if VISITOR_ID_RE.match(value) and value not in found:
            found.append(value)
    return found


def journey_for_visitor_ids(visitor_ids: Iterable[str], until: dt.datetime | None = None) -> list[TouchRecord]:
    """Every touch and click of these ids, oldest first (up to `until`, inclusive)."""
    ids = sorted({v for v in visitor_ids if v})
    if not ids:
        return []
    rows = Touch.objects.filter(visitor_id__in=ids)
    if until is not None:
        rows = rows.filter(at__lte=until)
    return [_record(row) for row in rows.order_by("at", "id").values(*TOUCH_FIELDS)]


def touches_first_and_last_non_direct(visitor_ids: Iterable[str], before: dt.datetime,
                                      lookback_days: int = 90) -> FirstAndLast:
    """A booking's first touch and last non-direct touch within the lookback window before it."""
    ids = sorted({v for v in visitor_ids if v})
    if not ids:
        return FirstAndLast(None, None, 0)
    rows = Touch.objects.filter(visitor_id__in=ids, at__lte=before, at__gte=before - dt.timedelta(days=lookback_days))
    count = rows.count()
    if not count:
        return FirstAndLast(None, None, 0)
    first = rows.order_by("at", "id").values(*TOUCH_FIELDS).first()
    last = rows.exclude(channel__in=["", "Direct"]).order_by("-at", "-id").values(*TOUCH_FIELDS).first()
    return FirstAndLast(_record(first), _record(last) if last else None, count)


SUMMARY_FIELDS = ("at", "source", "medium", "campaign", "content", "term", "utm_raw", "click_ids", "referrer_host",
                  "landing_path")
SUMMARY_SCAN = 1000  # touches read in one go, newest first; a longer window costs two more small queries


def _touch_now(row: dict, ruleset: Ruleset) -> JourneyTouch:
    """One touch attributed with these rules (the same UTM / click-id / referrer mapping as capture)."""
    utms = row["utm_raw"] or {}
    if not utms and not row["click_ids"] and not row["referrer_host"] and row["source"] not in ("", DIRECT_SOURCE):
        # A touch stored without its raw UTMs: the UTMs it was captured with are its input.
        utms = {name: row[name] for name in ("source", "medium", "campaign", "content", "term")
                if row[name] and row[name] != NOT_SET}
    found = touch_attribution(utms=utms, click_ids=row["click_ids"] or {}, referrer_host=row["referrer_host"],
                              ruleset=ruleset)
    return JourneyTouch(source=found.source, medium=found.medium, campaign=found.campaign, channel=found.channel,
                        at=row["at"], landing_path=row["landing_path"])


def journey_summary_for_booking(*, visitor_ids: Iterable[str], booked_at: dt.datetime, lookback_days: int,
                                ruleset: Ruleset) -> JourneySummary | None:
    """The fold's journey lookup (registered in bookings.journey_port by JourneysConfig.ready): the first
    touch and the last touch that is not Direct under `ruleset`, within `lookback_days` before `booked_at`.
    None when the window holds no touch."""
    ids = sorted({v for v in visitor_ids if v})
    if not ids:
        return None
    window = Touch.objects.filter(visitor_id__in=ids, at__lte=booked_at,
                                  at__gte=booked_at - dt.timedelta(days=lookback_days))
    newest = list(window.order_by("-at", "-id").values(*SUMMARY_FIELDS)[:SUMMARY_SCAN])
    if not newest:
        return None
    if len(newest) < SUMMARY_SCAN:
        count, first_row = len(newest), newest[-1]
    else:
        count, first_row = window.count(), window.order_by("at", "id").values(*SUMMARY_FIELDS).first()
    last = None
    for row in newest:
        touch = _touch_now(row, ruleset)
        if touch.channel not in ("", DIRECT):
            last = touch
            break
    return JourneySummary(first=_touch_now(first_row, ruleset), last_non_direct=last, count=count)


def _bookings_for_visitor_id(visitor_id: str):
    """The fold stores a booking's `sbv_` id in `visitor_id` wherever its tracking carried it (any UTM field,
    salesforce_uuid), so the partial index on it answers; reading the tracking JSON scanned every booking
    (0.5 s at 1M, bench/journeys.py)."""
    return Booking.objects.filter(visitor_id=visitor_id)


def journey_get(*, email: str = "", visitor_id: str = "") -> dict:
    """A person's journey: every visitor id that booked with the email (or, from one id, the emails it
    booked with), their touches and clicks, and their bookings, in time order."""
    email = (email or "").strip()
    ids: list[str] = []
    if visitor_id:
        ids.append(visitor_id)
        emails = {e for e in _bookings_for_visitor_id(visitor_id).values_list("email", flat=True) if e}
        if not email and emails:
            email = sorted(emails)[0]
    else:
        emails = set()
    if email:
        emails |= {email}
    bookings = list(Booking.objects.filter(Q(email__in={e for e in emails} | {e.lower() for e in emails}))
                    .order_by("booked_at", "id")) if emails else []
    if visitor_id and not bookings:
        bookings = list(_bookings_for_visitor_id(visitor_id).order_by("booked_at", "id"))
    for booking in bookings:
        ids.extend(v for v in booking_visitor_ids(booking) if v not in ids)
    events = []
    for touch in journey_for_visitor_ids(ids):
        events.append({
            "type": "click" if touch.kind == Touch.Kind.CLICK else "touch", "at": touch.at, "kind": touch.kind,
            "visitor_id": touch.visitor_id, "source": touch.source, "medium": touch.medium,
            "campaign": touch.campaign, "channel": touch.channel, "landing_path": touch.landing_path,
            "referrer_host": touch.referrer_host, "click_ids": sorted(touch.click_ids), "link": touch.link_slug,
            "_order": (0, touch.id),
        })
    for booking in bookings:
        at = booking.booked_at or booking.created_at
        events.append({
            "type": "booking", "at": at, "invitee_uri": booking.invitee_uri, "status": booking.status,
            "no_show": booking.no_show, "canceled_at": booking.canceled_at, "event_type": booking.event_type_name,
            "attribution": {"source": booking.source, "medium": booking.medium, "campaign": booking.campaign,
                            "channel": booking.channel,
                            # manual_utm is the assignment itself: it wins even on a row not re-folded since
                            "attributed_by": "manual" if booking.manual_utm else booking.attributed_by},
            "_order": (1, booking.id),
        })
    events.sort(key=lambda e: (e["at"], e.pop("_order")))
    return {"email": email, "visitor_ids": ids if (bookings or _has_touches(ids)) else [], "events": events}


def _has_touches(ids: list[str]) -> bool:
    return bool(ids) and Touch.objects.filter(visitor_id__in=ids).exists()


def tracked_link_list(*, limit: int = 100) -> list[TrackedLink]:
    return list(TrackedLink.objects.select_related("owner").order_by("-created_at", "-id")[:limit])


def person_get(*, email: str = "", visitor_id: str = "") -> dict:
    """The person page's read: their journey (journey_get) with each booking event joined to its Booking row
    (outcome, admin link), and a few totals. An unknown person gives empty lists, never an error."""
    journey = journey_get(email=email, visitor_id=visitor_id)
    events = journey["events"]
    uris = [e["invitee_uri"] for e in events if e["type"] == "booking"]
    rows = {b.invitee_uri: b for b in Booking.objects.filter(invitee_uri__in=uris)} if uris else {}
    bookings = []
    for event in events:
        if event["type"] == "booking":
            event["booking"] = rows.get(event["invitee_uri"])
            bookings.append(event)
    touches = [e for e in events if e["type"] != "booking"]
    return {**journey, "bookings": bookings, "touch_count": len(touches),
            "first_touch": touches[0] if touches else None}


def value_origins(*, source: str, medium: str, visitor_ids: Iterable[str] = (), limit: int = 3) -> list[str]:
    """Where a source/medium pair comes from, as far as journeys know: tracked links built with it, and the landing
    pages of touches that carried it (of the given visitors: a booking's visitor ids). Most recent first."""
    found: list[str] = []
    links = (TrackedLink.objects.filter(utm_source__iexact=source, utm_medium__iexact=medium)
             .order_by("-created_at").values_list("slug", "destination")[:limit])
    found += [f"tracked link /l/{slug} → {destination}" for slug, destination in links]
    ids = [v for v in dict.fromkeys(visitor_ids) if v][:50]
    if ids and len(found) < limit:
        touches = (Touch.objects.filter(visitor_id__in=ids, source=source, medium=medium)
                   .order_by("-at").values_list("link__slug", "landing_path")[:20])
        for slug, path in touches:
            where = f"tracked link /l/{slug}" if slug else (f"landing page {path}" if path else "")
            if where and not any(where in f for f in found):
                found.append(where)
    return found[:limit]
