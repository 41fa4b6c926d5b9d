"""Writes of the field mapping's state: whether the portal has each mapped property, and HubSpot's owners."""

from __future__ import annotations

import logging
import re

from django.db import transaction
from django.utils import timezone

from hubspot_sync.mapping import FIELDS
from hubspot_sync.models import HubspotOwner, PropertyMapping

logger = logging.getLogger("sourcebook.hubspot")
PROPERTY_NAME = re.compile(r"[a-z][a-z0-9_]{0,99}")


def mapping_defaults_install() -> int:
    """A row with its default property and policy for every Sourcebook field that has none (migration 0006 installs
    the same; a field a later release adds gets its row here, from hubspot_setup). Rows the admin edited stay."""
    created = 0
    for field in FIELDS:
        taken = PropertyMapping.objects.filter(object_type=field.object_type, hubspot_property=field.default_property)
        if taken.exclude(sourcebook_field=field.key).exists():
            continue  # the admin pointed another field at this property: leave this one to be mapped by hand
        created += PropertyMapping.objects.get_or_create(
            object_type=field.object_type, sourcebook_field=field.key,
            defaults={"hubspot_property": field.default_property, "policy": field.default_policy})[1]
    return created


def mapping_edited(*, mapping: PropertyMapping, changed: list[str]) -> None:
    """Save an admin's edit. Another HubSpot property is not known to exist until hubspot_setup (or the sync) finds it."""
    if "hubspot_property" in changed:
        mapping.portal_has, mapping.checked_at = None, None
    mapping.save()


def mapping_portal_refresh(*, object_type: str, portal_properties: set[str]) -> int:
    """Record, for every mapping of `object_type`, whether the portal has its property (hubspot_setup read the
    portal's property list). Returns how many are not set up."""
    now = timezone.now()
    missing = 0
    for row in PropertyMapping.objects.filter(object_type=object_type):
        has = row.hubspot_property in portal_properties
        missing += not has
        PropertyMapping.objects.filter(pk=row.pk).update(portal_has=has, checked_at=now)
    return missing


def mapping_mark_missing(*, object_type: str, properties: set[str]) -> int:
    """HubSpot answered PROPERTY_DOESNT_EXIST for these: their mappings show as not set up, and the sync leaves
    them out until hubspot_setup finds them."""
    if not properties:
        return 0
    n = PropertyMapping.objects.filter(object_type=object_type, hubspot_property__in=properties).update(
        portal_has=False, checked_at=timezone.now())
    logger.warning("HubSpot lacks mapped %s properties %s: not set up until hubspot_setup creates them",
                   object_type, sorted(properties))
    return n


def owners_store(*, owners: list[dict]) -> int:
    """Replace the cached owners with HubSpot's list (active owners with an email); returns how many."""
    now = timezone.now()
    rows = {}
    for owner in owners:
        email = str(owner.get("email") or "").strip().lower()
        owner_id = str(owner.get("id") or "").strip()
        if not email or not owner_id or owner.get("archived"):
            continue
        name = " ".join(p for p in (owner.get("firstName"), owner.get("lastName")) if p)
        rows[owner_id] = HubspotOwner(owner_id=owner_id[:32], email=email[:254], name=name[:255], refreshed_at=now)
    with transaction.atomic():
        HubspotOwner.objects.exclude(owner_id__in=list(rows)).delete()
        HubspotOwner.objects.bulk_create(list(rows.values()), update_conflicts=True, unique_fields=["owner_id"],
                                         update_fields=["email", "name", "refreshed_at"])
    return len(rows)
