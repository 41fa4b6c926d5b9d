"""History from the Calendly API, stored as API snapshot deliveries so the fold reads them like webhooks.

- `backfill_run`: walk scheduled events (active and canceled) and their invitees; resumable from a checkpoint,
  with a thread fetching ahead so Calendly's rate-limit waits overlap our writes.
- `booking_event_fetch`: older webhook payloads have no embedded `scheduled_event` (only `event` as a URI),
  so the booking has no start time and no event type. A Celery task (never the webhook request) fetches
  the scheduled event and the invitee and stores them as an API snapshot (origin `backfill`, exactly what
  `backfill_calendly` stores): a replay of every stored delivery keeps the fetched fields, and a later
  backfill of the same invitee dedupes with it.
"""

from __future__ import annotations

import json
import logging
import queue
import threading

from django.db import connection
from django.utils import timezone

from bookings import calendly
from bookings.calendly_client import CalendlyError
from bookings.models import BackfillRun, Booking, WebhookDelivery
from bookings.services.fold import EVENT_FIELDS
from bookings.services.intake import delivery_store_snapshot
from bookings.suppression import email_suppressed
from hubspot_sync.models import BookingSync
from project.metrics import BACKFILL_INVITEES

logger = logging.getLogger("sourcebook.calendly")


def invitee_snapshot_body(*, invitee: dict, event: dict) -> bytes:
    """An API invitee as a stored delivery: same derivation path as webhooks, deterministic bytes."""
    envelope = {"event": calendly.INVITEE_SNAPSHOT, "created_at": invitee.get("updated_at") or invitee.get("created_at"),
                "payload": {**invitee, "scheduled_event": event}}
    return json.dumps(envelope, sort_keys=True, separators=(",", ":")).encode()


def backfill_invitee(*, invitee: dict, event: dict, dry_run: bool = False) -> str:
    """'created' | 'updated' | 'unchanged' | 'suppressed' — a webhook and a backfill of one invitee give one booking."""
    if email_suppressed(str(invitee.get("email") or "")):
        return "suppressed"  # a forgotten person: nothing of theirs is stored (bookings/suppression.py)
    body = invitee_snapshot_body(invitee=invitee, event=event)
    uri = invitee.get("uri", "")
    seen, before = _backfill_lookup(invitee_uri=uri, body=body)
    if seen:
        return "unchanged"  # exactly this snapshot was applied by an earlier run
    if dry_run:
        return "updated" if before else "created"
    delivery_store_snapshot(body=body, invitee_uri=uri)  # one commit per invitee
    if before is None:
        return "created"
    return "updated" if _backfill_lookup(invitee_uri=uri, body=b"")[1] != before else "unchanged"


