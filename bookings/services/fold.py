"""A booking is the fold of its invitee's verified deliveries: order and duplicates cannot matter.

`booking_rebuild` is the webhook's hot path (raw SQL on purpose, see bench/README.md); it reads
named rows, never positional tuples. Every change it makes reaches HubSpot through the seam
(`changes.bookings_changed`), in the same transaction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone as dt_timezone

from django.conf import settings
from django.db import connection
from django.utils import timezone
from psycopg.types.json import Jsonb

from attribution.rules import booking_attribution_fields, has_any_utm, has_attribution, is_visitor_id, visitor_id_in
from attribution.ruleset import ruleset_current
from bookings import calendly
from bookings.calendly import InviteeEvent, PayloadError
from bookings.enqueue import booking_event_fetch_on_commit
from bookings.journey_port import JourneySummary, journey_summary
from bookings.models import Booking, Suppression, WebhookDelivery
from bookings.services.changes import booking_insert_queued, bookings_changed

_EPOCH = datetime(1970, 1, 1, tzinfo=dt_timezone.utc)
# The fold's canonical order: the invitee's `updated_at` (Calendly's version of the invitee), then the
# event time, then this rank. Ties are real: a no-show webhook carries the invitee, whose `updated_at`
# need not move, and an API snapshot is stamped with the invitee's `updated_at`. At a tie, creation comes
# first, then a snapshot, then the no-show statements, the cancel last. An unmark ranks after a mark
# because an unmark only ever undoes a mark: at the same instant the unmark is the later statement, so
# the booking is not a no-show. The cancel's rank matters little: a cancel is final (`booking_fold`).
_RANK = {
    calendly.INVITEE_CREATED: 1,
    calendly.INVITEE_SNAPSHOT: 2,
    calendly.NO_SHOW_CREATED: 3,
    calendly.NO_SHOW_DELETED: 4,
    calendly.INVITEE_CANCELED: 5,
}
# Fields copied from the newest delivery that has a value for them.
DETAIL_FIELDS = (
    "event_uri", "email", "name", "first_name", "last_name", "timezone", "event_type_uri",
    "event_type_name", "start_time", "end_time", "booked_at", "questions_and_answers", "tracking", "phone", "host_email",
)
FOLD_FIELDS = DETAIL_FIELDS + (
    "status", "canceled_at", "canceled_by", "canceler_type", "cancel_reason", "rescheduled", "new_invitee_uri",
    "old_invitee_uri", "last_event_at", "no_show", "no_show_marked_at",
)
ATTRIBUTION_FIELDS = (
    "source", "medium", "campaign", "content", "term", "channel", "visitor_id", "attribution_flags", "utm_raw",
    "self_reported_raw", "self_reported_source", "rules_version",
)
# The journey (bookings/journey_port.py): written by the fold too, so a change reaches HubSpot through the seam.
JOURNEY_FIELDS = (
    "attributed_by", "first_touch_source", "first_touch_medium", "first_touch_campaign", "first_touch_channel",
    "first_touch_at", "last_touch_source", "last_touch_medium", "last_touch_campaign", "last_touch_channel",
    "last_touch_at", "touch_count", "first_touch_landing_path",
)
ATTRIBUTION_FIELDS += JOURNEY_FIELDS
WRITTEN_FIELDS = FOLD_FIELDS + ATTRIBUTION_FIELDS + ("rescheduled_from_id",)
JSON_FIELDS = {"questions_and_answers", "tracking", "utm_raw", "manual_utm"}
# What an older webhook payload (no embedded scheduled_event) leaves empty; a worker fetches it.
EVENT_FIELDS = ("start_time", "end_time", "event_type_uri", "event_type_name")
_TABLE = Booking._meta.db_table
# What `booking_rebuild` returns when the delivery's person is on the suppression list (no booking id is negative).
SUPPRESSED = -1


@dataclass(frozen=True)
class _Original:
    """The booking a reschedule came from (the row of its `old_invitee_uri`)."""

    id: int
    tracking: dict  # its effective UTM input, inherited when the new booking's own tracking says nothing
    rescheduled: bool
    booked_at: datetime | None


def _param(name, value):
    return Jsonb(value) if name in JSON_FIELDS else value


def _json(value):
    """Django's PostgreSQL backend hands jsonb to raw cursors as text."""
    return json.loads(value) if isinstance(value, str) else value


