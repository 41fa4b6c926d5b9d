"""Reads of hubspot_sync state that other code decides on (writes live in services)."""

from __future__ import annotations

from hubspot_sync.mapping import FIELDS, Rule
from hubspot_sync.models import ContactErasure, HubspotOwner, PropertyMapping


def mapping_rules(object_type: str) -> list[Rule]:
    """The mapping of one object type as the sync applies it: the admin's rows, and for a field without a row its
    default (a row deleted by hand, or a table emptied by a test flush, falls back to the default policy)."""
    rows = {r.sourcebook_field: r for r in PropertyMapping.objects.filter(object_type=object_type)}
    rules = []
    for field in FIELDS:
        if field.object_type != object_type:
            continue
        row = rows.get(field.key)
        if row is None:
            rules.append(Rule(field=field.key, prop=field.default_property, policy=field.default_policy, portal_has=None))
        else:
            rules.append(Rule(field=field.key, prop=row.hubspot_property, policy=row.policy, portal_has=row.portal_has))
    return rules


def owners_by_email(emails) -> dict[str, str]:
    """Host email (lower case) -> HubSpot owner id, from the cached owners list (services.owners.owners_refresh)."""
    wanted = {e.lower() for e in emails if e}
    if not wanted:
        return {}
    found = {}
    for email, owner_id in HubspotOwner.objects.filter(email__in=wanted).order_by("owner_id").values_list("email", "owner_id"):
        found.setdefault(email.lower(), owner_id)
    return found


def erasures_dead_count() -> int:
    """HubSpot GDPR deletes that failed HUBSPOT_MAX_ATTEMPTS times (dead letters: retried from the admin)."""
    return ContactErasure.objects.filter(state=ContactErasure.State.DEAD).count()