def _backfill_lookup(*, invitee_uri: str, body: bytes) -> tuple[bool, tuple | None]:
    """(this exact snapshot already stored?, (booking id, outbox version) or None) in one round trip."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT EXISTS (SELECT 1 FROM {WebhookDelivery._meta.db_table} WHERE invitee_uri = %s AND origin = 'backfill'"
            f" AND body = %s), (SELECT ARRAY[b.id, coalesce(s.version, 0)] FROM {Booking._meta.db_table} b"
            f" LEFT JOIN {BookingSync._meta.db_table} s ON s.booking_id = b.id WHERE b.invitee_uri = %s)",
            [invitee_uri, body, invitee_uri],
        )
        seen, version = cursor.fetchone()
    return seen, tuple(version) if version else None


def backfill_run(*, client, since, until=None, organization: str | None = None, user: str | None = None,
                 dry_run: bool = False, progress=None) -> BackfillRun:
    """Walk scheduled events (active and canceled) and their invitees; resumable from its checkpoint.
    A Calendly error (e.g. still rate-limited after the client's capped waits) marks the run failed, then raises."""
    scope = f"user={user}" if user else f"organization={organization}"
    key = f"{scope}:{since.isoformat()}:{until.isoformat() if until else ''}"[:255]
    run, _ = BackfillRun.objects.get_or_create(key=key)
    if run.finished_at and not dry_run:
        BackfillRun.objects.filter(pk=run.pk).delete()  # a finished window runs again from the start
        run = BackfillRun.objects.create(key=key)
    try:
        _backfill_walk(run=run, client=client, since=since, until=until, organization=organization, user=user,
                       dry_run=dry_run, progress=progress)
    except CalendlyError as exc:
        # Visible, with the reason: a rate limit that did not clear, a revoked token... A rerun continues from the checkpoint.
        if not dry_run:
            run.failed_at, run.error = timezone.now(), str(exc)
            run.save()
        raise
    if not dry_run:
        run.finished_at, run.failed_at, run.error = timezone.now(), None, ""
        run.save()
    return run


def _backfill_walk(*, run: BackfillRun, client, since, until, organization, user, dry_run, progress) -> None:
    for status in ("active", "canceled"):
        token = run.checkpoint.get(status)
        if token == "done":
            continue
        pages = client.scheduled_events(organization=None if user else organization, user=user,
                                        min_start_time=since.isoformat().replace("+00:00", "Z"),
                                        max_start_time=until.isoformat().replace("+00:00", "Z") if until else None,
                                        status=status, page_token=token)
        for event, invitees, next_token in _fetched_ahead(pages, client):
            if event is None:  # a page of events is done: the checkpoint moves past it
                run.checkpoint[status] = next_token or "done"
                if not dry_run:
                    run.save()
                continue
            for invitee in invitees:
                outcome = backfill_invitee(invitee=invitee, event=event, dry_run=dry_run)
                setattr(run, outcome, getattr(run, outcome) + 1)
                run.invitees += 1
                BACKFILL_INVITEES.labels(result=outcome).inc()
            run.events += 1
            if progress:
                progress(run)


def _fetched_ahead(pages, client, *, depth: int = 300):
    """(event, its invitees, None) per event, then (None, None, next page token) per page — fetched
    by a thread running ahead of the caller, so Calendly's rate-limit waits overlap our database
    writes instead of adding to them. Bounded (`depth` events), and in order, so the checkpoint
    only ever moves past pages whose invitees were all stored. The thread does HTTP only."""
    items: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    class Stopped(Exception):
        pass

    def sleep(seconds):  # the client's 429 and backoff waits end when the caller is gone
        if stop.wait(seconds):
            raise Stopped

    original_sleep, client.sleep = client.sleep, sleep

    def put(item) -> bool:
        while not stop.is_set():
            try:
                items.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def fetch():
        try:
            for events, next_token in pages:
                for event in events:
                    if not put((event, client.invitees(event["uri"]), None)):
                        return
                if not put((None, None, next_token)):
                    return
            put(StopIteration())
        except Stopped:
            return
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread, raised there
            put(exc)

    fetcher = threading.Thread(target=fetch, name="calendly-backfill-fetch", daemon=True)
    fetcher.start()
    try:
        while True:
            item = items.get()
            if isinstance(item, StopIteration):
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        fetcher.join(timeout=20)  # at most one request in flight (the client's timeout is 15 s)
        if not fetcher.is_alive():
            client.sleep = original_sleep


def booking_event_fetch(*, client, booking_id: int) -> str:
    """Fill a booking's start/end time and event type from the API when they are still empty.

    Returns what happened: 'gone', 'complete' (nothing to do), 'no event' or the backfill outcome
    ('created' | 'updated' | 'unchanged'). CalendlyError propagates (the task decides on retry)."""
    booking = Booking.objects.filter(pk=booking_id).values("invitee_uri", "event_uri", *EVENT_FIELDS).first()
    if booking is None:
        return "gone"
    if all(booking[name] for name in EVENT_FIELDS):
        return "complete"
    if not booking["event_uri"]:
        return "no event"
    event = client.scheduled_event(booking["event_uri"])
    invitee = client.invitee(booking["invitee_uri"])
    outcome = backfill_invitee(invitee=invitee, event=event)
    logger.info("scheduled event fetched", extra={"booking_id": booking_id, "invitee_uri": booking["invitee_uri"],
                                                 "result": outcome})
    return outcome