def _fetch_named(cursor) -> dict | None:
    """The next row as {column: value}, jsonb decoded; None when there is none."""
    row = cursor.fetchone()
    if row is None:
        return None
    names = [column.name for column in cursor.description]
    return {name: _json(value) if name in JSON_FIELDS else value for name, value in zip(names, row)}


def booking_rebuild(*, invitee_uri: str, including: int | None = None, pending: InviteeEvent | None = None,
                    suppression_hash: str = "") -> int | None:
    """A booking is the fold of all its verified deliveries, so order and duplicates cannot matter.

    Lock the row first, then read the deliveries: whoever holds the lock last has seen every
    delivery committed before it, so the last writer always writes the complete state.
    `including` is a stored delivery to fold whatever its state (a replay of a failed one);
    `pending` is the event of a delivery that will be stored in this same transaction.
    `suppression_hash` is the hashed email of the delivery being folded (bookings/suppression.py): when that
    person is forgotten, nothing is written and `SUPPRESSED` is returned. The list is read in the same
    statement as the deliveries, so the webhook pays no round trip of its own for it.
    Raw SQL on purpose: this is the webhook hot path (see bench/README.md).
    """
    columns = ", ".join(WRITTEN_FIELDS)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, {columns}, manual_utm FROM {_TABLE} WHERE invitee_uri = %s FOR UPDATE", [invitee_uri])
        current = _fetch_named(cursor)
        events, dependents, suppressed = _booking_events(cursor=cursor, invitee_uri=invitee_uri, including=including,
                                                         suppression_hash=suppression_hash)
        if suppressed:
            return SUPPRESSED
        if pending is not None:
            events.append(pending)
        if not events:
            return current["id"] if current else None
        fields = booking_fold(events=events)
        fetch_event = booking_event_fetch_needed(fields=fields, events=events)  # an older payload without scheduled_event
        fields["rescheduled"] = fields["rescheduled"] or bool(dependents)
        original = None
        if fields["old_invitee_uri"] and fields["old_invitee_uri"] != invitee_uri:
            original = _original_booking(cursor=cursor, invitee_uri=fields["old_invitee_uri"])
        fields["rescheduled_from_id"] = original.id if original else None
        if original and original.booked_at:
            fields["booked_at"] = original.booked_at  # a reschedule is the same demo, booked when the chain's first booking was
        fields.update(_attribution_fields(tracking=fields["tracking"], old_tracking=original.tracking if original else None,
                                          qa=fields["questions_and_answers"], manual=current["manual_utm"] if current else None,
                                          booked_at=fields["booked_at"]))
        # psycopg caches a statement's %s → $n conversion only up to 50 parameters (psycopg/_queries.py): an
        # absent value (rescheduled_from_id but for a reschedule's new half, canceled_at and no_show_marked_at of
        # an active booking, ...) is written as the literal NULL, keeping a new booking's INSERT and UPDATE at 50
        # and the conversion cached (it was ~7 % of a webhook's CPU). The texts differ only by which are NULL.
        placeholders = ["NULL" if fields[name] is None else "%s" for name in WRITTEN_FIELDS]
        values = [_param(name, fields[name]) for name, p in zip(WRITTEN_FIELDS, placeholders) if p == "%s"]
        if current is None:
            # One statement for the row and its outbox entry (the seam's insert form); `hubspot_state` is left to
            # its database default, pending.
            booking_id = booking_insert_queued(
                cursor=cursor,
                insert_sql=f"INSERT INTO {_TABLE} (invitee_uri, {columns}, hubspot_contact_id, hubspot_meeting_id,"
                           f" created_at, updated_at) VALUES (%s, {', '.join(placeholders)}, '', '', now(), now())"
                           f" ON CONFLICT (invitee_uri) DO NOTHING RETURNING id",
                params=[invitee_uri, *values],
            )
            if booking_id is None:  # a concurrent first delivery won the insert: take the locking path
                return booking_rebuild(invitee_uri=invitee_uri, including=including, pending=pending,
                                       suppression_hash=suppression_hash)
            changed = False  # queued already, by the insert's own statement
        else:
            booking_id = current["id"]
            changed = any(current[name] != fields[name] for name in WRITTEN_FIELDS)
            if changed:
                assignments = ", ".join(f"{name} = {p}" for name, p in zip(WRITTEN_FIELDS, placeholders))
                cursor.execute(f"UPDATE {_TABLE} SET {assignments}, updated_at = now() WHERE id = %s", [*values, booking_id])
        queued = [booking_id] if changed else []
        if original is not None and not original.rescheduled:
            cursor.execute(f"UPDATE {_TABLE} SET rescheduled = true, updated_at = now() WHERE id = %s AND NOT rescheduled",
                           [original.id])
            if cursor.rowcount:
                queued.append(original.id)
    # The new half of a reschedule may have arrived first: link it now, down the whole chain.
    if dependents:
        queued += _reschedules_relink(booking_id=booking_id, utm_raw=fields["utm_raw"], booked_at=fields["booked_at"],
                                      dependents=dependents)
    bookings_changed(booking_ids=queued)
    if fetch_event:
        booking_event_fetch_on_commit(booking_id=booking_id)  # in a worker: never on the webhook request
    return booking_id


