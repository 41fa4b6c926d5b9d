"""One sync batch: claim up to 100 bookings, coalesce per contact, upsert contacts, write meetings."""

from __future__ import annotations


import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection
from django.utils import timezone

from bookings.models import Booking
from hubspot_sync.client import (
    MAX_BATCH, MEETING_TO_CONTACT, HubSpotClient, HubSpotError, missing_properties, refused_properties,
)
from hubspot_sync.mapping import IF_EMPTY, properties_mapped, properties_to_read
from hubspot_sync.models import BookingSync
from hubspot_sync.ratelimit import RateLimiter
from hubspot_sync.services import outbox
from hubspot_sync.services.connection import (
    ConnectionBroken, connection_daily_blocked_until, connection_daily_limit_hit, connection_get, connection_mark_broken,
    connection_mode, connection_refresh, connection_token,
)
from hubspot_sync.services.deal_credit import deals_credit
from hubspot_sync.services.deals import deals_apply
from hubspot_sync.selectors import mapping_rules, owners_by_email
from hubspot_sync.services.mapping import mapping_mark_missing, owners_store
from hubspot_sync.services.payloads import contact_values, meeting_properties
from hubspot_sync.services.setup import properties_ensure
from project.metrics import HUBSPOT_REQUESTS, SYNC_BATCH_SECONDS

logger = logging.getLogger("sourcebook.hubspot")


@dataclass
class BatchReport:
    claimed: int = 0
    synced: int = 0
    retried: int = 0
    dead: int = 0
    skipped: int = 0
    requests: int = 0
    reads: int = 0  # contact batch reads for the only-if-empty policy (also counted in `requests`)
    errors: list = field(default_factory=list)
    properties_ensured: bool = False  # our properties were (re)created once in this batch
    owners_reread: bool = False  # HubSpot refused a cached owner: the owners were read again once in this batch


def hubspot_client(*, limiter: RateLimiter | None = None) -> HubSpotClient:
    limiter = limiter or RateLimiter()

    def count(response):
        HUBSPOT_REQUESTS.labels(operation=response.request.url.path.rsplit("/", 1)[-1], status=str(response.status_code)).inc()
        if response.status_code == 429:  # pause every worker, not just this one
            retry = response.headers.get("Retry-After")
            interval = response.headers.get("X-HubSpot-RateLimit-Interval-Milliseconds")
            limiter.block(float(retry) if retry else (int(interval) / 1000 if interval else 10.0))

    return HubSpotClient(
        base_url=settings.HUBSPOT_API_URL, token=connection_token, timeout=settings.HUBSPOT_TIMEOUT_SECONDS,
        before_request=limiter.acquire, after_response=count,
    )


def sync_drain(*, max_seconds: float = 50.0, client: HubSpotClient | None = None) -> BatchReport:
    """Drain the outbox batch after batch until it is empty or time is up (the limiter paces us)."""
    total = BatchReport()
    deadline = time.monotonic() + max_seconds
    own_client = client is None and connection_mode() != "dry_run"
    client = client or (hubspot_client() if own_client else None)
    try:
        while time.monotonic() < deadline:
            report = sync_batch(client=client)
            for name in ("claimed", "synced", "retried", "dead", "skipped", "requests", "reads"):
                setattr(total, name, getattr(total, name) + getattr(report, name))
            total.errors.extend(report.errors)
            if report.claimed == 0:
                break
    finally:
        if own_client and client is not None:
            client.close()
    return total


