"""Every alert Sourcebook sends, in one place: what each looks at and when it fires.

A check is a small function of `now` that reads (never writes) and answers with a `Finding`: firing or not, a title,
what it saw, where to look and what to do. A check that watches many things at once (one alert per new Unassigned
value, per dropped campaign) answers with the firing ones only; an alert of its family that is not in the answer
has cleared. The cycle (fire once, repeat, resolve, silence) is alerts/services/alerts.py's, the same for all.

Operational (topic "ops"):
  calendly_subscription  the Calendly webhook subscription is missing or disabled (the 15-minute check's record)
  delivery_silence       no Calendly delivery for longer than usual at this hour of the week (learned, see below)
  rejected_signatures    at least ALERTS_REJECTED_THRESHOLD rejected deliveries in ALERTS_REJECTED_WINDOW_MINUTES
  dead_letters           HubSpot sync, erasure or deal-read dead letters exist
  hubspot_connection     the HubSpot connection is broken
  hubspot_daily_limit    HubSpot's daily request limit was hit: the sync waits for the reset
  sync_backlog           the oldest pending HubSpot sync is older than HEALTH_OUTBOX_MAX_AGE_SECONDS
  worker_heartbeat       no Celery heartbeat for HEALTH_WORKER_MAX_AGE_SECONDS: sent by the watchdog, not Celery
Marketing (topic "marketing"), on full Monday–Sunday weeks in SOURCEBOOK_TIME_ZONE:
  direct_share_jump      the (direct) share moved more than ALERTS_DIRECT_JUMP_POINTS points week over week
  unassigned_value:<source> / <medium>   a value no channel rule matches, first seen in ALERTS_NEW_VALUE_DAYS
  campaign_dropped:<campaign>            a campaign with bookings in each of the ALERTS_CAMPAIGN_WEEKS weeks before
                                         had none last week
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable
from urllib.parse import urlencode

import redis
from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from alerts.digest import week_of
from attribution.rules import NOT_SET, UNASSIGNED
from attribution.selectors import breakdown, kpis, report_bookings, timeseries
from bookings.selectors import deliveries_accepted, deliveries_rejected_since
from hubspot_sync.selectors import erasures_dead_count
from hubspot_sync.services.connection import connection_status
from journeys.selectors import value_origins
from project.health import (calendly_subscription, calendly_subscription_ok, deal_read_state, sync_queue,
                            worker_alive, worker_heartbeat_age)

OPS, MARKETING = "ops", "marketing"


@dataclass(frozen=True)
class Finding:
    key: str
    firing: bool
    title: str = ""
    detail: str = ""
    link: str = ""  # a path of this Sourcebook (made absolute with SOURCEBOOK_PUBLIC_URL) or a URL
    hint: str = ""  # what to do


@dataclass(frozen=True)
class Check:
    key: str  # the alert's key; for a family, the prefix of its alerts' keys ("unassigned_value")
    category: str  # OPS | MARKETING: the destinations' subscription (and topic) it goes to
    run: Callable[[datetime], Finding | list[Finding]]
    family: bool = False
    by_watchdog: bool = False  # sent by `manage.py alerts_watchdog` only (it must not wait for a worker)
    cleared: str = "The condition no longer holds."  # the "resolved" message of a family member no longer listed


def _ok(key: str) -> Finding:
    return Finding(key=key, firing=False)


def _admin(name: str, **query) -> str:
    return reverse(f"admin:{name}") + (f"?{urlencode(query)}" if query else "")


def _ago(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 120:
        return f"{minutes} min"
    hours = minutes / 60
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} days"


# --- operational -------------------------------------------------------------------------------------------------

def calendly_subscription_check(now: datetime) -> Finding:
    """The beat's 15-minute `calendly_webhooks check` records the subscription's state in Redis (/healthz reads the
    same record). Only missing/disabled fire here: its cruder "silent" state is delivery_silence's job."""
    sub = calendly_subscription()
    state = sub.get("state")
    if calendly_subscription_ok(sub) or state not in ("missing", "disabled"):
        return _ok("calendly_subscription")
    return Finding(
        key="calendly_subscription", firing=True, title=f"Calendly subscription {state}",
        detail=f"{sub.get('problem') or state}. Bookings are not arriving; Calendly keeps nothing for us once it gave up.",
        link="/healthz/details",
        hint="Run `python manage.py calendly_webhooks check --repair`: it recreates the subscription and backfills the "
             "gap; put the signing key it prints in CALENDLY_WEBHOOK_SIGNING_KEYS.")