def _original_booking(*, cursor, invitee_uri: str) -> _Original | None:
    cursor.execute(f"SELECT id, utm_raw, rescheduled, booked_at FROM {_TABLE} WHERE invitee_uri = %s", [invitee_uri])
    row = _fetch_named(cursor)
    if row is None:
        return None
    return _Original(id=row["id"], tracking=_tracking_from_raw(row["utm_raw"]), rescheduled=row["rescheduled"],
                     booked_at=row["booked_at"])


def booking_fold(*, events: list[InviteeEvent]) -> dict:
    """Fold events in a canonical order into booking fields; any arrival order gives the same booking.

    The order: the invitee's `updated_at` (Calendly's version of the invitee), then the event time, then
    the kind (`_RANK`), then the event itself, so even exact duplicates sort the same way. Detail fields
    take the newest non-empty value. A cancel is final: the booking is canceled if any event cancels it,
    whatever comes after (a no-show statement after a cancel does not make it active again). No-show is
    the one flag that flips back: the latest statement about it wins.
    """
    ordered = sorted(events, key=lambda e: (e.updated_at or _EPOCH, e.occurred_at or _EPOCH, _RANK[e.kind], repr(e)))
    fields: dict = {name: Booking._meta.get_field(name).get_default() for name in DETAIL_FIELDS}
    for event in ordered:
        for name in DETAIL_FIELDS:
            value = getattr(event, name)
            if name == "tracking" and not has_any_utm(value) and has_any_utm(fields["tracking"]):
                continue
            if value not in (None, "", [], {}):
                fields[name] = value
    cancels = [e for e in ordered if e.is_cancel]
    last_cancel = cancels[-1] if cancels else None
    fields.update(
        status=Booking.Status.CANCELED if cancels else Booking.Status.ACTIVE,
        canceled_at=next((e.canceled_at for e in reversed(cancels) if e.canceled_at), None),
        canceled_by=last_cancel.canceled_by if last_cancel else "",
        canceler_type=last_cancel.canceler_type if last_cancel else "",
        cancel_reason=last_cancel.cancel_reason if last_cancel else "",
        rescheduled=any(e.rescheduled for e in ordered),
        new_invitee_uri=next((e.new_invitee_uri for e in reversed(ordered) if e.new_invitee_uri), ""),
        old_invitee_uri=next((e.old_invitee_uri for e in reversed(ordered) if e.old_invitee_uri), ""),
        last_event_at=max((e.occurred_at for e in ordered if e.occurred_at), default=None),
    )
    # No-show is the one flag that can flip back: the latest statement about it wins (by when it was
    # made; at the same instant an unmark, ranked after the mark, wins).
    statements = sorted(
        (e for e in ordered if e.no_show is not None),
        key=lambda e: (e.occurred_at or e.updated_at or _EPOCH, _RANK[e.kind]),
    )
    latest = statements[-1] if statements else None
    fields["no_show"] = bool(latest and latest.no_show)
    fields["no_show_marked_at"] = (latest.no_show_at or latest.occurred_at) if fields["no_show"] else None
    return fields