def sync_batch(*, client: HubSpotClient | None) -> BatchReport:
    """Claim, send, record. Never raises for HubSpot errors: every outcome lands on the rows."""
    report = BatchReport()
    if client is not None and connection_daily_blocked_until():
        return report  # HubSpot's daily limit is spent: claim nothing until it resets (rows wait in the queue)
    rows = outbox.sync_claim()
    report.claimed = len(rows)
    if not rows:
        return report
    started = time.monotonic()
    by_id = {row.booking_id: row for row in rows}
    bookings = {b.id: b for b in Booking.objects.filter(id__in=list(by_id))}
    # The contact is written from all of a person's bookings (first/last touch), not just this batch.
    emails = sorted({b.email for b in bookings.values() if b.email})
    deals_credit(emails=emails)  # a new, late, moved or canceled booking can move a deal's credit
    history = defaultdict(list)
    for b in Booking.objects.filter(email__in=emails):
        history[b.email].append(b)

    no_email = [by_id[b.id] for b in bookings.values() if not b.email]
    if no_email:
        outbox.sync_finish_dead(rows=no_email, error="booking has no email: HubSpot contacts are keyed by email")
        report.dead += len(no_email)

    # What Sourcebook knows per person, then the admin's field mapping decides what of it is sent.
    rules = mapping_rules("contacts")
    owners = owners_by_email({b.host_email for bs in history.values() for b in bs if b.host_email})
    values = {email: contact_values(bookings=history[email], owners=owners) for email in emails}
    if client is None:  # dry run: show exactly what would be sent (only-if-empty fields as if HubSpot had none)
        contact_inputs = _contact_inputs(emails, history, values, rules, {})
        meetings = [meeting_properties(booking=bookings[r.booking_id]) for r in rows if bookings[r.booking_id].email]
        outbox.sync_finish_ok(rows=[r for r in rows if bookings[r.booking_id].email], state=BookingSync.State.SKIPPED,
                              request={"contacts_batch_upsert": {"inputs": contact_inputs}, "meetings": meetings})
        report.skipped = len(rows) - len(no_email)
        return report

    live = [r for r in rows if bookings[r.booking_id].email]  # by id: `row in list` compares models, quadratic
    try:
        try:
            current = _current_values(client=client, emails=emails, values=values, rules=rules, rows=live,
                                      bookings=bookings, report=report)
        except HubSpotError as exc:  # the read failed: nothing was written, the rows wait as for any failure
            _fail(_in_flight(live), exc, report)
            return report
        if current is None:
            return report  # another worker took these rows over (ours stalled past the claim timeout)
        contact_inputs = _contact_inputs(emails, history, values, rules, current)
        _sync_rows(client=client, rows=live, bookings=bookings, contact_inputs=contact_inputs, report=report)
    except ConnectionBroken as exc:
        outbox.sync_finish_retry(rows=_in_flight(live), error=f"HubSpot connection broken: {exc}", retry_after=300,
                                 count_attempt=False)
        report.retried += len(live)
    except Exception as exc:  # noqa: BLE001 - unexpected: keep rows safe and visible
        logger.exception("hubspot sync batch crashed")
        outbox.sync_finish_retry(rows=_in_flight(live), error=f"{type(exc).__name__}: {exc}")
        report.retried += len(live)
        report.errors.append(str(exc))
    SYNC_BATCH_SECONDS.observe(time.monotonic() - started)
    logger.info("hubspot sync batch", extra={
        "claimed": report.claimed, "synced": report.synced, "retried": report.retried, "dead": report.dead,
        "requests": report.requests, "duration_ms": round((time.monotonic() - started) * 1000, 1)})
    return report


def _contact_inputs(emails, history, values, rules, current: dict) -> list[dict]:
    """One upsert input per person: the mapped properties under their policies, `current` deciding only-if-empty."""
    return [{"idProperty": "email", "id": email,
             "properties": {"email": email, **properties_mapped(values[email], rules, current.get(email))}}
            for email in emails]


