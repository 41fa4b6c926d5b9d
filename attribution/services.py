"""Writes of the attribution app: default rules, rule edits, reattribute, manual assignments.

The rules engine itself is attribution/rules.py (pure); the admin-edited rules are loaded by
attribution/ruleset.py.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.utils import timezone

from attribution import defaults
from attribution.models import Alias, BannedValue, ChannelRule, ManualAttribution, RulesetVersion, SourceCategory
from attribution.rules import DIRECT, attribution_compute, self_reported_normalize, utm_normalize
from attribution.ruleset import ruleset_build, ruleset_changed
from bookings.models import Booking
from bookings.services.changes import bookings_changed as sync_mark_changed  # bookings_reattribute's name until i12-rejob
from bookings.services.fold import booking_reattribute

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


# --- re-attribution -------------------------------------------------------------------------------

ATTRIBUTION_COLUMNS = ("source", "medium", "campaign", "content", "term", "channel", "visitor_id", "attribution_flags")


@dataclass
class ReattributeResult:
    examined: int = 0
    changed: int = 0
    moves: dict = field(default_factory=dict)  # (from channel, to channel) -> bookings
    rules_version: int = 0


def bookings_reattribute(*, since=None, where_source: str | None = None, dry_run: bool = False, batch_size: int = 50_000,
                         progress=None) -> ReattributeResult:
    """Recompute attribution for existing bookings, set-based: classify each distinct UTM input once,
    then update bookings by joining on it. Never silent: returns who moved where."""

    ruleset = ruleset_build()
    table = Booking._meta.db_table
    conditions, params = [], []  # written for alias "b" of the bookings table
    if since:
        conditions.append("b.booked_at >= %s")
        params.append(since)
    if where_source is not None:  # only what one alias/rule can affect (hygiene page), self-reported answers included
        conditions.append("(b.source = %s OR lower(b.utm_raw->>'source') LIKE %s OR lower(b.self_reported_raw) LIKE %s)")
        params += [where_source, f"%{where_source.split(' ')[0]}%", f"%{where_source.split(' ')[0]}%"]
    where = ("WHERE " + " AND ".join(conditions)) if conditions else ""
    result = ReattributeResult(rules_version=ruleset.version)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SELECT b.utm_raw, count(*) FROM {table} b {where} GROUP BY b.utm_raw", params)
        distinct_utm = cursor.fetchall()
        cursor.execute(f"SELECT DISTINCT b.self_reported_raw FROM {table} b {where}", params)
        distinct_answers = [row[0] for row in cursor.fetchall()]
        result.examined = sum(count for _, count in distinct_utm)

        cursor.execute("DROP TABLE IF EXISTS sb_utm_map, sb_answer_map")
        cursor.execute(
            "CREATE TEMP TABLE sb_utm_map (utm_raw jsonb PRIMARY KEY, source text, medium text, campaign text,"
            " content text, term text, channel text, visitor_id text, attribution_flags varchar(64)[]) ON COMMIT DROP"
        )
        cursor.execute("CREATE TEMP TABLE sb_answer_map (raw text PRIMARY KEY, normalized text) ON COMMIT DROP")
        with cursor.cursor.copy("COPY sb_utm_map FROM STDIN") as copy:
            for raw_json, _ in distinct_utm:
                raw = raw_json if isinstance(raw_json, dict) else json.loads(raw_json or "{}")
                a = attribution_compute(raw=raw, ruleset=ruleset)
                copy.write_row((json.dumps(raw), a.source, a.medium, a.campaign, a.content, a.term, a.channel,
                                a.visitor_id, list(a.flags)))
        with cursor.cursor.copy("COPY sb_answer_map FROM STDIN") as copy:
            for answer in distinct_answers:
                copy.write_row((answer, self_reported_normalize(answer, ruleset)))
        cursor.execute("ANALYZE sb_utm_map")

        differs = " OR ".join(f"b.{c} IS DISTINCT FROM m.{c}" for c in ATTRIBUTION_COLUMNS)
        differs += " OR b.self_reported_source IS DISTINCT FROM a.normalized"
        joined = "sb_utm_map m, sb_answer_map a"
        matched = " AND ".join(["b.utm_raw = m.utm_raw AND b.self_reported_raw = a.raw", *conditions])
        cursor.execute(
            f"SELECT b.channel, m.channel, count(*) FROM {table} b, {joined} WHERE {matched} AND ({differs}) GROUP BY 1, 2",
            params,
        )
        for old, new, count in cursor.fetchall():
            result.changed += count
            if old != new:
                result.moves[(old, new)] = count
        if dry_run:
            return result

        cursor.execute(f"SELECT min(id), max(id) FROM {table}")
        low, high = cursor.fetchone()
        if low is None:
            return result
        assignments = ", ".join(f"{c} = m.{c}" for c in ATTRIBUTION_COLUMNS)
        for start in range(low, high + 1, batch_size):
            # Attribution changes reach HubSpot through the outbox, in the same transaction.
            cursor.execute(
                f"SELECT b.id FROM {table} b, {joined} WHERE {matched} AND b.id >= %s AND b.id < %s AND ({differs})",
                [*params, start, start + batch_size],
            )
            sync_mark_changed(booking_ids=[row[0] for row in cursor.fetchall()])
            cursor.execute(
                f"UPDATE {table} b SET {assignments}, self_reported_source = a.normalized, rules_version = %s,"
                f" hubspot_state = CASE WHEN ({differs}) THEN 'pending' ELSE b.hubspot_state END,"
                f" updated_at = CASE WHEN ({differs}) THEN now() ELSE b.updated_at END"
                f" FROM {joined} WHERE {matched} AND b.id >= %s AND b.id < %s AND (({differs}) OR b.rules_version <> %s)",
                [ruleset.version, *params, start, start + batch_size, ruleset.version],
            )
            if progress:
                progress(min(start + batch_size, high + 1) - low, high + 1 - low)
    return result


# --- rules edits (admin, hygiene page) -----------------------------------------------------------


def alias_create(*, field_name: str, value: str, canonical: str) -> Alias:
    """A new spelling joins its canonical value; bumps the rules version."""
    alias, _ = Alias.objects.update_or_create(
        field=field_name, value=utm_normalize(value), defaults={"canonical": utm_normalize(canonical)}
    )
    ruleset_changed()
    return alias


# --- manual attribution (the (direct) backlog) ----------------------------------------------------


def bookings_assign_attribution(*, booking_ids: list[int], source: str, medium: str, campaign: str, user) -> int:
    """Marketing assigns a source to untagged bookings: audited, reversible, kept through reattribute."""

    manual = {k: v for k, v in {"utm_source": source, "utm_medium": medium, "utm_campaign": campaign}.items() if v}
    if not manual.get("utm_source"):
        raise ValueError("a source is required")
    count = 0
    with transaction.atomic():
        # Locked by id, all before the first outbox row (booking_reattribute goes through the seam's lock order).
        bookings = (Booking.objects.select_for_update(of=("self",)).filter(pk__in=booking_ids)
                    .select_related("rescheduled_from").order_by("pk"))
        for booking in bookings:
            ManualAttribution.objects.create(
                booking=booking, user=user, to_values=manual,
                from_values={"source": booking.source, "medium": booking.medium, "campaign": booking.campaign,
                             "channel": booking.channel, "manual_utm": booking.manual_utm})
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
        if ManualAttribution.objects.filter(booking=entry.booking, reverted_at=None, pk__gt=entry.pk).exists():
            raise ValueError("a later assignment of this booking is still in place: revert that one first")
        booking = entry.booking
        booking.manual_utm = entry.from_values.get("manual_utm")
        booking.save(update_fields=["manual_utm"])
        booking_reattribute(booking=booking)
        entry.reverted_at, entry.reverted_by = timezone.now(), user
        entry.save(update_fields=["reverted_at", "reverted_by"])


def channel_rule_create(*, channel: str, source: str = "", medium: str = "") -> ChannelRule:
    """One-click rule from the hygiene page: placed right after the built-in Direct rule."""
    position = (ChannelRule.objects.filter(channel=DIRECT).values_list("position", flat=True).first() or 0) + 1
    rule = ChannelRule.objects.create(position=position, channel=channel.strip(),
                                      source_values=[utm_normalize(source)] if source else [],
                                      medium_values=[utm_normalize(medium)] if medium else [])
    ruleset_changed()
    return rule
