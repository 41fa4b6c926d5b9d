"""Read deals back from HubSpot for money reports: the deals of contacts that booked.

Incremental: a search by `hs_lastmodifieddate` from the stored cursor. A search query pages through at most
10,000 results, so a window whose `total` reaches that is split in halves until each fits; within a window pages
are read by keyset (from the last modified time read), so a deal modified mid-read cannot shift another out of
sight; the cursor moves to a window's end only once the whole window is stored (a crash re-reads, never skips). Search answers carry no
associations (read in batches of 100) and never archived deals (the archived list marks them). Search has its own
per-second limit (HUBSPOT_SEARCH_RATE_LIMIT, a Redis limiter shared by all workers) on top of the burst limit every
request draws from. A 429 waits its Retry-After and tries again; other failures are recorded on DealSyncState
(retried with backoff by beat, `dead` after HUBSPOT_MAX_ATTEMPTS in a row, shown by /healthz).
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone as dt_timezone
from decimal import Decimal, InvalidOperation
from typing import Callable

from django.conf import settings
from django.db import transaction
from django.db.models import Min
from django.utils import timezone

from bookings.models import Booking
from hubspot_sync.client import ASSOCIATIONS_MAX_BATCH, SEARCH_MAX_RESULTS, HubSpotClient, HubSpotError
from hubspot_sync.models import Deal, DealContact, DealSyncState
from hubspot_sync.ratelimit import RateLimiter, backoff_seconds
from hubspot_sync.services.connection import connection_mode
from hubspot_sync.services.deal_credit import deals_credit
from hubspot_sync.services.sync import hubspot_client

logger = logging.getLogger("sourcebook.hubspot")
RATE_LIMIT_RETRIES = 6
FIELDS = ["name", "amount", "currency", "stage", "pipeline", "closed_won", "closed_lost", "created_at", "closed_at",
          "owner_id", "archived", "modified_at", "read_at"]


@dataclass
class DealReadReport:
    windows: int = 0
    splits: int = 0
    pages: int = 0
    seen: int = 0
    kept: int = 0
    dropped: int = 0  # no associated contact that booked
    archived: int = 0
    requests: int = 0
    rate_limited: int = 0


def _ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


def _from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=dt_timezone.utc)


def _when(text) -> datetime | None:
    if not text:
        return None
    text = str(text)
    if text.isdigit():
        try:
            return _from_ms(int(text))
        except (OverflowError, OSError, ValueError):  # past year 9999: a broken value, not a reason to stop the read
            return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    try:  # in UTC, as the database gives it back: 9999-12-31T23:59-12:00 is year 10000 there, and unreadable
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=dt_timezone.utc)).astimezone(dt_timezone.utc)
    except OverflowError:
        return None


AMOUNT_LIMIT = Decimal(10) ** 16  # Deal.amount holds 18 digits, 2 after the point


def _amount(text) -> Decimal | None:
    """The amount in cents, or None when it is not a number Deal.amount can hold (one such deal must not stop the
    read: the whole batch's INSERT would fail)."""
    try:
        value = Decimal(str(text))
        if not value.is_finite():
            return None
        value = value.quantize(Decimal("0.01"))
    except (InvalidOperation, TypeError, ValueError):
        return None
    return value if abs(value) < AMOUNT_LIMIT else None


def deal_state() -> DealSyncState:
    state, _ = DealSyncState.objects.get_or_create(name="deals")
    return state


def search_limiter() -> RateLimiter:
    return RateLimiter(name="hubspot-search", limit=settings.HUBSPOT_SEARCH_RATE_LIMIT, window_seconds=1)


class _Reader:
    def __init__(self, client: HubSpotClient, report: DealReadReport, sleep: Callable[[float], None]):
        self.client, self.report, self.sleep = client, report, sleep
        self.stages: dict | None = None

    def call(self, fn, *args, **kwargs):
        """A 429 (burst or search's per-second limit) waits its Retry-After and tries again; the client's
        after_response hook has already paused every worker through the shared limiter."""
        for attempt in range(RATE_LIMIT_RETRIES + 1):
            self.report.requests += 1
            try:
                return fn(*args, **kwargs)
            except HubSpotError as exc:
                if exc.kind != "rate_limit" or exc.daily or attempt == RATE_LIMIT_RETRIES:
                    raise
                self.report.rate_limited += 1
                self.sleep((exc.retry_after or 1.0) + random.uniform(0, 0.2))
        raise AssertionError("unreachable")

    def closed(self, props: dict) -> tuple[bool, bool]:
        """(won, lost): HubSpot's hs_is_closed_won / hs_is_closed, else the stage's pipeline metadata (isClosed and
        probability 1.0 = won)."""
        won, closed = props.get("hs_is_closed_won"), props.get("hs_is_closed")
        if won not in (None, "") and closed not in (None, ""):
            won, closed = str(won).lower() == "true", str(closed).lower() == "true"
            return won, closed and not won
        if self.stages is None:
            self.stages = {}
            for pipeline in self.call(self.client.pipelines, "deals"):
                for stage in pipeline.get("stages", []):
                    meta = stage.get("metadata") or {}
                    is_closed = str(meta.get("isClosed", "false")).lower() == "true"
                    self.stages[(pipeline["id"], stage["id"])] = (is_closed, str(meta.get("probability", "")))
        is_closed, probability = self.stages.get((props.get("pipeline"), props.get("dealstage")), (False, ""))
        won = is_closed and probability in ("1", "1.0")
        return won, is_closed and not won

    def store(self, deals: list[dict], company_currency: str) -> None:
        """Keep the deals that have a contact that booked (with that contact's email); forget the others."""
        for start in range(0, len(deals), ASSOCIATIONS_MAX_BATCH):  # a search page (≤ 200) is one chunk
            chunk = deals[start:start + ASSOCIATIONS_MAX_BATCH]
            links = self.call(self.client.deal_contacts, [str(d["id"]) for d in chunk])
            contact_ids = {c for ids in links.values() for c in ids}
            # `<> ''` spelled out: PostgreSQL proves a partial index's predicate from an IN list of at most 100 values,
            # and a page holds up to 200 contacts (without it, every page scanned every booking).
            emails = dict(Booking.objects.filter(hubspot_contact_id__in=contact_ids).exclude(hubspot_contact_id="").exclude(email="")
                          .values_list("hubspot_contact_id", "email").distinct())
            rows, contacts = [], {}
            for deal in chunk:
                booked = {c: emails[c] for c in links.get(str(deal["id"]), []) if c in emails}
                if not booked:
                    continue
                props = deal.get("properties") or {}
                won, lost = self.closed(props)
                rows.append(Deal(
                    hubspot_id=str(deal["id"])[:32], name=(props.get("dealname") or "")[:255], amount=_amount(props.get("amount")),
                    currency=(props.get("deal_currency_code") or company_currency or "")[:3], stage=(props.get("dealstage") or "")[:64],
                    pipeline=(props.get("pipeline") or "")[:64], closed_won=won, closed_lost=lost,
                    created_at=_when(props.get("createdate") or deal.get("createdAt")), closed_at=_when(props.get("closedate")),
                    owner_id=(props.get("hubspot_owner_id") or "")[:32], archived=False,
                    modified_at=_when(props.get("hs_lastmodifieddate") or deal.get("updatedAt"))))
                contacts[str(deal["id"])] = booked
            dropped = [str(d["id"]) for d in chunk if str(d["id"]) not in contacts]
            with transaction.atomic():
                Deal.objects.filter(hubspot_id__in=dropped).delete()  # its booked contact was unlinked
                if rows:
                    Deal.objects.bulk_create(rows, update_conflicts=True, unique_fields=["hubspot_id"], update_fields=FIELDS)
                    ids = dict(Deal.objects.filter(hubspot_id__in=contacts).values_list("hubspot_id", "pk"))
                    DealContact.objects.filter(deal_id__in=ids.values()).delete()
                    DealContact.objects.bulk_create([
                        DealContact(deal_id=ids[hubspot_id], hubspot_contact_id=contact, email=email)
                        for hubspot_id, booked in contacts.items() for contact, email in booked.items()])
                    deals_credit(deal_ids=ids.values())
            self.report.kept += len(rows)
            self.report.dropped += len(dropped)


def deals_read(*, client: HubSpotClient, since: datetime | None = None, until: datetime | None = None,
               progress: Callable[[DealReadReport, datetime], None] | None = None,
               sleep: Callable[[float], None] = time.sleep) -> DealReadReport:
    """Read deals modified in [since or the cursor, until or now - lag), then the archived ones. Raises
    HubSpotError on a failure that is not a 429 (the caller records it)."""
    report = DealReadReport()
    reader = _Reader(client, report, sleep)
    state = deal_state()
    currencies = reader.call(client.currencies)
    DealSyncState.objects.filter(pk=state.pk).update(company_currency=currencies["company"][:3],
                                                     exchange_rates=currencies["rates"])
    start = since or state.cursor or Booking.objects.aggregate(first=Min("booked_at"))["first"]
    end = until or timezone.now() - timedelta(seconds=settings.HUBSPOT_DEAL_READ_LAG_SECONDS)
    seen: set[str] = set()
    if start is not None and start < end:
        windows = [(_ms(start), _ms(end))]  # a stack: the left half is read first, so the cursor only moves forward
        while windows:
            low, high = windows.pop()
            report.windows += 1
            first = reader.call(client.deals_search_modified, since_ms=low, until_ms=high)
            report.pages += 1
            if first.get("total", 0) >= SEARCH_MAX_RESULTS and high - low > 1:
                middle = (low + high) // 2
                windows += [(middle, high), (low, middle)]
                report.splits += 1
                continue
            if first.get("total", 0) >= SEARCH_MAX_RESULTS:
                logger.warning("deal read: over %s deals modified in one millisecond; the rest of it is not read",
                               SEARCH_MAX_RESULTS)
            page, floor = first, low
            while True:
                results = page.get("results", [])
                seen.update(str(d["id"]) for d in results)
                reader.store(results, currencies["company"])
                after = ((page.get("paging") or {}).get("next") or {}).get("after")
                if not after:
                    break
                # Keyset paging: ask again from the last modified time read (its ties are read twice, harmlessly).
                # An offset (`after`) would skip a deal whenever one read before it is modified meanwhile and leaves
                # the window. Only a page of one single millisecond falls back to the offset.
                last = max((_ms(m) for d in results if (m := _when((d.get("properties") or {}).get("hs_lastmodifieddate")))),
                           default=floor)
                if last > floor:
                    floor, after = last, None
                page = reader.call(client.deals_search_modified, since_ms=floor, until_ms=high, after=after)
                report.pages += 1
            if state.cursor is None or _from_ms(high) > state.cursor:  # a backfill never moves it back
                state.cursor = _from_ms(high)
                DealSyncState.objects.filter(pk=state.pk).update(cursor=state.cursor)
            if progress:
                report.seen = len(seen)
                progress(report, _from_ms(high))
    report.seen = len(seen)
    report.archived = _archived_read(reader)
    return report


def _archived_read(reader: _Reader) -> int:
    """Deals deleted in HubSpot: the archived list (search never returns them) marks the ones stored here."""
    marked, after = 0, None
    while True:
        page = reader.call(reader.client.deals_archived, after=after)
        ids = [str(d["id"]) for d in page.get("results", [])]
        if ids:
            newly = list(Deal.objects.filter(hubspot_id__in=ids, archived=False).values_list("pk", flat=True))
            marked += Deal.objects.filter(pk__in=newly).update(archived=True)
            deals_credit(deal_ids=newly)  # out of the reports
        after = ((page.get("paging") or {}).get("next") or {}).get("after")
        if not after:
            return marked


def deal_read_run(*, client: HubSpotClient | None = None, force: bool = False) -> dict:
    """Beat's entry: one incremental read unless a failure's backoff is still running. A failure is recorded
    (failures, last_error, next attempt with exponential backoff; dead after HUBSPOT_MAX_ATTEMPTS in a row)."""
    if connection_mode() == "dry_run":
        return {"skipped": "dry run (no HubSpot credentials)"}
    state = deal_state()
    now = timezone.now()
    if not force and state.next_attempt_at and state.next_attempt_at > now:
        return {"skipped": f"backing off until {state.next_attempt_at.isoformat()}"}
    own = client is None
    if own:
        client = hubspot_client()
        client.before_search = search_limiter().acquire
    try:
        report = deals_read(client=client)
    except (HubSpotError, TimeoutError) as exc:
        failures = state.failures + 1
        delay = backoff_seconds(failures - 1, base=60)
        message = exc.message if isinstance(exc, HubSpotError) else str(exc)
        DealSyncState.objects.filter(pk=state.pk).update(
            failures=failures, dead=failures >= settings.HUBSPOT_MAX_ATTEMPTS, last_error=message[:4000],
            next_attempt_at=now + timedelta(seconds=delay), last_run_at=now)
        logger.warning("deal read failed (%s in a row): %s", failures, message)
        return {"failed": message, "failures": failures}
    finally:
        if own:
            client.close()
    DealSyncState.objects.filter(pk=state.pk).update(failures=0, dead=False, last_error="", next_attempt_at=None,
                                                     last_run_at=now)
    return report.__dict__