def _current_values(*, client, emails, values, rules, rows, bookings, report: BatchReport) -> dict[str, dict] | None:
    """HubSpot's current values of the only-if-empty properties, for the contacts that have something to write to
    one: one batch read per batch of contacts (≤ MAX_BATCH), through the same rate limiter as every request, and
    only for rows our claim still holds (checked after any rate-limit wait, as for writes). A contact HubSpot does
    not have yet is absent (all its values are empty). None: another worker took every row over."""
    properties = properties_to_read(rules)
    fields = {r.field for r in rules if r.policy == IF_EMPTY and r.sendable}
    wanted = [e for e in emails if any(values[e].get(f) for f in fields)]
    if not properties or not wanted:
        return {}
    rows_by_email = defaultdict(list)
    for row in rows:
        rows_by_email[bookings[row.booking_id].email].append(row)
    current = {}
    for start in range(0, len(wanted), MAX_BATCH):
        chunk = wanted[start:start + MAX_BATCH]

        def ready(body, chunk=chunk):
            owned = outbox.sync_renew(rows=[r for e in chunk for r in rows_by_email[e]])
            kept = [i for i in body["inputs"] if any(r.booking_id in owned for r in rows_by_email[i["id"]])]
            if not kept:
                return None
            report.requests += 1
            report.reads += 1
            return {**body, "inputs": kept}

        try:
            found = client.contacts_batch_read(chunk, properties, ready=ready)
        except HubSpotError as exc:
            if exc.kind != "auth" or connection_mode() != "oauth":
                raise
            connection_refresh(seen_version=connection_get().token_version)
            found = client.contacts_batch_read(chunk, properties, ready=ready)
        if found is None:
            if start == 0 and len(wanted) <= MAX_BATCH:
                return None
            continue
        current.update(found)
    return current


def _in_flight(rows: list[BookingSync]) -> list[BookingSync]:
    states = dict(BookingSync.objects.filter(pk__in=[r.pk for r in rows]).values_list("pk", "state"))
    return [r for r in rows if states.get(r.pk) == BookingSync.State.IN_FLIGHT]


def _fail(rows, exc: HubSpotError, report: BatchReport, request=None, min_delay: float = 0) -> None:
    """Route a HubSpot error: transient → retry with backoff; data problems → dead letter; auth → pause;
    the daily limit → wait for its reset (retrying every few seconds would only burn calls)."""
    if exc.daily:
        until = connection_daily_limit_hit()
        outbox.sync_finish_retry(rows=rows, error=f"HubSpot daily request limit reached; paused until {until.isoformat()}",
                                 status=exc.status, retry_after=max(1.0, (until - timezone.now()).total_seconds()),
                                 count_attempt=False, request=request, response=exc.body)
        report.retried += len(rows)
        report.errors.append(f"{exc.kind}: {exc.message}")
        return
    if exc.kind == "validation" or exc.kind == "not_found" or exc.kind == "conflict":
        outbox.sync_finish_dead(rows=rows, error=exc.message, status=exc.status, request=request, response=exc.body)
        report.dead += len(rows)
    elif exc.kind in ("auth", "forbidden"):
        if exc.kind == "forbidden" or connection_mode() == "token":
            connection_mark_broken(reason=f"HubSpot answered {exc.status}: {exc.message}")
        outbox.sync_finish_retry(rows=rows, error=exc.message, status=exc.status, retry_after=300, count_attempt=False,
                                 request=request, response=exc.body)
        report.retried += len(rows)
    else:
        rate_limited = exc.kind == "rate_limit"
        outbox.sync_finish_retry(rows=rows, error=exc.message, status=exc.status,
                                 retry_after=exc.retry_after if rate_limited else None,
                                 count_attempt=not rate_limited, request=request, response=exc.body,
                                 min_delay=0 if rate_limited else min_delay)
        report.retried += len(rows)
    report.errors.append(f"{exc.kind}: {exc.message}")


