"""UTM link convention: lint links in content, build links that follow it. Pure functions."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from attribution.patterns import PatternError, pattern_compile
from attribution.rules import Ruleset, utm_normalize

REQUIRED = ("utm_source", "utm_medium", "utm_campaign")
UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term")
SOURCE_TOKEN = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
URL_RE = re.compile(r"""https?://[^\s<>"'\])}]+""", re.IGNORECASE)
TRAILING = ".,;:!?*_~'\""


@dataclass(frozen=True)
class Finding:
    code: str
    message: str
    parameter: str = ""


@dataclass(frozen=True)
class LinkHit:
    line: int
    col: int
    url: str


class LinkError(ValueError):
    def __init__(self, findings: list[Finding]):
        super().__init__("; ".join(f.message for f in findings))
        self.findings = findings


def campaign_ok(value: str) -> bool:
    """`<topic>_<yyyymm>` by default, with a real month."""
    try:  # the convention is configurable, the value comes from anyone's link: RE2, linear time
        if not pattern_compile(settings.UTM_CAMPAIGN_PATTERN).match(value):
            return False
    except PatternError as exc:
        raise ImproperlyConfigured(f"UTM_CAMPAIGN_PATTERN is not a valid RE2 pattern: {exc}") from None
    month = re.search(r"(\d{4})(\d{2})$", value)
    return month is None or 1 <= int(month.group(2)) <= 12


def _value_findings(key: str, value: str, ruleset: Ruleset) -> list[Finding]:
    name = key.removeprefix("utm_")
    findings = []
    if value.strip() == "":
        return [Finding("empty-value", f"{key} is empty", key)]
    normalized = utm_normalize(value)
    if value != normalized:
        findings.append(Finding("not-normalized", f"{key}={value!r} should be {normalized!r} (lowercase, no padding)", key))
    if name in ("source", "medium", "campaign") and normalized in ruleset.banned:
        findings.append(Finding("banned-value", f"{key}={normalized!r} is a placeholder or our own brand: it reads as direct", key))
    canonical = ruleset.alias(name, normalized)
    if name in ("source", "medium", "campaign") and canonical != normalized:
        findings.append(Finding("alias", f"{key}={normalized!r} is an alias: use {canonical!r}", key))
    if name == "source" and not SOURCE_TOKEN.match(normalized):
        findings.append(Finding("source-token", f"utm_source={value!r} must be one lowercase token (letters, digits, . _ -)", key))
    if name == "campaign" and not campaign_ok(normalized):
        findings.append(Finding("campaign-convention", f"utm_campaign={value!r} does not follow <topic>_<yyyymm>, e.g. spring_launch_202606", key))
    return findings


def utm_value_findings(key: str, value: str, *, ruleset: Ruleset) -> list[Finding]:
    """The link builder's checks of one normalized value (`utm_source`, …): banned or brand values, aliases, the
    source token and the campaign convention. The backlog's manual assignment checks its values with them too."""
    return [f for f in _value_findings(key, utm_normalize(value), ruleset) if f.code != "not-normalized"]


def link_lint(url: str, *, ruleset: Ruleset) -> list[Finding]:
    """Everything wrong with one link's UTM parameters (empty list = clean)."""
    query = urlsplit(url).query
    pairs = parse_qsl(query, keep_blank_values=True)
    findings, seen = [], {}
    for key, value in pairs:
        lower = key.lower()
        if lower.startswith("utm_") and key != lower:
            findings.append(Finding("not-normalized", f"parameter {key!r} should be {lower!r}", key))
        if lower in seen:
            findings.append(Finding("duplicate-parameter", f"{lower} appears more than once", lower))
            continue
        seen[lower] = value
    for key in REQUIRED:
        if key not in seen:
            findings.append(Finding("missing-parameter", f"{key} is missing", key))
    for key in UTM_KEYS:
        if key in seen:
            findings.extend(_value_findings(key, seen[key], ruleset))
    return findings


def links_scan(text: str, *, domains: list[str]):
    """Links to the given domains (and their subdomains) in markdown, HTML or plain text."""
    domains = [d.lower().lstrip(".") for d in domains]
    for line_no, line in enumerate(text.splitlines(), start=1):
        for match in URL_RE.finditer(line):
            url = match.group(0).rstrip(TRAILING)
            if url.count("(") < url.count(")"):
                url = url[: url.rfind(")")]
            host = (urlsplit(html.unescape(url)).hostname or "").lower()
            if any(host == d or host.endswith("." + d) for d in domains):
                yield LinkHit(line_no, match.start() + 1, html.unescape(url))


def link_build(*, base_url: str, source: str, medium: str, campaign: str, content: str = "", term: str = "",
               ruleset: Ruleset) -> str:
    """A tagged link that follows the convention, or LinkError with every reason it can't."""
    parts = urlsplit(base_url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise LinkError([Finding("bad-url", "base URL must be an absolute http(s) URL", "base_url")])
    values = {"utm_source": source.strip().lower(), "utm_medium": medium.strip().lower(),
              "utm_campaign": campaign.strip().lower(), "utm_content": content.strip().lower(), "utm_term": term.strip()}
    findings = []
    for key in REQUIRED:
        if not values[key]:
            findings.append(Finding("missing-parameter", f"{key} is required", key))
    for key, value in values.items():
        if value and key != "utm_term":
            findings.extend(f for f in _value_findings(key, value, ruleset) if f.code != "not-normalized")
    if findings:
        raise LinkError(findings)
    kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k.lower() not in UTM_KEYS]
    kept += [(k, v) for k, v in values.items() if v]
    return urlunsplit(parts._replace(query=urlencode(kept)))
