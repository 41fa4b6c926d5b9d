"""The GDPR-delete outbox: `privacy` queues a contact erasure in its own transaction; a worker sends it.

Same conventions as the booking outbox (services/outbox.py): claimed with SKIP LOCKED and a fencing token,
committed before any HTTP; transient failures (5xx, timeouts, 429) back off exponentially with jitter
(the 429's Retry-After wins and costs no attempt); HUBSPOT_MAX_ATTEMPTS failures make a dead letter;
HubSpot refusing the request (4xx) is a dead letter at once. With no HubSpot credentials (dry run) the
row is `skipped`, and an admin "retry" sends it once credentials exist.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from hubspot_sync.client import HubSpotClient, HubSpotError
from hubspot_sync.enqueue import erasure_drain_on_commit
from hubspot_sync.models import ContactErasure
from hubspot_sync.ratelimit import backoff_seconds
from hubspot_sync.services.connection import (
    ConnectionBroken, connection_daily_blocked_until, connection_daily_limit_hit, connection_mode,
)
from hubspot_sync.services.sync import hubspot_client

logger = logging.getLogger("sourcebook.hubspot")
State = ContactErasure.State
_TABLE = ContactErasure._meta.db_table


@dataclass
class ErasureReport:
    claimed: int = 0
    done: int = 0
    retried: int = 0
    dead: int = 0
    skipped: int = 0
    errors: list = field(default_factory=list)


def erasure_enqueue(*, email: str, email_hash: str) -> ContactErasure:
    """Queue a GDPR delete of the contact with this email; call inside the erasure's transaction (the drain
    is enqueued on commit, so a rolled-back erasure sends nothing)."""
    row = ContactErasure.objects.create(email=email, email_hash=email_hash, next_attempt_at=timezone.now())
    erasure_drain_on_commit()
    return row


def erasure_claim(*, size: int = 20) -> list[ContactErasure]:
    with transaction.atomic():
        ids = list(ContactErasure.objects.filter(state=State.PENDING, next_attempt_at__lte=timezone.now())
                   .order_by("next_attempt_at").select_for_update(skip_locked=True).values_list("pk", flat=True)[:size])
        if not ids:
            return []
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {_TABLE} SET state = 'in_flight', claimed_at = now(), claim_token = %s, attempts = attempts + 1,"
                " updated_at = now() WHERE id = ANY(%s)",
                [uuid.uuid4(), ids],
            )
    return list(ContactErasure.objects.filter(pk__in=ids).order_by("pk"))


def _ours(row: ContactErasure):
    return ContactErasure.objects.filter(pk=row.pk, state=State.IN_FLIGHT, claim_token=row.claim_token)


def erasure_finish_done(*, row: ContactErasure, state: str = State.DONE, error: str = "") -> bool:
    """HubSpot confirmed (or a dry run): the raw email goes, only its hash stays (a skipped row keeps the
    email: a retry once credentials exist must still be able to send it)."""
    email = row.email if state == State.SKIPPED else ""
    return bool(_ours(row).update(state=state, email=email, done_at=timezone.now(), last_status=None,
                                  last_error=error, updated_at=timezone.now()))


def erasure_finish_retry(*, row: ContactErasure, error: str, status: int | None = None,
                         retry_after: float | None = None, count_attempt: bool = True) -> str:
    """Back off (exponential, jittered, capped at HUBSPOT_RETRY_MAX_SECONDS); a dead letter after
    HUBSPOT_MAX_ATTEMPTS counted attempts. Returns the row's new state."""
    attempts = row.attempts if count_attempt else max(0, row.attempts - 1)
    if count_attempt and attempts >= settings.HUBSPOT_MAX_ATTEMPTS:
        erasure_finish_dead(row=row, error=f"gave up after {attempts} attempts: {error}", status=status)
        return State.DEAD
    delay = retry_after if retry_after is not None else backoff_seconds(attempts)
    _ours(row).update(state=State.PENDING, attempts=attempts, next_attempt_at=timezone.now() + timedelta(seconds=delay),
                      last_error=error[:4000], last_status=status, updated_at=timezone.now())
    return State.PENDING


