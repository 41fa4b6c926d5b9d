"""What Sourcebook writes to HubSpot. Pure functions of booking state (the latest state wins)."""

from __future__ import annotations

from datetime import datetime, timezone as dt_timezone


from bookings.counting import person_first_and_last, person_journey
from bookings.models import Booking
from hubspot_sync.mapping import CONTACT_FIELDS, DEAL_FIELDS, FIELDS, Rule, properties_mapped

# Sourcebook's own contact properties (created by hubspot_setup): the mapping's default sourcebook_* targets.
CONTACT_PROPERTIES = [(f.default_property, f.label, f.type, f.field_type) for f in CONTACT_FIELDS
                      if f.default_property.startswith("sourcebook_")]
DEAL_PROPERTIES = [(f.default_property, f.label, f.type, f.field_type) for f in DEAL_FIELDS]
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


def default_rules(object_type: str = "contacts") -> list[Rule]:
    return [Rule(field=f.key, prop=f.default_property, policy=f.default_policy, portal_has=None)
            for f in FIELDS if f.object_type == object_type]


def contact_values(*, bookings: list[Booking], owners: dict | None = None) -> dict:
    """What Sourcebook knows of one person, by field key (see hubspot_sync.mapping.FIELDS), from all of their
    bookings: first touch, last touch, counts, name, phone, and the HubSpot owner of their last host (`owners`:
    host email -> owner id). Empty values are left out."""
    person = person_first_and_last(bookings)
    first, last = person.first, person.last
    first_name, last_name = last.first_name, last.last_name
    if not (first_name or last_name) and last.name:
        first_name, _, last_name = last.name.partition(" ")
    latest = sorted(bookings, key=lambda b: (b.booked_at is not None, b.booked_at or 0, b.pk or 0))
    phone = next((b.phone for b in reversed(latest) if b.phone), "")
    host = next((b.host_email for b in reversed(latest) if b.host_email), "")
    values = {
        "first_name": first_name,
        "last_name": last_name,
        "phone": phone,
        "owner": (owners or {}).get(host.lower()) if host else None,
        "last_utm_source": last.source,
        "last_utm_medium": last.medium,
        "last_utm_campaign": last.campaign,
        "last_utm_content": last.content,
        "last_utm_term": last.term,
        "last_channel": last.channel,
        "first_utm_source": first.source,
        "first_utm_medium": first.medium,
        "first_utm_campaign": first.campaign,
        "first_channel": first.channel,
        "self_reported_source": person.self_reported_source,
        "last_booking_at": _iso(last.booked_at),
        "bookings_count": str(person.counted),
        **{k.removeprefix("sourcebook_"): v for k, v in _journey_properties(bookings).items()},
    }
    return _present(values)


def contact_properties(*, bookings: list[Booking], rules: list[Rule] | None = None, current: dict | None = None,
                       owners: dict | None = None) -> dict:
    """One contact's properties as sent: `email`, then the mapped fields under their policies (`rules`: the admin's
    mapping, default the built-in one; `current`: HubSpot's values read in this pass, None for a new contact)."""
    values = contact_values(bookings=bookings, owners=owners)
    person = person_first_and_last(bookings)
    return _present({"email": person.last.email,
                     **properties_mapped(values, rules if rules is not None else default_rules(), current)})


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
