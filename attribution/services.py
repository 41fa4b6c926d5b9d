"""Writes of the attribution app: default rules, rule edits, reattribute, manual assignments.

The rules engine itself is attribution/rules.py (pure); the admin-edited rules are loaded by
attribution/ruleset.py.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial

from celery import current_app
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from import_export.formats.base_formats import CSV

from attribution import defaults
from attribution.money import credited_deals
from attribution.models import (Alias, BannedValue, ChannelRule, ManualAttribution, ReattributeJob, RulesetVersion,
                                SourceCategory, Spend, SpendImport)
from attribution.rules import DIRECT, attribution_compute, self_reported_normalize, utm_normalize
from attribution.resources import SpendResource
from attribution.ruleset import ruleset_build, ruleset_changed
from attribution.spend_csv import SpendFileError, headers_check, spend_file_text
from bookings.models import Booking
from bookings.services.changes import bookings_changed
from bookings.services.fold import booking_reattribute
from hubspot_sync.models import Deal
from hubspot_sync.services.deal_write import deals_credit_write

logger = logging.getLogger("sourcebook.attribution")


def defaults_install(*, alias_model=Alias, category_model=None, banned_model=BannedValue, rule_model=ChannelRule,
                     version_model=RulesetVersion) -> None:
    """Seed the default rules (tests and `make run` after a truncate; migration 0002 has its own frozen copy)."""
    category_model = category_model or SourceCategory
    for canonical, spellings in defaults.SOURCE_ALIASES.items():
        for spelling in spellings:
            alias_model.objects.get_or_create(field="source", value=spelling, defaults={"canonical": canonical})
    categories = {}
    for name, sources in defaults.SOURCE_CATEGORIES.items():
        categories[name], _ = category_model.objects.get_or_create(name=name, defaults={"sources": sources})
    for value in defaults.BANNED_VALUES:
        banned_model.objects.get_or_create(value=value, defaults={"reason": "placeholder value"})
    if not rule_model.objects.exists():
        for position, (channel, combine, conditions) in enumerate(defaults.CHANNEL_RULES, start=1):
            conditions = dict(conditions)
            category = conditions.pop("source_category", None)
            rule_model.objects.create(position=position * 10, channel=channel, combine=combine,
                                      source_category=categories.get(category), **conditions)
    if not version_model.objects.exists():
        version_model.objects.create(version=1)


# --- re-attribution (a background job) -----------------------------------------------------------
#
# A ReattributeJob is queued by the admin action, the hygiene page, the command or beat, and run by a
# Celery worker (attribution.tasks) or in-process by the command. Each batch is its own short
# transaction that locks its bookings first (id order, SKIP LOCKED: never waits on a webhook), updates
# them set-based, then queues their HubSpot sync: the lock order intake uses, so the two never deadlock.
# `Booking.rules_version` says which bookings are done, so a job whose worker died continues where it
# stopped, and rules edited while a job runs are picked up by the same job.

ATTRIBUTION_COLUMNS = ("source", "medium", "campaign", "content", "term", "channel", "visitor_id", "attribution_flags")
# A booking's own `sbv_` visitor id may ride outside its UTMs (salesforce_uuid): the UTM map can't see it, so
# a booking that has one keeps it (the fold takes the booking's own id first, then the UTMs').
_SBV_SQL = "'^sbv_[A-Za-z0-9_-]{22}$'"
# Bookings whose attribution depends on touches: re-folded one by one (booking_reattribute), not from the map.
def _journey_sql(row: str) -> str:
    return f"({row}.attributed_by = 'journey' OR {row}.visitor_id ~ {_SBV_SQL} OR m.visitor_id ~ {_SBV_SQL})"
REATTRIBUTE_BATCH_SIZE = 10_000  # bookings per transaction: a webhook waits at most one batch for a locked row
REATTRIBUTE_STALE_SECONDS = 120  # a running job with no batch committed for this long lost its worker
REATTRIBUTE_MAX_PASSES = 10  # passes over bookings that were locked by webhooks or re-edited rules
_ACTIVE = ReattributeJob.ACTIVE_STATES


@dataclass
class ReattributeResult:
    examined: int = 0
    changed: int = 0
    moves: dict = field(default_factory=dict)  # (from channel, to channel) -> bookings
    rules_version: int = 0
    job_id: int | None = None


class ReattributeBusy(Exception):
    """Another re-attribution is running: two never run at once."""

    def __init__(self, job: ReattributeJob):
        self.job = job
        super().__init__(f"re-attribution #{job.pk} is already {job.state} ({job.done:,}/{job.total:,} bookings); "
                         "it applies the current rules when it finishes — its progress is in the admin")


class _ClaimLost(Exception):
    """The job was claimed by another runner (this one stalled past REATTRIBUTE_STALE_SECONDS)."""


def _rules_version() -> int:
    return RulesetVersion.objects.values_list("version", flat=True).first() or 0


def _scope_sql(*, since, where_source: str | None) -> tuple[list[str], list]:
    """SQL conditions on alias "b" of the bookings table for a job's scope."""
    conditions, params = [], []
    if since:
        conditions.append("b.booked_at >= %s")
        params.append(since)
    if where_source is not None:  # only what one alias/rule can affect (hygiene page), self-reported answers included
        word = f"%{where_source.split(' ')[0]}%"
        conditions.append("(b.source = %s OR lower(b.utm_raw->>'source') LIKE %s OR lower(b.self_reported_raw) LIKE %s)")
        params += [where_source, word, word]
    return conditions, params