def erasure_finish_dead(*, row: ContactErasure, error: str, status: int | None = None) -> None:
    _ours(row).update(state=State.DEAD, last_error=error[:4000], last_status=status, updated_at=timezone.now())


def erasure_retry(*, ids: list[int]) -> int:
    """Admin "retry": dead letters and dry-run rows go back to the queue with a fresh attempt budget."""
    with transaction.atomic():
        count = ContactErasure.objects.filter(pk__in=ids, state__in=[State.DEAD, State.SKIPPED]).exclude(email="").update(
            state=State.PENDING, attempts=0, next_attempt_at=timezone.now(), claim_token=None, updated_at=timezone.now())
        if count:
            erasure_drain_on_commit()
    return count


def erasure_sweep_stale(*, older_than_seconds: int | None = None) -> int:
    """A worker killed mid-send leaves rows in flight: back to pending (a GDPR delete is idempotent)."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds or settings.HUBSPOT_CLAIM_TIMEOUT_SECONDS)
    return ContactErasure.objects.filter(state=State.IN_FLIGHT, claimed_at__lt=cutoff).update(
        state=State.PENDING, next_attempt_at=timezone.now(), updated_at=timezone.now())


def erasure_drain(*, client: HubSpotClient | None = None, max_rows: int = 200) -> ErasureReport:
    """Send due erasures one by one (the shared rate limiter paces them). Never raises for HubSpot errors."""
    report = ErasureReport()
    dry_run = client is None and connection_mode() == "dry_run"
    if not dry_run and connection_daily_blocked_until():
        return report  # the daily limit is spent: rows wait in the queue
    own = client is None and not dry_run
    if own:
        client = hubspot_client()
    try:
        while report.claimed < max_rows:
            rows = erasure_claim()
            if not rows:
                break
            report.claimed += len(rows)
            for row in rows:
                _erasure_send(row=row, client=None if dry_run else client, report=report)
    finally:
        if own and client is not None:
            client.close()
    if report.claimed:
        logger.info("hubspot erasures", extra={"claimed": report.claimed, "done": report.done, "retried": report.retried,
                                               "dead": report.dead, "skipped": report.skipped})
    return report


def _erasure_send(*, row: ContactErasure, client: HubSpotClient | None, report: ErasureReport) -> None:
    if client is None:
        erasure_finish_done(row=row, state=State.SKIPPED, error="dry run: no HubSpot credentials configured")
        report.skipped += 1
        return
    if not row.email:
        erasure_finish_dead(row=row, error="no email left to send (already erased)")
        report.dead += 1
        return
    try:
        client.contact_gdpr_delete(row.email)
    except ConnectionBroken as exc:
        erasure_finish_retry(row=row, error=f"HubSpot connection broken: {exc}", retry_after=300, count_attempt=False)
        report.retried += 1
        return
    except HubSpotError as exc:
        report.errors.append(f"{exc.kind}: {exc.message}")
        if exc.daily:
            until = connection_daily_limit_hit()
            erasure_finish_retry(row=row, error=f"HubSpot daily request limit reached; paused until {until.isoformat()}",
                                 status=exc.status, retry_after=max(1.0, (until - timezone.now()).total_seconds()),
                                 count_attempt=False)
            report.retried += 1
        elif exc.kind == "rate_limit":
            erasure_finish_retry(row=row, error=exc.message, status=exc.status, retry_after=exc.retry_after,
                                 count_attempt=False)
            report.retried += 1
        elif exc.transient or exc.kind in ("auth", "forbidden"):
            state = erasure_finish_retry(row=row, error=exc.message, status=exc.status,
                                         retry_after=300 if exc.kind in ("auth", "forbidden") else None)
            report.dead += state == State.DEAD
            report.retried += state == State.PENDING
        else:  # HubSpot refused the request itself: a human must look
            erasure_finish_dead(row=row, error=exc.message, status=exc.status)
            report.dead += 1
        return
    except Exception as exc:  # noqa: BLE001 - unexpected: keep the row safe and visible
        logger.exception("hubspot erasure crashed")
        erasure_finish_retry(row=row, error=f"{type(exc).__name__}: {exc}")
        report.retried += 1
        return
    erasure_finish_done(row=row)
    report.done += 1
