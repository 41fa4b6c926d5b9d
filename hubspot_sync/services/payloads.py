"""What Sourcebook writes to HubSpot. Pure functions of booking state (the latest state wins)."""

from __future__ import annotations

from datetime import datetime, timezone as dt_timezone


from bookings.counting import person_first_and_last, person_journey
from bookings.models import Booking

CONTACT_PROPERTIES = [
    # (name, label, type, fieldType)
    ("sourcebook_last_utm_source", "Last UTM source", "string", "text"),
    ("sourcebook_last_utm_medium", "Last UTM medium", "string", "text"),
    ("sourcebook_last_utm_campaign", "Last UTM campaign", "string", "text"),
    ("sourcebook_last_utm_content", "Last UTM content", "string", "text"),
    ("sourcebook_last_utm_term", "Last UTM term", "string", "text"),
    ("sourcebook_last_channel", "Last channel", "string", "text"),
    ("sourcebook_first_utm_source", "First UTM source", "string", "text"),
    ("sourcebook_first_utm_medium", "First UTM medium", "string", "text"),
    ("sourcebook_first_utm_campaign", "First UTM campaign", "string", "text"),
    ("sourcebook_first_channel", "First channel", "string", "text"),
    ("sourcebook_self_reported_source", "Self-reported source", "string", "text"),
    # From the visitor's journey (the site snippet and tracked links), when their bookings carry a visitor id.
    ("sourcebook_first_touch_source", "First touch source", "string", "text"),
    ("sourcebook_first_touch_medium", "First touch medium", "string", "text"),
    ("sourcebook_first_touch_campaign", "First touch campaign", "string", "text"),
    ("sourcebook_first_touch_landing_page", "First touch landing page", "string", "text"),
    ("sourcebook_first_touch_at", "First touch at", "datetime", "date"),
    ("sourcebook_last_touch_source", "Last touch source", "string", "text"),
    ("sourcebook_last_touch_medium", "Last touch medium", "string", "text"),
    ("sourcebook_last_touch_campaign", "Last touch campaign", "string", "text"),
    ("sourcebook_last_touch_channel", "Last touch channel", "string", "text"),
    ("sourcebook_last_touch_at", "Last touch at", "datetime", "date"),
    ("sourcebook_touches", "Touches before booking", "number", "number"),
    ("sourcebook_days_to_booking", "Days from first touch to booking", "number", "number"),
    ("sourcebook_last_booking_at", "Last booking at", "datetime", "date"),
    ("sourcebook_bookings_count", "Bookings", "number", "number"),
]
MEETING_PROPERTIES = [("sourcebook_booking_uri", "Sourcebook booking (Calendly invitee URI)", "string", "text")]
GROUP = ("sourcebook", "Sourcebook")


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(dt_timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def _present(properties: dict) -> dict:
    """HubSpot reads "" as "clear this property": an unknown value is left out, never sent empty (a one-word
    name must not wipe the last name a rep typed in)."""
    return {k: v for k, v in properties.items() if v is not None and str(v).strip() != ""}


def calendly_link(booking: Booking) -> str | None:
    """A link a person can open for this meeting. Calendly's API URIs (api.calendly.com/...) need a token, and a
    scheduled event has no public page; the invitee's `reschedule_url` (https://calendly.com/reschedulings/<invitee
    uuid>, in every invitee payload since 2020-12) opens the booking's own page with its time and event type."""
    parts = (booking.invitee_uri or "").rstrip("/").split("/")
    if len(parts) >= 2 and parts[-2] == "invitees" and parts[-1] and "api.calendly.com" in booking.invitee_uri:
        return f"https://calendly.com/reschedulings/{parts[-1]}"
    return None


def contact_properties(*, bookings: list[Booking]) -> dict:
    """One contact from all of that person's bookings: first touch, last touch, counts (no empty values)."""
    person = person_first_and_last(bookings)
    first, last = person.first, person.last
    first_name, last_name = last.first_name, last.last_name
    if not (first_name or last_name) and last.name:
        first_name, _, last_name = last.name.partition(" ")
    return _present({
        "email": last.email,
        "firstname": first_name,
        "lastname": last_name,
        "sourcebook_last_utm_source": last.source,
        "sourcebook_last_utm_medium": last.medium,
        "sourcebook_last_utm_campaign": last.campaign,
        "sourcebook_last_utm_content": last.content,
        "sourcebook_last_utm_term": last.term,
        "sourcebook_last_channel": last.channel,
        "sourcebook_first_utm_source": first.source,
        "sourcebook_first_utm_medium": first.medium,
        "sourcebook_first_utm_campaign": first.campaign,
        "sourcebook_first_channel": first.channel,
        "sourcebook_self_reported_source": person.self_reported_source,
        "sourcebook_last_booking_at": _iso(last.booked_at),
        "sourcebook_bookings_count": str(person.counted),
        **_journey_properties(bookings),
    })


def _journey_properties(bookings: list[Booking]) -> dict:
    """First and last touch from the person's journey; nothing at all when no booking has one (an empty value
    would clear what HubSpot holds)."""
    journey = person_journey(bookings)
    properties = {}
    if journey.first is not None:
        first = journey.first
        days = (first.booked_at - first.first_touch_at).days if first.booked_at else None
        properties.update({
            "sourcebook_first_touch_source": first.first_touch_source,
            "sourcebook_first_touch_medium": first.first_touch_medium,
            "sourcebook_first_touch_campaign": first.first_touch_campaign,
            "sourcebook_first_touch_landing_page": first.first_touch_landing_path,
            "sourcebook_first_touch_at": _iso(first.first_touch_at),
            "sourcebook_days_to_booking": str(max(days, 0)) if days is not None else None,
        })
    if journey.last is not None:
        last = journey.last
        properties.update({
            "sourcebook_last_touch_source": last.last_touch_source,
            "sourcebook_last_touch_medium": last.last_touch_medium,
            "sourcebook_last_touch_campaign": last.last_touch_campaign,
            "sourcebook_last_touch_channel": last.last_touch_channel,
            "sourcebook_last_touch_at": _iso(last.last_touch_at),
        })
    if journey.touches:
        properties["sourcebook_touches"] = str(journey.touches)
    return properties


def meeting_outcome(booking: Booking) -> str:
    if booking.rescheduled:
        return "RESCHEDULED"
    if booking.status == Booking.Status.CANCELED:
        return "CANCELED"
    if booking.no_show:
        return "NO_SHOW"
    return "SCHEDULED"


def meeting_properties(*, booking: Booking) -> dict:
    start = booking.start_time or booking.booked_at
    qa = "; ".join(f"Q: {q.get('question')} A: {q.get('answer')}" for q in booking.questions_and_answers or [])
    return _present({
        "hs_timestamp": _iso(start),
        "hs_meeting_title": f"{booking.event_type_name or 'Calendly booking'} – {booking.name or booking.email}",
        "hs_meeting_body": f"Booked via Calendly ({booking.channel}: {booking.source} / {booking.medium} / {booking.campaign}). {qa}".strip(),
        "hs_meeting_start_time": _iso(start),
        "hs_meeting_end_time": _iso(booking.end_time or start),
        "hs_meeting_outcome": meeting_outcome(booking),
        "hs_meeting_external_url": calendly_link(booking),
        "sourcebook_booking_uri": booking.invitee_uri,
    })