def _classification_build(cursor, *, ruleset, where: str, params: list) -> None:
    """Classify each distinct UTM input and self-reported answer of the bookings in `where` once, into
    session temp tables the batches join on (dropped by _classification_drop)."""
    table = Booking._meta.db_table
    cursor.execute(f"SELECT DISTINCT b.utm_raw FROM {table} b WHERE {where}", params)
    distinct_utm = [row[0] for row in cursor.fetchall()]
    cursor.execute(f"SELECT DISTINCT b.self_reported_raw FROM {table} b WHERE {where}", params)
    distinct_answers = [row[0] for row in cursor.fetchall()]
    _classification_drop(cursor)
    cursor.execute(
        "CREATE TEMP TABLE sb_utm_map (utm_raw jsonb PRIMARY KEY, source text, medium text, campaign text,"
        " content text, term text, channel text, visitor_id text, attribution_flags varchar(64)[])"
    )
    cursor.execute("CREATE TEMP TABLE sb_answer_map (raw text PRIMARY KEY, normalized text)")
    with cursor.cursor.copy("COPY sb_utm_map FROM STDIN") as copy:
        for raw_json in distinct_utm:
            raw = raw_json if isinstance(raw_json, dict) else json.loads(raw_json or "{}")
            a = attribution_compute(raw=raw, ruleset=ruleset)
            copy.write_row((json.dumps(raw), a.source, a.medium, a.campaign, a.content, a.term, a.channel,
                            a.visitor_id, list(a.flags)))
    with cursor.cursor.copy("COPY sb_answer_map FROM STDIN") as copy:
        for answer in distinct_answers:
            copy.write_row((answer, self_reported_normalize(answer, ruleset)))
    cursor.execute("ANALYZE sb_utm_map")
    cursor.execute("ANALYZE sb_answer_map")


def _classification_drop(cursor) -> None:
    cursor.execute("DROP TABLE IF EXISTS sb_utm_map, sb_answer_map")


def _new_value(row: str, column: str) -> str:
    """SQL: a column's value under the classification map m."""
    if column == "visitor_id":
        return f"CASE WHEN {row}.visitor_id ~ {_SBV_SQL} THEN {row}.visitor_id ELSE m.visitor_id END"
    return f"m.{column}"


def _differs(row: str) -> str:
    """SQL: the booking `row` (an alias) holds another attribution than the classification maps m / a."""
    return " OR ".join([*(f"{row}.{c} IS DISTINCT FROM {_new_value(row, c)}" for c in ATTRIBUTION_COLUMNS),
                        f"{row}.self_reported_source IS DISTINCT FROM a.normalized"])


def _mapped(row: str) -> str:
    return f"{row}.utm_raw = m.utm_raw AND {row}.self_reported_raw = a.raw"