def booking_event_fetch_needed(*, fields: dict, events: list) -> bool:
    """A fold that lacks the scheduled event's details and has never asked the API: fetch them.

    Once an API snapshot of the invitee is stored, the API has answered; asking again would loop."""
    if not settings.CALENDLY_TOKEN or not fields.get("event_uri"):
        return False
    if all(fields.get(name) for name in EVENT_FIELDS):
        return False
    return not any(event.kind == calendly.INVITEE_SNAPSHOT for event in events)


def booking_reattribute(*, booking: Booking, ruleset=None) -> bool:
    """Recompute one booking's attribution (its journey's too) after rules change; True when something moved.

    The caller holds the booking's row lock (a manual assignment locks its bookings by id). `ruleset`: the
    rules to apply (a reattribute job's); default the current ones."""
    old_tracking = _tracking_from_raw(booking.rescheduled_from.utm_raw) if booking.rescheduled_from_id else None
    updates = _attribution_fields(tracking=booking.tracking, old_tracking=old_tracking, qa=booking.questions_and_answers,
                                  manual=booking.manual_utm, booked_at=booking.booked_at, ruleset=ruleset)
    changed = [k for k, v in updates.items() if getattr(booking, k) != v]
    moved = [k for k in changed if k != "rules_version"]  # a version stamp alone is nothing HubSpot shows
    if changed:
        for k in changed:
            setattr(booking, k, updates[k])
        booking.save(update_fields=[*changed, "updated_at"] if moved else changed)
    if moved:
        bookings_changed(booking_ids=[booking.pk])
    return bool(moved)


def _reschedules_relink(*, booking_id: int, utm_raw: dict, booked_at, dependents: list[int]) -> list[int]:
    """Bookings rescheduled from this one (and from those, and so on) take its link, its booking date
    and, when their own tracking says nothing, its attribution. Returns the ids that changed.

    Each level of the chain is locked (by id) before it is read, so what is compared and written is
    the row as it is, not as it was before a concurrent writer changed it."""
    changed, todo = [], [(booking_id, utm_raw, booked_at, dependents)]
    while todo:
        parent_id, parent_raw, parent_booked_at, ids = todo.pop()
        for newer in Booking.objects.filter(pk__in=ids).order_by("pk").select_for_update():
            updates = {"rescheduled_from_id": parent_id, "booked_at": parent_booked_at or newer.booked_at}
            updates.update(_attribution_fields(tracking=newer.tracking, old_tracking=_tracking_from_raw(parent_raw),
                                               qa=newer.questions_and_answers, manual=newer.manual_utm,
                                               booked_at=updates["booked_at"]))
            if any(getattr(newer, k) != v for k, v in updates.items()):
                Booking.objects.filter(pk=newer.pk).update(**updates, updated_at=timezone.now())
                changed.append(newer.pk)
            next_ids = list(Booking.objects.filter(old_invitee_uri=newer.invitee_uri).exclude(old_invitee_uri="")
                            .exclude(pk=newer.pk).values_list("pk", flat=True))
            if next_ids:
                todo.append((newer.pk, updates["utm_raw"], updates["booked_at"], next_ids))
    return changed


def _tracking_from_raw(raw: dict | None) -> dict:
    """A booking's effective UTM input (`utm_raw`: its own, inherited or manual) as a tracking dict."""
    return {f"utm_{name}": value for name, value in (raw or {}).items()}