SILENCE_WEEKS = 4


def _longest_gap_in_slot(start: datetime, end: datetime, now: datetime) -> timedelta | None:
    """The longest silence between accepted deliveries that overlapped [start, end); None without a delivery before."""
    accepted = deliveries_accepted()
    before = accepted.filter(received_at__lt=start).order_by("-received_at").values_list("received_at", flat=True).first()
    if before is None:
        return None
    inside = list(accepted.filter(received_at__gte=start, received_at__lt=end).order_by("received_at")
                  .values_list("received_at", flat=True))
    after = accepted.filter(received_at__gte=end).order_by("received_at").values_list("received_at", flat=True).first()
    times = [before, *inside, min(after or now, now)]
    return max(b - a for a, b in zip(times, times[1:]))


def usual_silence(now: datetime) -> timedelta | None:
    """"Usual" for the delivery-silence alert: the longest silence between accepted Calendly deliveries that overlapped
    this hour of the week (in SOURCEBOOK_TIME_ZONE: Tuesday 12:00–13:00) in each of the last four weeks, the longest
    of the four. None (no alert) without four weeks of history: no accepted delivery before that hour four weeks ago."""
    slot = timezone.localtime(now).replace(minute=0, second=0, microsecond=0)
    gaps = []
    for weeks in range(1, SILENCE_WEEKS + 1):
        start = slot - timedelta(weeks=weeks)  # wall-clock arithmetic: the same local hour across a DST change
        gap = _longest_gap_in_slot(start, start + timedelta(hours=1), now)
        if gap is None:
            return None
        gaps.append(gap)
    return max(gaps)


def delivery_silence_check(now: datetime) -> Finding:
    """Fires when the time since the last accepted delivery exceeds max(ALERTS_SILENCE_FLOOR_MINUTES,
    usual × ALERTS_SILENCE_FACTOR): a Sunday night that is always quiet is not an alert, a silent Tuesday noon is."""
    last = deliveries_accepted().filter(received_at__lte=now).order_by("-received_at").values_list(
        "received_at", flat=True).first()
    usual = usual_silence(now) if last else None
    if last is None or usual is None:
        return _ok("delivery_silence")
    limit = max(timedelta(minutes=settings.ALERTS_SILENCE_FLOOR_MINUTES), usual * settings.ALERTS_SILENCE_FACTOR)
    silent = now - last
    if silent <= limit:
        return _ok("delivery_silence")
    local = timezone.localtime(now)
    return Finding(
        key="delivery_silence", firing=True, title="No Calendly delivery for longer than usual",
        detail=(f"The last accepted delivery arrived {_ago(silent.total_seconds())} ago "
                f"({timezone.localtime(last):%a %d %b %H:%M}). In the last {SILENCE_WEEKS} weeks the longest silence "
                f"around {local:%A} {local:%H}:00 was {_ago(usual.total_seconds())}; this alert fires past "
                f"{_ago(limit.total_seconds())}."),
        link="/healthz/details",
        hint="Check the subscription (`python manage.py calendly_webhooks check`), the web process and the proxy in front "
             "of it; rejected deliveries are listed in the admin (Webhook deliveries, state rejected).")