def _call(client_method, inputs, rows_per_input: list[list[BookingSync]], report: BatchReport, *, uncertain: bool = False):
    """One batch request, sent only for inputs whose rows our claim still holds (checked after any
    rate-limit wait: see `outbox.sync_renew`); None when none are left. A 401 gets exactly one token
    refresh and one retry (never a loop)."""

    def ready(body):
        owned = outbox.sync_renew(rows=[r for rows in rows_per_input for r in rows], uncertain=uncertain)
        kept = [i for i, rows in zip(inputs, rows_per_input) if any(r.booking_id in owned for r in rows)]
        if not kept:
            return None
        report.requests += 1
        return {**body, "inputs": kept}

    try:
        return client_method(inputs, ready=ready)
    except HubSpotError as exc:
        if exc.kind == "auth" and connection_mode() == "oauth":
            connection_refresh(seen_version=connection_get().token_version)
            return client_method(inputs, ready=ready)
        raise


def _sync_rows(*, client, rows, bookings, contact_inputs, report: BatchReport) -> None:
    rows_by_email = defaultdict(list)
    for row in rows:
        rows_by_email[bookings[row.booking_id].email].append(row)

    # 1. Contacts: one batch upsert by email (idempotent by nature).
    try:
        result = _call(client.contacts_batch_upsert, contact_inputs, [rows_by_email[i["id"]] for i in contact_inputs], report)
        if result is None:
            return  # another worker took these rows over (ours stalled past the claim timeout)
    except HubSpotError as exc:
        missing = missing_properties(exc)
        if missing:
            retry_inputs = _without_missing(client=client, missing=missing, contact_inputs=contact_inputs, report=report)
            if retry_inputs is not None:
                return _sync_rows(client=client, rows=rows, bookings=bookings, contact_inputs=retry_inputs, report=report)
        owner = _owner_refused(exc, contact_inputs, report)
        if owner:
            # An owner deactivated in HubSpot since the owners cache was read: the cache is refreshed now and the
            # contacts whose owner is gone are written without one, never a dead letter over it.
            active = _owners_reread(client, report)
            stripped = [{**i, "properties": {k: v for k, v in i["properties"].items()
                                             if k != owner or (active is not None and str(v) in active)}}
                        for i in contact_inputs]
            return _sync_rows(client=client, rows=rows, bookings=bookings, contact_inputs=stripped, report=report)
        if exc.kind == "validation" and len(contact_inputs) > 1:
            # Batch upsert is all or nothing: one bad input fails the batch with a 400. Bisect, so only
            # the bad input ends up a dead letter (log2(n) extra requests, not n).
            return _bisect_contacts(client=client, rows_by_email=rows_by_email, bookings=bookings,
                                    contact_inputs=contact_inputs, report=report)
        return _fail(rows, exc, report, request={"inputs": contact_inputs})
    contact_ids = {}
    for item in result.results:
        email = (item.get("properties") or {}).get("email") or item.get("id_property_value")
        if email:
            contact_ids[email.lower()] = str(item["id"])
    failed_rows = []
    for error in result.errors:
        email = _error_email(error, contact_inputs)
        if email:
            bad = rows_by_email.pop(email, [])
            failed_rows.extend(bad)
            outbox.sync_finish_dead(rows=bad, error=error.get("message", "contact rejected"), status=400,
                                    request={"inputs": [i for i in contact_inputs if i["id"] == email]}, response=error)
            report.dead += len(bad)
    unknown = [email for email in rows_by_email if email not in contact_ids]
    if unknown:  # HubSpot did not tell us what happened to these: retry them
        retry = [r for e in unknown for r in rows_by_email.pop(e)]
        outbox.sync_finish_retry(rows=retry, error="contact missing from HubSpot's response")
        report.retried += len(retry)
    _sync_meetings(client=client, rows=[r for rs in rows_by_email.values() for r in rs], bookings=bookings,
                   contact_ids=contact_ids, report=report)


def _owner_refused(exc: HubSpotError, contact_inputs: list[dict], report: BatchReport) -> str | None:
    """The owner property, when HubSpot refused it (not an active owner any more) and the inputs carry it."""
    owner = next((r.prop for r in mapping_rules("contacts") if r.field == "owner"), None)
    if not owner or owner not in refused_properties(exc) or not any(owner in i["properties"] for i in contact_inputs):
        return None
    report.errors.append(f"HubSpot refused a cached owner ({owner}): sent without it")
    logger.warning("HubSpot refused a cached contact owner; sending the batch without %s", owner)
    return owner


