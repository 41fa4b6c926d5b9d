"""The attribution rules engine: plain data in, an attribution out. No database, no settings.

Where a rule lives (one home each):
- names of the three states that are never merged: untagged → `DIRECT` (source `(direct)`),
  tagged but unmatched → `UNASSIGNED`, classified → a named channel;
- UTM normalization (`utm_normalize`), what counts as attribution (`has_attribution`: a lone
  `utm_term` is an identifier, e.g. a visitor id, not a source);
- visitor ids (`VISITOR_ID_RE`, `visitor_id_in`): Sourcebook's own `sbv_` id, recognised in any tracking
  field (utm_term, utm_content, salesforce_uuid, …) even beside other UTMs, and never taken for a UTM;
- channel rules: compiled from rows (`rules_compile`), first match wins (`attribution_compute`);
- the self-reported "how did you hear about us" answer (`SELF_REPORTED_QUESTION_PATTERN`,
  `self_reported_answer`, `self_reported_normalize`);
- which typed channel name means a known channel, and its close matches (`channel_lookup`); which medium puts a
  source in a chosen channel (`medium_for_channel`); which values are spellings of the same one (`spelling_key`).

The admin-edited rules are loaded from the database by `attribution.ruleset`; `lint_utms` compiles the
defaults in memory (`rules_from_defaults`). Regexes run on RE2 (`attribution.patterns`).
"""

from __future__ import annotations

import difflib
import logging
import re
from dataclasses import dataclass, field, replace
from typing import Iterable
from urllib.parse import unquote_plus

from attribution import defaults
from attribution.patterns import Pattern, PatternError, pattern_compile

logger = logging.getLogger("sourcebook.attribution")

DIRECT_SOURCE, DIRECT_MEDIUM, NOT_SET = "(direct)", "(none)", "(not set)"
DIRECT, UNASSIGNED = "Direct", "Unassigned"
UTM_FIELDS = ("source", "medium", "campaign", "content", "term")
ATTRIBUTION_UTM_FIELDS = ("source", "medium", "campaign", "content")  # utm_term alone says nothing about where from
COMBINE_ALL, COMBINE_ANY = "all", "any"
# The question whose answer is the self-reported source (SELF_REPORTED_QUESTION_PATTERN overrides it).
SELF_REPORTED_QUESTION_PATTERN = defaults.SELF_REPORTED_QUESTION_PATTERN
# Sourcebook's visitor id (journeys): `sbv_` + 22 url-safe characters, recognisable in any tracking field.
VISITOR_ID_PREFIX = "sbv_"
VISITOR_ID_RE = re.compile(r"^sbv_[A-Za-z0-9_-]{22}$")


def is_visitor_id(value) -> bool:
    return isinstance(value, str) and bool(VISITOR_ID_RE.match(value.strip()))


def visitor_id_in(tracking: dict | None) -> str:
    """The first `sbv_` visitor id in a booking's tracking: the UTM fields first (term, content, source,
    medium, campaign), then any other field (salesforce_uuid, …) by name. "" when there is none."""
    tracking = tracking or {}
    keys = [f"utm_{name}" for name in ("term", "content", "source", "medium", "campaign")]
    keys += sorted(k for k in tracking if k not in keys)
    for key in keys:
        value = tracking.get(key)
        if is_visitor_id(value):
            return value.strip()
    return ""


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
        return all(checks) if self.combine == COMBINE_ALL else any(checks)


@dataclass(frozen=True)
class Ruleset:
    version: int
    aliases: dict  # (field, value) -> canonical
    banned: frozenset
    rules: tuple
    question_pattern: Pattern
    known_sources: tuple = field(default=())
    # Classifications already made with these rules (the same few UTM sets recur all day): a pure
    # function of (raw, ruleset), so remembering them is safe; bounded, cleared when full.
    memo: dict = field(default_factory=dict, compare=False, repr=False)

    def alias(self, field_name: str, value: str) -> str:
        return self.aliases.get((field_name, value), value)


MEMO_SIZE = 4096