def rejected_signatures_check(now: datetime) -> Finding:
    window = settings.ALERTS_REJECTED_WINDOW_MINUTES
    rows = deliveries_rejected_since(now - timedelta(minutes=window))
    total = sum(r["n"] for r in rows)
    if total < settings.ALERTS_REJECTED_THRESHOLD:
        return _ok("rejected_signatures")
    def top(field: str) -> str:
        counts: dict[str, int] = {}
        for r in rows:
            counts[r[field] or "?"] = counts.get(r[field] or "?", 0) + r["n"]
        return ", ".join(f"{n} × {k}" for k, n in sorted(counts.items(), key=lambda kv: -kv[1])[:3])

    return Finding(
        key="rejected_signatures", firing=True, title="Spike in rejected Calendly deliveries",
        detail=(f"{total} deliveries rejected in the last {window} min (alert at {settings.ALERTS_REJECTED_THRESHOLD}). "
                f"Reasons: {top('signature_error')}. From: {top('remote_addr')}."),
        link=_admin("bookings_webhookdelivery_changelist", state__exact="rejected"),
        hint="“signature mismatch” from Calendly's addresses: the signing key changed — add the new key to "
             "CALENDLY_WEBHOOK_SIGNING_KEYS, then `python manage.py replay_deliveries --rejected`. Other reasons or "
             "unknown addresses: someone is probing; the rate limit already answers them 429.")


def dead_letters_check(now: datetime) -> Finding:
    syncs, erasures = sync_queue()["dead"], erasures_dead_count()
    deals = deal_read_state()
    deal_dead = bool(deals and deals["dead"])
    if not (syncs or erasures or deal_dead):
        return _ok("dead_letters")
    parts = ([f"{syncs} booking sync(s) to HubSpot"] if syncs else []) + \
            ([f"{erasures} HubSpot contact erasure(s)"] if erasures else []) + \
            ([f"the deal read ({(deals['last_error'] or '')[:120]})"] if deal_dead else [])
    link = (_admin("hubspot_sync_bookingsync_changelist", state__exact="dead") if syncs else
            _admin("hubspot_sync_contacterasure_changelist", state__exact="dead") if erasures else
            _admin("hubspot_sync_dealsyncstate_changelist"))
    return Finding(
        key="dead_letters", firing=True, title="Dead letters exist",
        detail=f"Failed HUBSPOT_MAX_ATTEMPTS times and stopped: {'; '.join(parts)}.",
        link=link, hint="Read the last error of each; fix the cause, then use the admin's “retry” action.")


def hubspot_connection_check(now: datetime) -> Finding:
    status = connection_status()
    if status["state"] != "broken":
        return _ok("hubspot_connection")
    return Finding(
        key="hubspot_connection", firing=True, title="HubSpot connection broken",
        detail=f"HubSpot refused our credentials ({status.get('reason') or 'no reason given'}); nothing is synced.",
        link=_admin("hubspot_sync_hubspotconnection_changelist"),
        hint="Reconnect: `python manage.py hubspot_connect` (or the admin's Reconnect). Pending syncs resume by themselves.")


def hubspot_daily_limit_check(now: datetime) -> Finding:
    until = connection_status().get("daily_limit_until")
    if not until:
        return _ok("hubspot_daily_limit")
    until = f"{timezone.localtime(parse_datetime(until)):%a %-d %b %H:%M %Z}"
    return Finding(
        key="hubspot_daily_limit", firing=True, title="HubSpot daily request limit hit",
        detail=f"HubSpot answered with its daily limit: the sync waits until {until}, then resumes by itself.",
        link="/healthz/details",
        hint="Nothing is lost. If it happens often, look for another integration using the same HubSpot app's quota.")


def sync_backlog_check(now: datetime) -> Finding:
    queue = sync_queue()
    limit = settings.HEALTH_OUTBOX_MAX_AGE_SECONDS
    age = (now - queue["oldest"]).total_seconds() if queue["oldest"] else 0
    if age <= limit:
        return _ok("sync_backlog")
    paused = connection_status().get("daily_limit_until")
    paused = f"{timezone.localtime(parse_datetime(paused)):%a %-d %b %H:%M %Z}" if paused else ""
    return Finding(
        key="sync_backlog", firing=True, title="HubSpot sync is behind",
        detail=(f"The oldest of {queue['pending']} pending sync(s) has waited {_ago(age)} (alert past {_ago(limit)})."
                + (f" Paused by HubSpot's daily limit until {paused}." if paused else "")),
        link=_admin("hubspot_sync_bookingsync_changelist", state__exact="pending"),
        hint="Check that the Celery worker runs and that HubSpot answers (the last error of the oldest rows).")