def _owners_reread(client, report: BatchReport) -> set[str] | None:
    """Read HubSpot's owners again into the cache (once per batch); the active owner ids, None if that failed."""
    if report.owners_reread:
        return None
    report.owners_reread = True
    try:
        owners = client.owners()
        report.requests += 1
    except HubSpotError as exc:
        logger.warning("could not re-read HubSpot's owners: %s", exc.message)
        return None
    owners_store(owners=owners)
    return {str(o.get("id")) for o in owners if not o.get("archived")}


def _without_missing(*, client, missing: set[str], contact_inputs: list[dict], report: BatchReport) -> list[dict] | None:
    """A mapped property the portal lacks: its mapping shows "not set up", our own properties are (re)created once
    per batch (as hubspot_setup does), and the batch is sent again without what is still missing, so the contact
    is written and the booking never becomes a dead letter over it. None when there is nothing left to try."""
    mapping_mark_missing(object_type="contacts", properties=missing)
    ensured = False
    if not report.properties_ensured:
        report.properties_ensured = True
        logger.warning("HubSpot does not know mapped properties %s; creating them (as hubspot_setup does)", sorted(missing))
        try:
            properties_ensure(client=client)
            ensured = True
        except HubSpotError as exc:
            logger.warning("could not create HubSpot properties: %s", exc.message)
    not_set_up = {r.prop for r in mapping_rules("contacts") if r.portal_has is False}
    strip = not_set_up if ensured else not_set_up | missing
    stripped = [{**i, "properties": {k: v for k, v in i["properties"].items() if k not in strip}} for i in contact_inputs]
    if not ensured and stripped == contact_inputs:
        return None
    return stripped


def _bisect_contacts(*, client, rows_by_email, bookings, contact_inputs, report) -> None:
    """A whole-batch 400: send each half on its own (recursively) so only the bad inputs become dead letters."""
    middle = len(contact_inputs) // 2
    for half in (contact_inputs[:middle], contact_inputs[middle:]):
        rows = [r for i in half for r in rows_by_email.get(i["id"], [])]
        _sync_rows(client=client, rows=rows, bookings=bookings, contact_inputs=half, report=report)


def _error_email(error: dict, contact_inputs: list[dict]) -> str | None:
    context = error.get("context") or {}
    for key in ("ids", "emails", "id"):
        values = context.get(key)
        if isinstance(values, list) and values:
            return str(values[0]).lower()
        if isinstance(values, str):
            return values.lower()
    message = error.get("message", "")
    return next((i["id"] for i in contact_inputs if i["id"] in message), None)