def reattribute_preview(*, since=None, where_source: str | None = None) -> ReattributeResult:
    """Who would move where with the current rules (read-only: the command's --dry-run)."""
    ruleset = ruleset_build()
    table = Booking._meta.db_table
    conditions, params = _scope_sql(since=since, where_source=where_source)
    where = " AND ".join(["b.rules_version <> %s", *conditions])
    params = [ruleset.version, *params]
    result = ReattributeResult(rules_version=ruleset.version)
    with transaction.atomic(), connection.cursor() as cursor:
        _classification_build(cursor, ruleset=ruleset, where=where, params=params)
        # A booking attributed by its journey is re-folded by the job, not mapped: the preview leaves it out.
        cursor.execute(
            f"SELECT b.channel, m.channel, ({_differs('b')}), count(*) FROM {table} b, sb_utm_map m, sb_answer_map a"
            f" WHERE {_mapped('b')} AND {where} AND NOT {_journey_sql('b')} GROUP BY 1, 2, 3",
            params,
        )
        for old, new, differs, count in cursor.fetchall():
            result.examined += count
            if differs:
                result.changed += count
                if old != new:
                    result.moves[(old, new)] = count
        _classification_drop(cursor)
    return result


def reattribute_job_start(*, since=None, where_source: str | None = None, user=None,
                          enqueue: bool = True) -> tuple[ReattributeJob, bool]:
    """Queue a re-attribution, enqueued when the caller's transaction commits. While one is queued or
    running, that one is returned instead (created=False): two never run at once."""
    for _ in range(3):  # the active job may finish between our insert and our read
        try:
            with transaction.atomic():
                job = ReattributeJob.objects.create(
                    since=since, where_source=where_source, started_by=user if getattr(user, "pk", None) else None,
                    rules_version=_rules_version())
        except IntegrityError:
            active = ReattributeJob.objects.filter(state__in=_ACTIVE).first()
            if active is not None:
                return active, False
            continue
        if enqueue:
            transaction.on_commit(partial(reattribute_job_enqueue, job_id=job.pk))
        return job, True
    raise RuntimeError("could not queue a re-attribution: jobs keep starting and finishing")


def reattribute_job_enqueue(*, job_id: int) -> None:
    """Hand the job to a worker (by task name: services never import tasks). Broker down: beat's sweep retries."""
    try:
        current_app.send_task("attribution.reattribute_job", kwargs={"job_id": job_id})
    except Exception:  # noqa: BLE001 - the job row is safe in PostgreSQL; reattribute_job_sweep enqueues it again
        logger.warning("could not enqueue re-attribution #%s; beat will sweep it", job_id)


def reattribute_job_sweep() -> list[int]:
    """Beat: a queued job no worker took (lost message) or a running one whose worker died is enqueued again."""
    stale = timezone.now() - timedelta(seconds=REATTRIBUTE_STALE_SECONDS)
    ids = list(ReattributeJob.objects.filter(
        Q(state=ReattributeJob.State.QUEUED, created_at__lt=timezone.now() - timedelta(seconds=60))
        | Q(state=ReattributeJob.State.RUNNING, heartbeat_at__lt=stale)).values_list("pk", flat=True))
    for job_id in ids:
        reattribute_job_enqueue(job_id=job_id)
    return ids


def reattribute_job_claim(*, job_id: int) -> int | None:
    """One runner per job: take a queued job, or a running one whose runner stopped committing batches.
    Returns the claim token the runner fences its writes with, or None."""
    now = timezone.now()
    claimed = ReattributeJob.objects.filter(pk=job_id).filter(
        Q(state=ReattributeJob.State.QUEUED)
        | Q(state=ReattributeJob.State.RUNNING, heartbeat_at__lt=now - timedelta(seconds=REATTRIBUTE_STALE_SECONDS))
    ).update(state=ReattributeJob.State.RUNNING, claim=F("claim") + 1, heartbeat_at=now,
             started_at=Coalesce(F("started_at"), now))
    if not claimed:
        return None
    return ReattributeJob.objects.values_list("claim", flat=True).get(pk=job_id)