def worker_heartbeat_check(now: datetime) -> Finding:
    """Read by the watchdog (`manage.py alerts_watchdog`), outside Celery: a missing worker cannot report itself."""
    try:
        age = worker_heartbeat_age()
    except redis.RedisError as exc:
        detail = f"Redis cannot be read ({type(exc).__name__}): no heartbeat can be seen, and Celery has no broker."
    else:
        if worker_alive(age):
            return _ok("worker_heartbeat")
        detail = (f"The last heartbeat is {_ago(age)} old" if age is not None else "No heartbeat in the last hour") + \
                  f" (a live worker writes one every 30 s; alert past {settings.HEALTH_WORKER_MAX_AGE_SECONDS} s)."
    return Finding(
        key="worker_heartbeat", firing=True, title="Celery worker heartbeat missing",
        detail=detail + " Nothing is synced to HubSpot, no sweep runs and no other alert is sent while it lasts.",
        link="/healthz/details", hint="Start (or restart) the `worker` and `beat` processes; check Redis.")


# --- marketing (full weeks in SOURCEBOOK_TIME_ZONE, counted by the report selectors) ------------------------------

def full_week_bounds(now: datetime, back: int = 0) -> tuple[datetime, datetime]:
    """[Monday 00:00, next Monday 00:00) of the last full week (back=1: the week before), local midnights: the
    digest's weeks (`alerts.digest.week_of`)."""
    return week_of(timezone.localdate(now) - timedelta(days=7 * (back + 1))).bounds()


def _week_name(start: datetime) -> str:
    return f"week of {start:%-d %b}"


def _dashboard(start: datetime, end: datetime, **query) -> str:
    return "/dashboard/?" + urlencode({"start": start.date().isoformat(),
                                       "end": (end.date() - timedelta(days=1)).isoformat(), **query})


def direct_share_jump_check(now: datetime) -> Finding:
    (a, b), (pa, pb) = full_week_bounds(now), full_week_bounds(now, back=1)
    last, before = kpis(booked_after=a, booked_before=b), kpis(booked_after=pa, booked_before=pb)
    minimum = settings.ALERTS_DIRECT_MIN_BOOKINGS
    if last["bookings"] < minimum or before["bookings"] < minimum:
        return _ok("direct_share_jump")  # too few bookings for a share to mean anything
    delta = last["direct_pct"] - before["direct_pct"]
    if abs(delta) <= settings.ALERTS_DIRECT_JUMP_POINTS:
        return _ok("direct_share_jump")
    return Finding(
        key="direct_share_jump", firing=True,
        title=f"(direct) share {'jumped' if delta > 0 else 'dropped'} {abs(delta):.1f} points week over week",
        detail=(f"{_week_name(a)}: {last['direct_pct']:.1f}% of {last['bookings']} bookings were (direct); "
                f"{_week_name(pa)}: {before['direct_pct']:.1f}% of {before['bookings']}."),
        link="/dashboard/direct/",
        hint="A jump usually means links lost their UTMs (a new campaign, a redirect, an email tool): the backlog "
             "lists the untagged bookings by event type.")


def unassigned_value_check(now: datetime) -> list[Finding]:
    """A source / medium pair no channel rule matches (channel Unassigned, as on the hygiene page) with bookings in
    the last ALERTS_NEW_VALUE_DAYS days and none in the ALERTS_NEW_VALUE_LOOKBACK_DAYS days before."""
    recent_from = now - timedelta(days=settings.ALERTS_NEW_VALUE_DAYS)
    known_from = recent_from - timedelta(days=settings.ALERTS_NEW_VALUE_LOOKBACK_DAYS)
    recent = breakdown(group_by=["source", "medium"], channel=UNASSIGNED, booked_after=recent_from, booked_before=now)
    known = breakdown(group_by=["source", "medium"], channel=UNASSIGNED, booked_after=known_from, booked_before=recent_from)
    seen = {(r["source"], r["medium"]) for r in known["rows"]}
    findings = []
    for row in recent["rows"]:
        value = (row["source"], row["medium"])
        if value in seen:
            continue
        visitors = (report_bookings(channel=UNASSIGNED, source=value[0], medium=value[1], booked_after=recent_from,
                                    booked_before=now).exclude(visitor_id="").order_by("-booked_at")
                    .values_list("visitor_id", flat=True)[:50])
        origins = value_origins(source=value[0], medium=value[1], visitor_ids=visitors)
        findings.append(Finding(
            key=f"unassigned_value:{_key_part(value[0])} / {_key_part(value[1])}", firing=True,
            title=f"New Unassigned value: {value[0] or '(empty)'} / {value[1] or '(empty)'}",
            detail=(f"{row['bookings']} booking(s) in the last {settings.ALERTS_NEW_VALUE_DAYS} days carry source "
                    f"“{value[0]}” and medium “{value[1]}”, which no channel rule matches."
                    + (f" From: {'; '.join(origins)}." if origins else "")),
            link="/dashboard/hygiene/",
            hint="Add a channel rule (or an alias) for it in the admin, or fix the link that sends it."))
    return findings