def rules_compile(*, version: int, aliases: Iterable[tuple[str, str, str]], banned: Iterable[str],
                  rules: Iterable[dict], question_pattern: str = "") -> Ruleset:
    """Compile rule rows (plain dicts, in evaluation order) into a `Ruleset`.

    `aliases`: (field, spelling, canonical); `rules`: dicts with `channel`, `combine`, `source_values`
    (a category's sources already merged in), `source_regex`, `medium_values`, `medium_regex`,
    `campaign_regex`, and an `id` for error messages. A rule whose regex RE2 can't run is skipped."""
    alias_map = {(name, utm_normalize(value)): utm_normalize(canonical) for name, value, canonical in aliases}
    compiled, known = [], set()
    for rule in rules:
        sources = {utm_normalize(s) for s in rule.get("source_values") or ()}
        known |= sources
        mediums = rule.get("medium_values") or ()
        try:
            compiled.append(CompiledRule(
                channel=rule["channel"],
                combine=rule.get("combine") or COMBINE_ALL,
                sources=frozenset(sources) if sources else None,
                source_regex=pattern_compile(rule["source_regex"]) if rule.get("source_regex") else None,
                mediums=frozenset(utm_normalize(m) for m in mediums) if mediums else None,
                medium_regex=pattern_compile(rule["medium_regex"]) if rule.get("medium_regex") else None,
                campaign_regex=pattern_compile(rule["campaign_regex"]) if rule.get("campaign_regex") else None,
            ))
        except PatternError as exc:  # saved before RE2 validation, or edited in the database
            logger.error("channel rule %s skipped: invalid regex: %s", rule.get("id"), exc)
    known |= {canonical for (name, _), canonical in alias_map.items() if name == "source"}
    known.discard(DIRECT_SOURCE)
    return Ruleset(
        version=version,
        aliases=alias_map,
        banned=frozenset(utm_normalize(v) for v in banned),
        rules=tuple(compiled),
        question_pattern=pattern_compile(question_pattern or SELF_REPORTED_QUESTION_PATTERN, ignore_case=True),
        # Longest first so "meta-ai" wins over "ai"-like substrings.
        known_sources=tuple(sorted(known, key=len, reverse=True)),
    )


def rules_from_defaults(*, brand_names: Iterable[str] = (), question_pattern: str = "") -> Ruleset:
    """The default rules (attribution/defaults.py) compiled in memory: what a fresh install starts with."""
    rows = []
    for position, (channel, combine, conditions) in enumerate(defaults.CHANNEL_RULES, start=1):
        conditions = dict(conditions)
        category = conditions.pop("source_category", None)
        sources = [*conditions.pop("source_values", []), *defaults.SOURCE_CATEGORIES.get(category, [])]
        rows.append({"id": f"default-{position}", "channel": channel, "combine": combine, "source_values": sources,
                     **conditions})
    return rules_compile(
        version=0,
        aliases=[("source", spelling, canonical) for canonical, spellings in defaults.SOURCE_ALIASES.items()
                 for spelling in spellings],
        banned=[*defaults.BANNED_VALUES, *brand_names],
        rules=rows,
        question_pattern=question_pattern,
    )

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
    ids = [raw[name].strip() for name in ("term", "content", "source", "medium", "campaign") if is_visitor_id(raw.get(name))]
    if ids:  # classified without the id (one memo entry per UTM set, not per visitor), the id put back
        stripped = {name: value for name, value in raw.items() if not is_visitor_id(value)}
        return replace(attribution_compute(raw=stripped, ruleset=ruleset), visitor_id=ids[0])
    key = tuple(sorted(raw.items()))
    known = ruleset.memo.get(key)
    if known is None:
        if len(ruleset.memo) >= MEMO_SIZE:
            ruleset.memo.clear()
        known = ruleset.memo[key] = _classify(raw, ruleset)
    return known


def _classify(raw: dict, ruleset: Ruleset) -> Attribution:
    # `raw` holds no visitor id: our own id is an identifier wherever it rides (utm_term, utm_content, …), never
    # attribution, and `attribution_compute` strips it before classifying (and puts it back after).
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




