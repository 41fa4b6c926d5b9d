"""Turning a booking's raw tracking into source / medium / campaign / channel.

Pure, fast functions over a compiled `Ruleset` (rules are data in attribution.models).
Three states are never merged: untagged → Direct, tagged but unmatched → Unassigned,
classified → a named channel.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import unquote_plus

from django.conf import settings
from django.db import transaction
from django.db.models import F

from attribution import defaults
from attribution.patterns import Pattern, PatternError, pattern_compile
from attribution.models import Alias, BannedValue, ChannelRule, RulesetVersion

logger = logging.getLogger("sourcebook.attribution")

DIRECT_SOURCE, DIRECT_MEDIUM, NOT_SET = "(direct)", "(none)", "(not set)"
DIRECT, UNASSIGNED = "Direct", "Unassigned"
UTM_FIELDS = ("source", "medium", "campaign", "content", "term")


# --- normalization ------------------------------------------------------------------------------


def utm_normalize(value) -> str:
    """Decode `+`/`%xx` (until stable), strip, lowercase, collapse inner whitespace. "" = missing."""
    if value is None:
        return ""
    text = str(value)
    for _ in range(10):
        decoded = unquote_plus(text, errors="replace")
        if decoded == text:
            break
        text = decoded
    return " ".join(text.split()).lower()


# --- compiled rules -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CompiledRule:
    channel: str
    combine: str
    sources: frozenset | None
    source_regex: Pattern | None
    mediums: frozenset | None
    medium_regex: Pattern | None
    campaign_regex: Pattern | None

    def matches(self, source: str, medium: str, campaign: str) -> bool:
        checks = []
        if self.sources is not None or self.source_regex is not None:
            checks.append((self.sources is not None and source in self.sources)
                          or (self.source_regex is not None and self.source_regex.search(source)))
        if self.mediums is not None or self.medium_regex is not None:
            checks.append((self.mediums is not None and medium in self.mediums)
                          or (self.medium_regex is not None and self.medium_regex.search(medium)))
        if self.campaign_regex is not None:
            checks.append(self.campaign_regex.search(campaign))
        if not checks:
            return False
        return all(checks) if self.combine == ChannelRule.Combine.ALL else any(checks)


@dataclass(frozen=True)
class Ruleset:
    version: int
    aliases: dict  # (field, value) -> canonical
    banned: frozenset
    rules: tuple
    question_pattern: Pattern
    known_sources: tuple = field(default=())

    def alias(self, field_name: str, value: str) -> str:
        return self.aliases.get((field_name, value), value)


def ruleset_build() -> Ruleset:
    """Compile the admin-edited rules (one query per table)."""
    version = RulesetVersion.objects.values_list("version", flat=True).first() or 0
    aliases = {(a.field, utm_normalize(a.value)): utm_normalize(a.canonical) for a in Alias.objects.all()}
    banned = {utm_normalize(v) for v in BannedValue.objects.values_list("value", flat=True)}
    banned |= {utm_normalize(v) for v in settings.SOURCEBOOK_BRAND_NAMES}
    rules, known = [], set()
    for rule in ChannelRule.objects.filter(enabled=True).select_related("source_category").order_by("position", "id"):
        sources = set(rule.source_values)
        if rule.source_category:
            sources |= set(rule.source_category.sources)
        sources = {utm_normalize(s) for s in sources}
        known |= sources
        try:
            rules.append(CompiledRule(
                channel=rule.channel,
                combine=rule.combine,
                sources=frozenset(sources) if sources else None,
                source_regex=pattern_compile(rule.source_regex) if rule.source_regex else None,
                mediums=frozenset(utm_normalize(m) for m in rule.medium_values) if rule.medium_values else None,
                medium_regex=pattern_compile(rule.medium_regex) if rule.medium_regex else None,
                campaign_regex=pattern_compile(rule.campaign_regex) if rule.campaign_regex else None,
            ))
        except PatternError as exc:  # saved before RE2 validation, or edited in the database
            logger.error("channel rule %s skipped: invalid regex: %s", rule.pk, exc)
    known |= {canonical for (field_name, _), canonical in aliases.items() if field_name == "source"}
    known.discard(DIRECT_SOURCE)
    return Ruleset(
        version=version,
        aliases=aliases,
        banned=frozenset(banned),
        rules=tuple(rules),
        question_pattern=pattern_compile(settings.SELF_REPORTED_QUESTION_PATTERN, ignore_case=True),
        # Longest first so "meta-ai" wins over "ai"-like substrings.
        known_sources=tuple(sorted(known, key=len, reverse=True)),
    )


_cache_lock = threading.Lock()
_cache: dict = {"ruleset": None, "checked": 0.0}
RULESET_RECHECK_SECONDS = 2.0


def ruleset_current() -> Ruleset:
    """The compiled rules, re-read when the version changes (checked at most every 2 s per process)."""
    now = time.monotonic()
    cached = _cache["ruleset"]
    if cached is not None and now - _cache["checked"] < RULESET_RECHECK_SECONDS:
        return cached
    version = RulesetVersion.objects.values_list("version", flat=True).first() or 0
    with _cache_lock:
        if cached is None or cached.version != version:
            cached = ruleset_build()
            _cache["ruleset"] = cached
        _cache["checked"] = now
    return cached


def ruleset_changed() -> int:
    """Every rule edit bumps the version: new bookings use the new rules, old ones keep theirs until reattribute."""
    with transaction.atomic():
        updated = RulesetVersion.objects.update(version=F("version") + 1)
        if not updated:
            RulesetVersion.objects.create(version=2)
    _cache["ruleset"] = None
    return RulesetVersion.objects.values_list("version", flat=True).get()


# --- attribution --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attribution:
    source: str
    medium: str
    campaign: str
    content: str
    term: str
    channel: str
    visitor_id: str = ""
    flags: tuple = ()

    def as_fields(self) -> dict:
        return {
            "source": self.source, "medium": self.medium, "campaign": self.campaign, "content": self.content,
            "term": self.term, "channel": self.channel, "visitor_id": self.visitor_id,
            "attribution_flags": list(self.flags),
        }


def utm_raw(tracking: dict | None) -> dict:
    """The five UTM values as received (strings or absent) — the input attribution depends on."""
    tracking = tracking or {}
    raw = {}
    for name in UTM_FIELDS:
        value = tracking.get(f"utm_{name}")
        if value not in (None, ""):
            raw[name] = str(value)[:500]
    return raw


def attribution_compute(*, raw: dict, ruleset: Ruleset) -> Attribution:
    """Classify one set of raw UTM values."""
    norm = {name: utm_normalize(raw.get(name)) for name in UTM_FIELDS}
    flags = []
    for name in ("source", "medium", "campaign"):
        value = norm[name]
        if value and (raw.get(name) or "").strip() != value:
            flags.append(f"not_normalized:{name}")
        canonical = ruleset.alias(name, value) if value else value
        if canonical != value:
            flags.append(f"alias:{name}")
            norm[name] = canonical
    if not (norm["source"] or norm["medium"] or norm["campaign"] or norm["content"]):
        # utm_term alone is an identifier injected on links (a visitor id), not attribution.
        return Attribution(DIRECT_SOURCE, DIRECT_MEDIUM, NOT_SET, "", "", DIRECT,
                           visitor_id=(raw.get("term") or "").strip()[:255])
    if norm["medium"] and not norm["source"]:
        flags.append("medium_without_source")
    source = norm["source"] or NOT_SET
    medium = norm["medium"] or NOT_SET
    campaign = norm["campaign"] or NOT_SET
    banned = [name for name in ("source", "medium", "campaign") if norm[name] in ruleset.banned]
    if banned:
        flags.extend(f"banned:{name}" for name in banned)
        channel = UNASSIGNED
    else:
        channel = next((r.channel for r in ruleset.rules if r.matches(source, medium, campaign)), UNASSIGNED)
        if channel == DIRECT:  # a tagged booking is never Direct: that name is reserved for the backlog
            channel = UNASSIGNED
    return Attribution(source[:255], medium[:255], campaign[:255], norm["content"][:255], norm["term"][:255],
                       channel, flags=tuple(flags))


def self_reported_answer(questions_and_answers: list, ruleset: Ruleset) -> str:
    """The raw answer to the "how did you hear about us" question, if asked."""
    for qa in questions_and_answers or []:
        question = str(qa.get("question") or "")
        if ruleset.question_pattern.search(question):
            return str(qa.get("answer") or "").strip()[:500]
    return ""


def self_reported_normalize(answer: str, ruleset: Ruleset) -> str:
    """"I saw it on ChatGPT" → chatgpt; unknown answers are kept (normalized) so nothing is hidden."""
    value = " ".join(str(answer or "").split()).lower()  # free text: utm_normalize's URL decoding would eat "C++"
    if not value:
        return ""
    aliased = ruleset.alias("source", value)
    if aliased != value:
        return aliased
    if value in ruleset.known_sources:
        return value
    words = set(re.findall(r"[a-z0-9][a-z0-9.\-]*[a-z0-9]|[a-z0-9]", value))
    for candidate in ruleset.known_sources:
        if candidate in words:
            return candidate
    for word in words:
        aliased = ruleset.alias("source", word)
        if aliased != word:
            return aliased
    return value[:255]


def booking_attribution_fields(*, tracking: dict, questions_and_answers: list, ruleset: Ruleset | None = None) -> dict:
    """Every attribution column of a booking, from its effective tracking and Q&A."""
    ruleset = ruleset or ruleset_current()
    raw = utm_raw(tracking)
    fields = attribution_compute(raw=raw, ruleset=ruleset).as_fields()
    answer = self_reported_answer(questions_and_answers, ruleset)
    fields.update(
        utm_raw=raw,
        self_reported_raw=answer,
        self_reported_source=self_reported_normalize(answer, ruleset),
        rules_version=ruleset.version,
    )
    return fields


def defaults_install(*, alias_model=Alias, category_model=None, banned_model=BannedValue, rule_model=ChannelRule,
                     version_model=RulesetVersion) -> None:
    """Seed the default rules (used by the data migration with historical models)."""
    from attribution.models import SourceCategory

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
    from django.db import connection

    from bookings.models import Booking

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
        import json

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
        from hubspot_sync.services.outbox import sync_mark_changed

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
    from attribution.models import ManualAttribution
    from bookings.models import Booking
    from bookings.services import booking_reattribute

    manual = {k: v for k, v in {"utm_source": source, "utm_medium": medium, "utm_campaign": campaign}.items() if v}
    if not manual.get("utm_source"):
        raise ValueError("a source is required")
    count = 0
    with transaction.atomic():
        for booking in Booking.objects.select_for_update(of=("self",)).filter(pk__in=booking_ids).select_related("rescheduled_from"):
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
    from attribution.models import ManualAttribution
    from bookings.services import booking_reattribute

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
        from django.utils import timezone

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
