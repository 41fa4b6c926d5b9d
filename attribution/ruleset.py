"""The admin-edited rules, loaded from the database and compiled by the rules engine (attribution.rules).

Compiled once per rules version and per process; every rule edit bumps the version (`ruleset_changed`).
"""

from __future__ import annotations

import threading
import time

from django.conf import settings
from django.db import transaction
from django.db.models import F

from attribution.models import Alias, BannedValue, ChannelRule, RulesetVersion
from attribution.rules import Ruleset, rules_compile


def ruleset_build() -> Ruleset:
    """Compile the admin-edited rules (one query per table)."""
    rows = []
    for rule in ChannelRule.objects.filter(enabled=True).select_related("source_category").order_by("position", "id"):
        sources = list(rule.source_values)
        if rule.source_category:
            sources += list(rule.source_category.sources)
        rows.append({"id": rule.pk, "channel": rule.channel, "combine": rule.combine, "source_values": sources,
                     "source_regex": rule.source_regex, "medium_values": rule.medium_values,
                     "medium_regex": rule.medium_regex, "campaign_regex": rule.campaign_regex})
    return rules_compile(
        version=RulesetVersion.objects.values_list("version", flat=True).first() or 0,
        aliases=Alias.objects.values_list("field", "value", "canonical"),
        banned=[*BannedValue.objects.values_list("value", flat=True), *settings.SOURCEBOOK_BRAND_NAMES],
        rules=rows,
        question_pattern=settings.SELF_REPORTED_QUESTION_PATTERN,
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