def _sync_meetings(*, client, rows, bookings, contact_ids, report: BatchReport) -> None:
    if not rows:
        return
    # A create that may have happened (timeout, crash) is looked up before creating again.
    uncertain = [r for r in rows if r.meeting_create_uncertain and not bookings[r.booking_id].hubspot_meeting_id]
    if uncertain:
        uris = [bookings[r.booking_id].invitee_uri for r in uncertain]
        try:
            report.requests += 1
            found = client.meetings_search_by_property("sourcebook_booking_uri", uris)
        except HubSpotError as exc:
            return _fail(rows, exc, report)
        by_uri = {(m.get("properties") or {}).get("sourcebook_booking_uri"): str(m["id"]) for m in found}
        for row in uncertain:
            booking = bookings[row.booking_id]
            if by_uri.get(booking.invitee_uri):
                booking.hubspot_meeting_id = by_uri[booking.invitee_uri]
                Booking.objects.filter(pk=booking.pk).update(hubspot_meeting_id=booking.hubspot_meeting_id)

    updates = [r for r in rows if bookings[r.booking_id].hubspot_meeting_id]
    ok_rows = []
    if updates:
        inputs = [{"id": bookings[r.booking_id].hubspot_meeting_id, "properties": meeting_properties(booking=bookings[r.booking_id])}
                  for r in updates]
        done, gone = _send_meetings(client.meetings_batch_update, inputs, updates, report, bookings, key="id")
        ok_rows += done
        if gone:  # deleted in HubSpot (a rep removed the meeting): forget the id and create it again
            for row in gone:
                bookings[row.booking_id].hubspot_meeting_id = ""
            Booking.objects.filter(pk__in=[r.booking_id for r in gone]).update(hubspot_meeting_id="")
            logger.info("hubspot meetings deleted in HubSpot; creating them again", extra={"count": len(gone)})
        again = {r.booking_id for r in gone} | ({r.booking_id for r in rows} - {r.booking_id for r in updates})
        creates = [r for r in rows if not bookings[r.booking_id].hubspot_meeting_id and r.booking_id in again]
    else:
        creates = list(rows)
    if creates:
        inputs = []
        for r in creates:
            booking = bookings[r.booking_id]
            inputs.append({
                "objectWriteTraceId": str(booking.pk),
                "properties": meeting_properties(booking=booking),
                "associations": [{"to": {"id": contact_ids[booking.email]},
                                  "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": MEETING_TO_CONTACT}]}],
            })
        ok_rows += _send_meetings(client.meetings_batch_create, inputs, creates, report, bookings, key="create")[0]
    _store_hubspot_ids(bookings=[bookings[r.booking_id] for r in ok_rows], contact_ids=contact_ids)
    finished = outbox.sync_finish_ok(rows=ok_rows)
    report.synced += len(finished)
    # Deal writes are not idempotent: only for rows this claim still held when it finished.
    deals_apply(client=client, bookings=[bookings[r.booking_id] for r in ok_rows if r.booking_id in finished],
                contact_ids=contact_ids, report=report)


def _store_hubspot_ids(*, bookings: list[Booking], contact_ids: dict) -> None:
    """One statement for the whole batch (a hundred single-row updates cost more than the HTTP call)."""
    if not bookings:
        return
    values = [(b.pk, contact_ids.get(b.email, ""), b.hubspot_meeting_id or "") for b in bookings]
    with connection.cursor() as cursor:
        cursor.execute(
            # A meeting id already stored stays: it is the one the booking's later syncs update.
            f"UPDATE {Booking._meta.db_table} b SET hubspot_contact_id = v.contact,"
            " hubspot_meeting_id = CASE WHEN b.hubspot_meeting_id = '' THEN v.meeting ELSE b.hubspot_meeting_id END"
            " FROM unnest(%s::bigint[], %s::text[], %s::text[]) AS v(id, contact, meeting) WHERE b.id = v.id",
            [[v[0] for v in values], [v[1] for v in values], [v[2] for v in values]],
        )


