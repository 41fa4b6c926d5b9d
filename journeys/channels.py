"""The channel of one touch, GA4-style: UTMs first (the rules engine), then click ids, then the referrer.

Pure: plain values and a compiled `Ruleset` in, a `TouchAttribution` out; no database, no settings.

- UTMs that say where from (source, medium, campaign or content) → the rules engine, exactly as a booking.
- No such UTMs but an ad click id → GA4's mapping: gclid / gbraid / wbraid → google / cpc / Paid Search,
  msclkid → bing / cpc / Paid Search, li_fat_id → linkedin / cpc / Paid Social, ttclid → tiktok / cpc /
  Paid Social, fbclid → facebook / cpc / Paid Social — unless the referrer is a social site, which means
  an organic post (Meta adds fbclid to every outbound link): then facebook-family / social / Organic Social.
- Only an external referrer → its host is named by the source aliases (chatgpt.com → chatgpt) or by a
  known source among its labels (search.brave.com → brave), and the rules engine classifies it with
  medium `referral`: search engines → Organic Search, social sites → Organic Social, AI assistants → AI
  Assistants, anything else → Referral.
- Nothing → Direct.
"""

from __future__ import annotations

from dataclasses import dataclass

from attribution.rules import (
    DIRECT, DIRECT_MEDIUM, DIRECT_SOURCE, NOT_SET, UNASSIGNED, Ruleset, attribution_compute, utm_normalize,
)

CLICK_IDS = ("gclid", "gbraid", "wbraid", "msclkid", "fbclid", "li_fat_id", "ttclid")
PAID_SEARCH, PAID_SOCIAL, ORGANIC_SOCIAL, ORGANIC_SEARCH, REFERRAL, AI = (
    "Paid Search", "Paid Social", "Organic Social", "Organic Search", "Referral", "AI Assistants")
# Click id → (source, medium, channel), in priority order when several are present.
CLICK_ID_CHANNELS = {
    "gclid": ("google", "cpc", PAID_SEARCH),
    "gbraid": ("google", "cpc", PAID_SEARCH),
    "wbraid": ("google", "cpc", PAID_SEARCH),
    "msclkid": ("bing", "cpc", PAID_SEARCH),
    "li_fat_id": ("linkedin", "cpc", PAID_SOCIAL),
    "ttclid": ("tiktok", "cpc", PAID_SOCIAL),
    "fbclid": ("facebook", "cpc", PAID_SOCIAL),
}
# Medium recorded for a referrer, by the channel it lands in (GA4 writes google / organic, t.co / social).
REFERRER_MEDIUM = {ORGANIC_SEARCH: "organic", ORGANIC_SOCIAL: "social"}


@dataclass(frozen=True)
class TouchAttribution:
    source: str
    medium: str
    campaign: str
    content: str
    term: str
    channel: str

    @property
    def is_direct(self) -> bool:
        return self.channel == DIRECT


DIRECT_TOUCH = TouchAttribution(DIRECT_SOURCE, DIRECT_MEDIUM, NOT_SET, "", "", DIRECT)


def host_normalize(host: str | None) -> str:
    """Lowercase, no port, no trailing dot, no leading `www.`."""
    host = (host or "").strip().lower().rstrip(".")
    if host.startswith("[") or host.count(":") > 1:  # an IPv6 literal stays whole
        return host.strip("[]")
    host = host.split(":", 1)[0]
    return host[4:] if host.startswith("www.") else host


def referrer_source(host: str, ruleset: Ruleset) -> str:
    """A referrer host's source name: an alias (chatgpt.com → chatgpt), a known source among its labels
    or suffixes (copilot.microsoft.com → copilot, google.de → google), else the host itself."""
    host = host_normalize(host)
    if not host:
        return ""
    labels = host.split(".")
    suffixes = [".".join(labels[i:]) for i in range(len(labels) - 1)]  # never the bare TLD
    for candidate in [host, "www." + host, *suffixes]:
        aliased = ruleset.alias("source", candidate)
        if aliased != candidate:
            return aliased
        if candidate in ruleset.known_sources:
            return candidate
    known = set(ruleset.known_sources)
    for label in labels[:-1]:
        if label in known:
            return label
    return host[:255]


def touch_attribution(*, utms: dict, click_ids: dict, referrer_host: str, ruleset: Ruleset,
                      own_hosts: tuple[str, ...] = ()) -> TouchAttribution:
    """Where one touch came from (see the module docstring for the order)."""
    raw = {name: str(value)[:500] for name, value in (utms or {}).items()
           if name in ("source", "medium", "campaign", "content", "term") and value not in (None, "")}
    attributed = attribution_compute(raw=raw, ruleset=ruleset)
    if attributed.channel != DIRECT:
        return TouchAttribution(attributed.source, attributed.medium, attributed.campaign, attributed.content,
                                attributed.term, attributed.channel)
    referrer = host_normalize(referrer_host)
    if referrer and referrer in {host_normalize(h) for h in own_hosts}:
        referrer = ""  # an internal page view says nothing about where the visitor came from
    present = [name for name in CLICK_ID_CHANNELS if (click_ids or {}).get(name)]
    if present:
        name = present[0]
        source, medium, channel = CLICK_ID_CHANNELS[name]
        if name == "fbclid" and referrer:
            via = attribution_compute(raw={"source": referrer_source(referrer, ruleset), "medium": "referral"},
                                      ruleset=ruleset)
            if via.channel == ORGANIC_SOCIAL:
                return TouchAttribution(via.source, "social", NOT_SET, "", "", ORGANIC_SOCIAL)
        return TouchAttribution(source, medium, NOT_SET, "", "", channel)
    if referrer:
        source = referrer_source(referrer, ruleset)
        via = attribution_compute(raw={"source": source, "medium": "referral"}, ruleset=ruleset)
        channel = via.channel if via.channel != UNASSIGNED else REFERRAL
        return TouchAttribution(via.source, REFERRER_MEDIUM.get(channel, "referral"), NOT_SET, "", "", channel)
    return DIRECT_TOUCH


def utm_values(query_pairs) -> dict:
    """utm_* parameters (first of each, lowercased names) → {"source": …, …}, raw as received."""
    found = {}
    for key, value in query_pairs:
        key = key.lower()
        if key.startswith("utm_"):
            found.setdefault(key[4:], value)
    return found


def click_id_values(query_pairs) -> dict:
    found = {}
    for key, value in query_pairs:
        key = key.lower()
        if key in CLICK_IDS and value and key not in found:
            found[key] = value[:255]
    return found


__all__ = ["TouchAttribution", "touch_attribution", "referrer_source", "host_normalize", "utm_normalize",
           "CLICK_IDS", "DIRECT_TOUCH"]