def has_any_utm(tracking: dict | None) -> bool:
    """Any UTM value at all, utm_term included (the fold keeps the newest tracking that has one)."""
    return any((tracking or {}).get(f"utm_{name}") for name in UTM_FIELDS)


def has_attribution(tracking: dict | None) -> bool:
    """UTM that says where the booking came from; a lone utm_term is an identifier (a visitor id), and so
    is our `sbv_` visitor id in any UTM field."""
    tracking = tracking or {}
    return any(tracking.get(f"utm_{name}") and not is_visitor_id(tracking.get(f"utm_{name}"))
               for name in ATTRIBUTION_UTM_FIELDS)


def booking_attribution_fields(*, tracking: dict, questions_and_answers: list, ruleset: Ruleset) -> dict:
    """Every attribution column of a booking, from its effective tracking and Q&A."""
    raw = utm_raw(tracking)
    fields = attribution_compute(raw=raw, ruleset=ruleset).as_fields()
    if not is_visitor_id(fields["visitor_id"]):  # an id outside the UTMs (salesforce_uuid, …) is still the visitor
        fields["visitor_id"] = visitor_id_in(tracking) or fields["visitor_id"]
    answer = self_reported_answer(questions_and_answers, ruleset)
    fields.update(
        utm_raw=raw,
        self_reported_raw=answer,
        self_reported_source=self_reported_normalize(answer, ruleset),
        rules_version=ruleset.version,
    )
    return fields


# --- choosing values (the backlog's assignment, the hygiene page's rules) -------------------------


def channel_lookup(value: str, known: Iterable[str]) -> tuple[str | None, list[str]]:
    """The known channel a typed name means (case and spacing ignored: "paid  social" is "Paid Social"), or None
    and the known channels it is close to ("referal" → ["Referral"]), closest first."""
    known = list(dict.fromkeys(known))
    key = " ".join(str(value or "").split()).casefold()
    by_key = {" ".join(name.split()).casefold(): name for name in known}
    if key in by_key:
        return by_key[key], []
    close = difflib.get_close_matches(key, list(by_key), n=3, cutoff=0.75)
    return None, [by_key[k] for k in close]


def ruleset_channels(ruleset: Ruleset) -> list[str]:
    """Every channel the rules can give, in rule order, then Unassigned (Direct is the built-in first rule)."""
    return list(dict.fromkeys([*(rule.channel for rule in ruleset.rules), UNASSIGNED]))


# Mediums tried, after the caller's own, when a channel is chosen and no medium is: one per GA4 channel family.
MEDIUM_CANDIDATES = ("cpc", "paid", "social", "organic", "email", "referral", "display", "video", "affiliate",
                     "audio", "sms", "push")


def medium_for_channel(*, source: str, channel: str, ruleset: Ruleset, campaign: str = "",
                       candidates: Iterable[str] = ()) -> str | None:
    """A medium with which the rules put `source` in `channel`: the first of `candidates` (the mediums this source
    was seen with, most used first), then none at all (""), then MEDIUM_CANDIDATES, then the rules' own medium values. None if no medium
    does (the channel needs a rule for this source first)."""
    rule_mediums = [m for rule in ruleset.rules if rule.mediums for m in sorted(rule.mediums)]
    for medium in dict.fromkeys(utm_normalize(m) for m in [*candidates, "", *MEDIUM_CANDIDATES, *rule_mediums]):
        raw = {"source": source, **({"medium": medium} if medium else {}), **({"campaign": campaign} if campaign else {})}
        if attribution_compute(raw=raw, ruleset=ruleset).channel == channel:
            return medium
    return None


_HOST_PREFIX = re.compile(r"^(www|m|l|mobile)\.")
_HOST_SUFFIX = re.compile(r"\.(com|net|org|io|ai|co|app|dev)$")


def spelling_key(value: str) -> str:
    """What is left of a value when punctuation, spacing, `www.` and a `.com`-like ending are dropped: two values
    with the same key ("linked-in", "linkedin.com", "linkedin") are probably one source spelled two ways."""
    text = _HOST_SUFFIX.sub("", _HOST_PREFIX.sub("", utm_normalize(value)))
    return re.sub(r"[^a-z0-9]", "", text)

