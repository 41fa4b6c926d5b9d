"""The notification outbox: `notify` writes one row per subscribed destination in the caller's transaction; a
worker claims due rows (SKIP LOCKED), sends each through apprise outside any transaction, and finishes it under its
claim token. A failure is retried with backoff, then dead-lettered (visible in the admin, retried from there).
Nothing here runs on a webhook's request path: callers are beat tasks, the admin and commands."""

from __future__ import annotations

import logging
import random
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.html import escape

from alerts.channels import DeliveryFailed, DestinationError, Message, deliver
from alerts.enqueue import send_on_commit
from alerts.models import Destination, Notification

logger = logging.getLogger("sourcebook.alerts")
State = Notification.State


def notify(topic: str, message: Message, *, key: str = "", destinations=None, enqueue: bool = True) -> list[Notification]:
    """Queue `message` for every enabled destination subscribed to `topic` (or the given ones). With a `key`, a
    destination gets it at most once (a digest per week, one "fired" per alert episode): repeats are skipped.
    `enqueue=False`: the caller sends the rows itself (the watchdog, when there may be no worker nor broker)."""
    targets = destinations if destinations is not None else Destination.objects.filter(enabled=True)
    now = timezone.now()
    created = []
    for destination in targets:
        if not destination.wants(topic):
            continue
        try:
            with transaction.atomic():
                created.append(Notification.objects.create(
                    destination=destination, topic=topic, key=key[:200], subject=message.subject[:250],
                    text=message.text, markdown=message.markdown, html=message.html, next_attempt_at=now))
        except IntegrityError:  # this key was already queued for this destination
            continue
    if created and enqueue:
        send_on_commit()
    return created


def _backoff(attempts: int) -> float:
    return min(settings.ALERTS_RETRY_MAX_SECONDS, 30 * 2 ** (attempts - 1)) * random.uniform(0.5, 1.0)


def send_claim(*, size: int = 20, key_prefix: str = "") -> list[Notification]:
    due = Notification.objects.filter(state=State.PENDING, next_attempt_at__lte=timezone.now())
    if key_prefix:
        due = due.filter(key__startswith=key_prefix)
    with transaction.atomic():
        ids = list(due.order_by("next_attempt_at").select_for_update(skip_locked=True).values_list("pk", flat=True)[:size])
        if not ids:
            return []
        Notification.objects.filter(pk__in=ids).update(
            state=State.IN_FLIGHT, claimed_at=timezone.now(), claim_token=uuid.uuid4())
    return list(Notification.objects.filter(pk__in=ids).select_related("destination").order_by("pk"))


def _finish(row: Notification, **fields) -> bool:
    """Only while our claim holds (a sweep may have handed the row to another worker)."""
    return bool(Notification.objects.filter(pk=row.pk, state=State.IN_FLIGHT, claim_token=row.claim_token)
                .update(claimed_at=None, **fields))


def send_one(row: Notification) -> bool:
    """Send one claimed row. Its batch was claimed at once: behind a slow destination a row may wait past
    ALERTS_CLAIM_TIMEOUT_SECONDS and be swept to another worker, so the claim is renewed (or found lost: not sent)
    right before sending. A worker stalled inside the send itself stays at-least-once."""
    if not (Notification.objects.filter(pk=row.pk, state=State.IN_FLIGHT, claim_token=row.claim_token)
            .update(claimed_at=timezone.now())):
        return False
    message = Message(subject=row.subject, text=row.text, markdown=row.markdown, html=row.html)
    attempts = row.attempts + 1
    try:
        if not row.destination.enabled:
            raise DeliveryFailed("destination is disabled")
        deliver(row.destination.url, message)
    except Exception as exc:  # noqa: BLE001 - anything apprise raises is this row's failure, counted: never a poison row
        dead = attempts >= settings.ALERTS_MAX_ATTEMPTS or isinstance(exc, DestinationError)
        logger.warning("notification %s to %s failed (attempt %s)%s", row.pk, row.destination, attempts,
                       ", dead-lettered" if dead else "")
        error = str(exc) if isinstance(exc, (DeliveryFailed, DestinationError)) else f"{type(exc).__name__}: {exc}"
        _finish(row, attempts=attempts, last_error=error[:2000], state=State.DEAD if dead else State.PENDING,
                next_attempt_at=timezone.now() + timedelta(seconds=_backoff(attempts)))
        return False
    _finish(row, attempts=attempts, state=State.SENT, sent_at=timezone.now(), last_error="")
    return True


def send_due(*, limit: int = 200, key_prefix: str = "") -> dict:
    """Send what is due (only keys starting with `key_prefix`, if given), batch by batch; returns counts."""
    counts = {"sent": 0, "failed": 0}
    while counts["sent"] + counts["failed"] < limit:
        rows = send_claim(key_prefix=key_prefix)
        if not rows:
            break
        for row in rows:
            counts["sent" if send_one(row) else "failed"] += 1
    return counts


def send_sweep() -> int:
    """Claims older than the claim timeout (a worker died mid-send) go back to pending. Returns how many are due."""
    stale = timezone.now() - timedelta(seconds=settings.ALERTS_CLAIM_TIMEOUT_SECONDS)
    Notification.objects.filter(state=State.IN_FLIGHT, claimed_at__lt=stale).update(
        state=State.PENDING, claimed_at=None, claim_token=None, next_attempt_at=timezone.now())
    due = Notification.objects.filter(state=State.PENDING, next_attempt_at__lte=timezone.now()).count()
    if due:
        send_on_commit()
    return due


def notifications_retry(ids) -> int:
    """Dead letters (and pending ones) sent again now, attempts reset."""
    changed = Notification.objects.filter(pk__in=list(ids), state__in=[State.DEAD, State.PENDING]).update(
        state=State.PENDING, attempts=0, next_attempt_at=timezone.now(), last_error="")
    if changed:
        send_on_commit()
    return changed


def notifications_discard(ids) -> int:
    return Notification.objects.filter(pk__in=list(ids), state__in=[State.DEAD, State.PENDING]).update(
        state=State.DISCARDED)


def destination_test(destination: Destination, *, by: str = "") -> Notification:
    """The admin's "send test": queued like any message (so it proves the worker path too)."""
    text = (f"Test message from Sourcebook{f' (sent by {by})' if by else ''}.\n"
            f"This destination receives: {', '.join(t for t in ('ops', 'marketing', 'digest') if getattr(destination, t))}.")
    message = Message(subject="Sourcebook: test message", text=text, markdown=text,
                      html=f"<p>{escape(text).replace(chr(10), '<br>')}</p>")
    return notify("test", message, destinations=[destination], key=f"test:{uuid.uuid4()}")[0]