def _key_part(value: str) -> str:
    """A value inside an alert key, its "/" escaped: source "a / b" with medium "c" and source "a" with medium
    "b / c" must not be one alert."""
    return value.replace("%", "%25").replace("/", "%2F")


def campaign_dropped_check(now: datetime) -> list[Finding]:
    weeks = settings.ALERTS_CAMPAIGN_WEEKS
    last_start, last_end = full_week_bounds(now)
    first_start, _ = full_week_bounds(now, back=weeks)
    rows = timeseries(interval="week", group_by="campaign", booked_after=first_start, booked_before=last_end)["rows"]
    per_campaign: dict[str, dict] = {}
    for row in rows:
        if row["campaign"] in ("", NOT_SET) or not row["bookings"]:
            continue
        week = timezone.localtime(row["period"]).date()
        per_campaign.setdefault(row["campaign"], {})[week] = row["bookings"]
    before = [full_week_bounds(now, back=k)[0].date() for k in range(1, weeks + 1)]
    findings = []
    for campaign, counts in sorted(per_campaign.items()):
        if counts.get(last_start.date()) or not all(counts.get(w) for w in before):
            continue
        findings.append(Finding(
            key=f"campaign_dropped:{campaign}", firing=True, title=f"Campaign “{campaign}” had no bookings last week",
            detail=(f"No bookings in the {_week_name(last_start)}, after bookings in each of the {weeks} weeks before "
                    f"({', '.join(str(counts[w]) for w in reversed(before))})."),
            link=_dashboard(first_start, last_end, campaign=campaign),
            hint="Was it stopped on purpose? If not, check its ads or links (a broken link, a budget cap, a renamed "
                 "utm_campaign)."))
    return findings


CHECKS: list[Check] = [
    Check("calendly_subscription", OPS, calendly_subscription_check),
    Check("delivery_silence", OPS, delivery_silence_check),
    Check("rejected_signatures", OPS, rejected_signatures_check),
    Check("dead_letters", OPS, dead_letters_check),
    Check("hubspot_connection", OPS, hubspot_connection_check),
    Check("hubspot_daily_limit", OPS, hubspot_daily_limit_check),
    Check("sync_backlog", OPS, sync_backlog_check),
    Check("worker_heartbeat", OPS, worker_heartbeat_check, by_watchdog=True),
    Check("direct_share_jump", MARKETING, direct_share_jump_check),
    Check("unassigned_value", MARKETING, unassigned_value_check, family=True,
          cleared="No longer new: a channel rule now matches it, or it has been around long enough to be a known "
                  "value (values still Unassigned are listed on the hygiene page)."),
    Check("campaign_dropped", MARKETING, campaign_dropped_check, family=True,
          cleared="The campaign had bookings again in the last full week (or no longer had them every week before)."),
]
CHECKS_BY_KEY = {check.key: check for check in CHECKS}


def check_for(key: str) -> Check | None:
    """The check an alert key belongs to ("unassigned_value:x / y" → the unassigned_value check)."""
    return CHECKS_BY_KEY.get(key) or CHECKS_BY_KEY.get(key.split(":", 1)[0])