def _job_save(job: ReattributeJob, claim: int, **fields) -> None:
    """Fenced progress write: a runner whose claim was taken over stops here."""
    for name, value in fields.items():
        setattr(job, name, value)
    if not ReattributeJob.objects.filter(pk=job.pk, claim=claim).update(heartbeat_at=timezone.now(), **fields):
        raise _ClaimLost(job.pk)


def reattribute_bookings_mark_changed(*, booking_ids: list[int]) -> None:
    """Queue the HubSpot sync of re-attributed bookings, after the batch locked and updated them: through
    the seam every booking change takes (bookings before their outbox rows; it sets `hubspot_state`)."""
    bookings_changed(booking_ids=booking_ids)


def _reattribute_batch(cursor, *, job: ReattributeJob, claim: int, after_id: int, where: str, params: list,
                       batch_size: int, moves: dict, ruleset=None) -> int | None:
    """One transaction: lock the next bookings still to do (id order; one a webhook holds is skipped, a later
    pass takes it), update them set-based, then queue their HubSpot sync, and save progress. Returns the last
    id locked, or None when none is left after `after_id`.

    A booking with a visitor id (or attributed by its journey) is re-folded one by one instead, with the
    job's rules: its touches' channels follow the new rules, and its journey attribution is not wiped by
    the map of its (empty) UTMs."""
    table = Booking._meta.db_table
    with transaction.atomic():
        _job_save(job, claim)  # fence before touching bookings
        cursor.execute(
            f"SELECT l.id, l.channel, m.channel, ({_differs('l')}), {_journey_sql('l')} FROM"
            f" (SELECT b.* FROM {table} b WHERE b.id > %s AND {where} ORDER BY b.id LIMIT %s FOR UPDATE SKIP LOCKED) l"
            f" LEFT JOIN sb_utm_map m ON l.utm_raw = m.utm_raw LEFT JOIN sb_answer_map a ON l.self_reported_raw = a.raw"
            f" ORDER BY l.id",
            [after_id, *params, batch_size])
        locked = cursor.fetchall()
        if not locked:
            return None
        journey_ids = [row[0] for row in locked if row[4]]
        # A booking whose UTM input arrived after the maps were built has no match: it stays to do (next pass).
        mapped = [row for row in locked if row[2] is not None and not row[4]]
        assignments = ", ".join(f"{c} = {_new_value('b', c)}" for c in ATTRIBUTION_COLUMNS)
        cursor.execute(
            f"UPDATE {table} b SET {assignments}, self_reported_source = a.normalized, rules_version = %s,"
            f" updated_at = CASE WHEN ({_differs('b')}) THEN now() ELSE b.updated_at END"
            f" FROM sb_utm_map m, sb_answer_map a WHERE b.id = ANY(%s::bigint[]) AND {_mapped('b')} RETURNING b.id",
            [job.rules_version, [row[0] for row in mapped]])
        updated = {row[0] for row in cursor.fetchall()}
        changed = [row for row in mapped if row[3] and row[0] in updated]
        reattribute_bookings_mark_changed(booking_ids=[row[0] for row in changed])
        if journey_ids:  # already locked by this transaction, in id order
            for booking in Booking.objects.filter(pk__in=journey_ids).select_related("rescheduled_from").order_by("pk"):
                old = booking.channel
                if booking_reattribute(booking=booking, ruleset=ruleset):
                    changed.append((booking.pk, old, booking.channel, True))
                updated.add(booking.pk)
        for _, old, new, *_ in changed:
            if old != new:
                moves[(old, new)] = moves.get((old, new), 0) + 1
        _job_save(job, claim, done=job.done + len(updated), changed=job.changed + len(changed), moves=_moves_list(moves))
    return locked[-1][0]


def _moves_list(moves: dict) -> list:
    return [[old, new, n] for (old, new), n in sorted(moves.items(), key=lambda kv: (-kv[1], kv[0]))]