def _attribution_fields(*, tracking: dict, old_tracking: dict | None, qa: list, manual: dict | None = None,
                        booked_at=None, ruleset=None) -> dict:
    """Marketing's manual assignment wins; a rescheduled booking keeps what its original booking was
    attributed to (that booking's own, inherited or manual UTM) when its own tracking says nothing; when
    nothing says where from, the journey's last non-direct touch does (`attributed_by="journey"`).

    The visitor id is the booking's own (an `sbv_` id in any tracking field), else what the effective
    UTMs carry. Only a booking with an `sbv_` id asks for its journey: no query on the usual webhook."""
    ruleset = ruleset or ruleset_current()
    if manual:
        effective, attributed_by = manual, Booking.AttributedBy.MANUAL
    else:
        effective = tracking if (has_attribution(tracking) or not old_tracking) else old_tracking
        attributed_by = Booking.AttributedBy.BOOKING
    fields = booking_attribution_fields(tracking=effective or {}, questions_and_answers=qa or [], ruleset=ruleset)
    fields["visitor_id"] = visitor_id_in(tracking) or fields["visitor_id"]
    journey = None
    if is_visitor_id(fields["visitor_id"]):
        journey = journey_summary(visitor_ids=[fields["visitor_id"]], booked_at=booked_at,
                                  lookback_days=settings.JOURNEY_LOOKBACK_DAYS, ruleset=ruleset)
    fields.update(_journey_fields(journey))
    if not manual and not has_attribution(effective) and journey is not None and journey.last_non_direct is not None:
        touch = journey.last_non_direct
        fields.update(source=touch.source[:255], medium=touch.medium[:255], campaign=touch.campaign[:255], content="",
                      term="", channel=touch.channel[:64])
        attributed_by = Booking.AttributedBy.JOURNEY
    fields["attributed_by"] = str(attributed_by)
    return fields


def _journey_fields(journey: JourneySummary | None) -> dict:
    first = journey.first if journey else None
    last = journey.last_non_direct if journey else None
    fields = {"touch_count": journey.count if journey else 0,
              "first_touch_landing_path": first.landing_path[:512] if first else ""}
    for prefix, touch in (("first_touch", first), ("last_touch", last)):
        fields.update({
            f"{prefix}_source": touch.source[:255] if touch else "", f"{prefix}_medium": touch.medium[:255] if touch else "",
            f"{prefix}_campaign": touch.campaign[:255] if touch else "",
            f"{prefix}_channel": touch.channel[:64] if touch else "", f"{prefix}_at": touch.at if touch else None,
        })
    return fields


_EVENTS_SQL = (
    f"SELECT body, NULL::bigint FROM {WebhookDelivery._meta.db_table} WHERE invitee_uri = %s"
    " AND (state IN ('received', 'processed') OR id = %s)"
    f" UNION ALL SELECT NULL, id FROM {_TABLE} WHERE old_invitee_uri = %s AND old_invitee_uri <> '' AND invitee_uri <> %s"
)
# The suppression list's row, if any, comes back as a row with neither a body nor a dependent.
_EVENTS_OR_SUPPRESSED_SQL = _EVENTS_SQL + f" UNION ALL SELECT NULL, NULL FROM {Suppression._meta.db_table} WHERE email_hash = %s"


def _booking_events(*, cursor, invitee_uri: str, including: int | None,
                    suppression_hash: str = "") -> tuple[list[InviteeEvent], list[int], bool]:
    """The invitee's deliveries, the bookings naming it as their `old_invitee`, and whether `suppression_hash`
    is on the suppression list (one round trip; nothing is parsed for a forgotten person)."""
    params = [invitee_uri, including or 0, invitee_uri, invitee_uri]
    if suppression_hash:
        cursor.execute(_EVENTS_OR_SUPPRESSED_SQL, [*params, suppression_hash])
    else:
        cursor.execute(_EVENTS_SQL, params)
    rows = cursor.fetchall()
    if any(body is None and dependent is None for body, dependent in rows):
        return [], [], True
    events, dependents = [], []
    for body, dependent in rows:
        if dependent is not None:
            dependents.append(dependent)
            continue
        try:
            event = calendly.event_parse(bytes(body))
        except PayloadError:
            continue
        if event is not None and event.invitee_uri == invitee_uri:
            events.append(event)
    return events, dependents, False