def _send_meetings(method, inputs, rows, report, bookings, *, key) -> tuple[list, list]:
    """(rows written, rows whose meeting no longer exists in HubSpot: updates only)."""
    try:
        result = _call(method, inputs, [[r] for r in rows], report, uncertain=key == "create")
    except HubSpotError as exc:
        if exc.kind == "validation" and len(inputs) > 1:
            return _bisect_meetings(method, inputs, rows, report, bookings, key=key)
        if exc.kind == "not_found" and key == "id":
            gone_ids = _context_ids(exc.body)
            gone = [r for r in rows if bookings[r.booking_id].hubspot_meeting_id in gone_ids]
            if gone:  # HubSpot named the deleted ids: update the others, recreate these
                gone_rows = {r.booking_id for r in gone}
                rest = [(i, r) for i, r in zip(inputs, rows) if r.booking_id not in gone_rows]
                done, more_gone = (_send_meetings(method, [i for i, _ in rest], [r for _, r in rest], report, bookings, key=key)
                                   if rest else ([], []))
                return done, gone + more_gone
            if len(inputs) > 1:
                return _bisect_meetings(method, inputs, rows, report, bookings, key=key)
            return [], list(rows)
        # A create that timed out or failed on HubSpot's side may exist: the retry searches for it first,
        # and HubSpot's search index lags by seconds, so the retry waits long enough for it to be found.
        _fail(rows, exc, report, request={"inputs": inputs},
              min_delay=settings.HUBSPOT_UNCERTAIN_CREATE_RETRY_SECONDS if key == "create" else 0)
        return [], []
    if result is None:
        return [], []  # taken over by another worker
    ok, gone = [], []
    if key == "create":
        by_trace = {}
        for item in result.results:
            uri = (item.get("properties") or {}).get("sourcebook_booking_uri")
            by_trace[uri] = str(item["id"])
        for row in rows:
            booking = bookings[row.booking_id]
            if booking.invitee_uri in by_trace:
                booking.hubspot_meeting_id = by_trace[booking.invitee_uri]
                ok.append(row)
    else:
        done_ids = {str(item["id"]) for item in result.results}
        ok = [r for r in rows if bookings[r.booking_id].hubspot_meeting_id in done_ids]
        missing = set()
        for error in result.errors:
            if error.get("category") == "OBJECT_NOT_FOUND":
                missing |= _context_ids(error)
        ok_ids = {r.booking_id for r in ok}
        gone = [r for r in rows if r.booking_id not in ok_ids and bookings[r.booking_id].hubspot_meeting_id in missing]
    settled = {r.booking_id for r in ok} | {r.booking_id for r in gone}
    rest = [r for r in rows if r.booking_id not in settled]
    if rest and key == "create":  # a 207: each failed input is named by its objectWriteTraceId
        by_trace = {}
        for error in result.errors:
            for trace in ((error.get("context") or {}).get("objectWriteTraceId") or []):
                by_trace[str(trace)] = error
        for row in [r for r in rest if str(r.booking_id) in by_trace]:
            error = by_trace[str(row.booking_id)]
            request = {"inputs": [i for i in inputs if i.get("objectWriteTraceId") == str(row.booking_id)]}
            if error.get("category") == "VALIDATION_ERROR":
                outbox.sync_finish_dead(rows=[row], error=error.get("message", "meeting rejected"), status=result.status,
                                        request=request, response=error)
                report.dead += 1
            else:
                outbox.sync_finish_retry(rows=[row], error=error.get("message", "meeting not created"), status=result.status,
                                         request=request, response=error)
                report.retried += 1
            rest.remove(row)
    if rest:
        message = "; ".join(e.get("message", "") for e in result.errors)[:2000] or "not in HubSpot's response"
        validation = any(e.get("category") == "VALIDATION_ERROR" for e in result.errors)
        if validation:
            outbox.sync_finish_dead(rows=rest, error=message, status=result.status, request={"inputs": inputs},
                                    response=result.response_body)
            report.dead += len(rest)
        else:
            outbox.sync_finish_retry(rows=rest, error=message, status=result.status, request={"inputs": inputs},
                                     response=result.response_body)
            report.retried += len(rest)
    return ok, gone


def _bisect_meetings(method, inputs, rows, report, bookings, *, key) -> tuple[list, list]:
    """A whole-batch 400 (or an unnamed 404): each half on its own, down to the one input HubSpot refuses."""
    middle = len(inputs) // 2
    ok, gone = [], []
    for part_inputs, part_rows in ((inputs[:middle], rows[:middle]), (inputs[middle:], rows[middle:])):
        done, lost = _send_meetings(method, part_inputs, part_rows, report, bookings, key=key)
        ok += done
        gone += lost
    return ok, gone


def _context_ids(body) -> set[str]:
    context = (body or {}).get("context") if isinstance(body, dict) else None
    ids = (context or {}).get("ids") or []
    return {str(i) for i in ids} if isinstance(ids, list) else set()