def reattribute_job_run(*, job_id: int, batch_size: int = REATTRIBUTE_BATCH_SIZE, progress=None) -> ReattributeJob | None:
    """Run (or resume) a job to the end, batch by batch; None when another runner has it.
    A failure lands on the job row (`failed`, `error`); bookings done so far stay done."""
    claim = reattribute_job_claim(job_id=job_id)
    if claim is None:
        return None
    job = ReattributeJob.objects.get(pk=job_id)
    started = time.monotonic()
    try:
        with connection.cursor() as cursor:
            try:
                _reattribute_passes(cursor, job=job, claim=claim, batch_size=batch_size, progress=progress)
            finally:
                _classification_drop(cursor)
        _job_save(job, claim, state=ReattributeJob.State.DONE, finished_at=timezone.now())
    except _ClaimLost:
        logger.warning("re-attribution #%s was taken over by another runner; this one stops", job_id)
        return None
    except Exception as exc:  # noqa: BLE001 - the reason is kept on the row the admin shows
        logger.exception("re-attribution #%s failed", job_id)
        ReattributeJob.objects.filter(pk=job_id, claim=claim).update(
            state=ReattributeJob.State.FAILED, finished_at=timezone.now(), error=f"{type(exc).__name__}: {exc}"[:2000])
        job.refresh_from_db()
        return job
    logger.info("re-attribution #%s done: %s bookings, %s changed, rules v%s in %.1fs", job_id, job.done, job.changed,
                job.rules_version, time.monotonic() - started)
    return job


def _reattribute_passes(cursor, *, job: ReattributeJob, claim: int, batch_size: int, progress) -> None:
    """Pass over the bookings still to do until none is left. A later pass picks up bookings a webhook
    held locked (skipped) and, when rules were edited meanwhile, brings everything to the new version."""
    table = Booking._meta.db_table
    conditions, scope_params = _scope_sql(since=job.since, where_source=job.where_source)
    moves = {(old, new): n for old, new, n in job.moves}
    for attempt in range(REATTRIBUTE_MAX_PASSES):
        ruleset = ruleset_build()
        where = " AND ".join(["b.rules_version <> %s", *conditions])
        params = [ruleset.version, *scope_params]
        cursor.execute(f"SELECT count(*) FROM {table} b WHERE {where}", params)
        remaining = cursor.fetchone()[0]
        if not remaining:
            return
        if attempt:
            time.sleep(min(attempt, 3) * 0.2)  # let the webhooks holding the skipped rows commit
        _job_save(job, claim, rules_version=ruleset.version, total=job.done + remaining)
        _classification_build(cursor, ruleset=ruleset, where=where, params=params)
        after_id = 0
        while after_id is not None:
            after_id = _reattribute_batch(cursor, job=job, claim=claim, after_id=after_id, where=where, params=params,
                                          batch_size=batch_size, moves=moves, ruleset=ruleset)
            if progress:
                progress(job.done, job.total)
            if _rules_version() != ruleset.version:
                break  # rules edited meanwhile: the next pass re-classifies and goes on with the new version
    raise RuntimeError(f"bookings still differ from rules v{job.rules_version} after {REATTRIBUTE_MAX_PASSES} passes "
                       "(held locked by long transactions?); start it again")


def bookings_reattribute(*, since=None, where_source: str | None = None, dry_run: bool = False,
                         batch_size: int = REATTRIBUTE_BATCH_SIZE, progress=None, user=None) -> ReattributeResult:
    """Re-attribute in this process, as a job (the command, tests, benchmarks): batch by batch, resumable,
    visible in the admin. Raises ReattributeBusy while another job is running."""
    if dry_run:
        return reattribute_preview(since=since, where_source=where_source)
    job, _ = reattribute_job_start(since=since, where_source=where_source, user=user, enqueue=False)
    finished = reattribute_job_run(job_id=job.pk, batch_size=batch_size, progress=progress)
    if finished is None:
        raise ReattributeBusy(ReattributeJob.objects.get(pk=job.pk))
    if finished.state == ReattributeJob.State.FAILED:
        raise RuntimeError(f"re-attribution #{finished.pk} failed: {finished.error}")
    return ReattributeResult(examined=finished.done, changed=finished.changed, rules_version=finished.rules_version,
                             moves={(old, new): n for old, new, n in finished.moves}, job_id=finished.pk)


# --- rules edits (admin, hygiene page) -----------------------------------------------------------


def alias_create(*, field_name: str, value: str, canonical: str) -> Alias:
    """A new spelling joins its canonical value; bumps the rules version."""
    alias, _ = Alias.objects.update_or_create(
        field=field_name, value=utm_normalize(value), defaults={"canonical": utm_normalize(canonical)}
    )
    ruleset_changed()
    return alias


# --- manual attribution (the (direct) backlog) ----------------------------------------------------


def bookings_assign_attribution(*, booking_ids: list[int], source: str, medium: str, campaign: str, user,
                                batch: str = "", backlog_only: bool = False) -> int:
    """Marketing assigns a source to untagged bookings: audited, reversible, kept through reattribute.

    `batch` names a bulk assignment (the backlog's "They said" action): its audit rows carry it in `to_values`, so
    the whole batch can be reverted at once (`manual_attribution_revert_batch`). `backlog_only` (the backlog's
    confirm) skips bookings no longer Direct once locked: a confirm racing another one assigns each booking once."""

    manual = {k: v for k, v in {"utm_source": source, "utm_medium": medium, "utm_campaign": campaign}.items() if v}
    if not manual.get("utm_source"):
        raise ValueError("a source is required")
    audit = {**manual, "batch": batch} if batch else manual
    count = 0
    with transaction.atomic():
        # Locked by id, all before the first outbox row (booking_reattribute goes through the seam's lock order).
        bookings = Booking.objects.select_for_update(of=("self",)).filter(pk__in=booking_ids)
        if backlog_only:  # re-checked after the lock (PostgreSQL re-reads a row another transaction changed)
            bookings = bookings.filter(channel=DIRECT)
        bookings = list(bookings.select_related("rescheduled_from").order_by("pk"))
        ManualAttribution.objects.bulk_create([
            ManualAttribution(booking=booking, user=user, to_values=audit,
                              from_values={"source": booking.source, "medium": booking.medium, "campaign": booking.campaign,
                                           "channel": booking.channel, "manual_utm": booking.manual_utm})
            for booking in bookings])
        for booking in bookings:
            booking.manual_utm = manual
            booking.save(update_fields=["manual_utm"])
            booking_reattribute(booking=booking)
            count += 1
    return count


def manual_attribution_revert(*, manual_id: int, user) -> None:
    """Undo one assignment: the booking goes back to what its own tracking says."""

    with transaction.atomic():
        entry = ManualAttribution.objects.select_for_update().select_related("booking").filter(
            pk=manual_id, reverted_at=None).first()
        if entry is None:
            raise ValueError("no such assignment, or it was already reverted")
        _revert(entry, user)


def _revert(entry: ManualAttribution, user) -> None:
    if ManualAttribution.objects.filter(booking=entry.booking, reverted_at=None, pk__gt=entry.pk).exists():
        raise ValueError("a later assignment of this booking is still in place: revert that one first")
    booking = entry.booking
    booking.manual_utm = entry.from_values.get("manual_utm")
    booking.save(update_fields=["manual_utm"])
    booking_reattribute(booking=booking)
    entry.reverted_at, entry.reverted_by = timezone.now(), user
    entry.save(update_fields=["reverted_at", "reverted_by"])


def manual_attribution_revert_batch(*, batch: str, user) -> int:
    """Undo a bulk assignment: each of its bookings goes back (one whose later assignment is still in place keeps
    that one). Returns how many were reverted; ValueError when none of the batch is left to revert."""
    with transaction.atomic():
        entries = list(ManualAttribution.objects.select_for_update().select_related("booking")
                       .filter(to_values__batch=batch, reverted_at=None).order_by("booking_id"))
        if not batch or not entries:
            raise ValueError("no such bulk assignment, or it was already reverted")
        reverted = 0
        for entry in entries:
            if not ManualAttribution.objects.filter(booking=entry.booking, reverted_at=None, pk__gt=entry.pk).exists():
                _revert(entry, user)
                reverted += 1
    return reverted


def channel_rule_create(*, channel: str, source: str = "", medium: str = "") -> ChannelRule:
    """One-click rule from the hygiene page: placed right after the built-in Direct rule."""
    position = (ChannelRule.objects.filter(channel=DIRECT).values_list("position", flat=True).first() or 0) + 1
    rule = ChannelRule.objects.create(position=position, channel=channel.strip(),
                                      source_values=[utm_normalize(source)] if source else [],
                                      medium_values=[utm_normalize(medium)] if medium else [])
    ruleset_changed()
    return rule


# --- spend uploads ---------------------------------------------------------------------------------


@dataclass
class SpendImportOutcome:
    """What one spend import did: the batch (None when nothing was imported) and the per-row errors."""

    batch_id: int | None
    new: int = 0
    replaced: int = 0
    errors: list = field(default_factory=list)  # (row number, column, message); row 0 = the file

    @property
    def ok(self) -> bool:
        return not self.errors


def spend_dataset(content: bytes):
    """The uploaded bytes as the dataset the import reads, after the checks the admin's form makes too (size, NUL
    bytes, UTF-8, the columns). Raises SpendFileError."""
    text = spend_file_text(content)
    try:
        dataset = CSV(encoding="utf-8").create_dataset(text)
    except Exception as exc:  # noqa: BLE001 -- tablib's ragged rows, the csv module's errors: a bad file, not a bug
        raise SpendFileError(f"The file is not a readable CSV ({type(exc).__name__}): every line needs as many "
                             "columns as the header.") from None
    headers_check(dataset.headers)
    return dataset


def spend_csv_import(*, content: bytes, file_name: str = "", user=None, dry_run: bool = False) -> SpendImportOutcome:
    """Import a spend CSV in one transaction: every row, or (with any bad row) none. The rows' key is (day or
    month, source, medium, campaign, currency): the same rows imported again replace their cost. The admin's upload
    runs the same resource (`attribution.resources.SpendResource`)."""
    try:
        dataset = spend_dataset(content)
    except SpendFileError as exc:
        return SpendImportOutcome(batch_id=None, errors=[(0, "file", str(exc))])
    resource = SpendResource()
    result = resource.import_data(dataset, dry_run=dry_run, raise_errors=False, use_transactions=True,
                                  rollback_on_validation_errors=True, file_name=file_name, user=user)
    errors = [(0, "file", str(e.error)) for e in result.base_errors]
    errors += [(number, "row", str(e.error)) for number, row_errors in result.row_errors() for e in row_errors]
    errors += [(invalid.number, column, message) for invalid in result.invalid_rows
               for column, messages in invalid.error_dict.items() for message in messages]
    imported = not errors and not dry_run and resource.batch is not None
    return SpendImportOutcome(batch_id=resource.batch.pk if imported else None, new=result.totals.get("new", 0),
                              replaced=result.totals.get("update", 0), errors=sorted(errors, key=lambda e: e[0]))


def spend_import_undo(*, batch_id: int) -> int:
    """Undo an upload: its batch and every spend row it wrote (rows a later upload replaced belong to that one).
    Returns the rows removed."""
    with transaction.atomic():
        removed = Spend.objects.filter(batch_id=batch_id).count()
        SpendImport.objects.filter(pk=batch_id).delete()
    return removed


def deals_credit_push(*, since=None, client=None):
    """Write the credited booking's channel, source and campaign onto its HubSpot deal (as the field mapping
    allows): the deals read since `since` (all deals without it). The credit is attribution.money's rule (the
    `booking` model: the contact's last countable booking before the deal was created); hubspot_sync does the
    writing (deals_credit_write: one read and at most one update per 100 deals, only values that differ)."""
    deal_ids = None
    if since is not None:
        deal_ids = list(Deal.objects.filter(read_at__gte=since, archived=False).values_list("pk", flat=True))
        if not deal_ids:
            return deals_credit_write(credits={}, client=client)
    rows = credited_deals(model="booking", group_by=("channel", "source", "campaign"), deal_ids=deal_ids)
    credits = {row["hubspot_id"]: {"channel": row["channel"], "source": row["source"], "campaign": row["campaign"]}
               for row in rows}
    return deals_credit_write(credits=credits, client=client)
