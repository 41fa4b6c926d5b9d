"""Create our property group and properties in the portal, idempotently, and check what the token may do."""

from __future__ import annotations

from django.conf import settings

from hubspot_sync.client import HubSpotError
from hubspot_sync.models import DealRule
from hubspot_sync.services.connection import connection_store_portal
from hubspot_sync.services.payloads import CONTACT_PROPERTIES, GROUP, MEETING_PROPERTIES

REQUIRED_SCOPES = {"crm.objects.contacts.read", "crm.objects.contacts.write", "crm.schemas.contacts.write"}
# Deal rules read pipelines and deals and create/advance deals: only needed when a rule is enabled.
DEAL_SCOPES = {"crm.objects.deals.read", "crm.objects.deals.write"}


def required_scopes() -> set[str]:
    """The contact scopes always; the deal scopes too as soon as a deal rule is enabled."""
    scopes = set(REQUIRED_SCOPES)
    if DealRule.objects.filter(enabled=True).exists():
        scopes |= DEAL_SCOPES
    return scopes


def scopes_check(*, client) -> str:
    """One line: which required scopes the token lacks (token introspection, 2026-09 OAuth endpoint)."""
    try:
        info = client.token_info(client_id=settings.HUBSPOT_CLIENT_ID, client_secret=settings.HUBSPOT_CLIENT_SECRET)
    except Exception as exc:  # noqa: BLE001 - private app tokens / service keys may not support introspection
        return f"token scopes: could not check ({exc})"
    if info.get("active") is False:
        return "token scopes: HubSpot says this token is not active"
    missing = required_scopes() - set(info.get("scopes") or [])
    return f"token scopes: missing {', '.join(sorted(missing))}" if missing else "token scopes: ok"


def hubspot_setup(*, client) -> list[str]:
    """Returns one human line per thing done or found."""
    lines = [scopes_check(client=client)]
    try:
        zone = client.account_details().get("timeZone") or ""
        connection_store_portal(time_zone=zone)
        lines.append(f"portal time zone: {zone or 'unknown'} (the daily API limit resets at its midnight)")
    except HubSpotError as exc:
        lines.append(f"portal time zone: could not read ({exc.status} {exc.message})")
    return lines + properties_ensure(client=client)


def properties_ensure(*, client) -> list[str]:
    """Create the Sourcebook property group and properties that are missing (idempotent). Also called by the
    sync when HubSpot refuses one of our properties as unknown: a release that adds one needs no manual step."""
    lines = []
    for object_type, properties in (("contacts", CONTACT_PROPERTIES), ("meetings", MEETING_PROPERTIES)):
        created = client.property_group_create(object_type, GROUP[0], GROUP[1])
        lines.append(f"{object_type} group {GROUP[0]}: {'created' if created else 'already there'}")
        for name, label, type_, field_type in properties:
            created = client.property_create(object_type, {
                "name": name, "label": f"{label} (Sourcebook)", "type": type_, "fieldType": field_type,
                "groupName": GROUP[0],
            })
            lines.append(f"{object_type}.{name}: {'created' if created else 'already there'}")
    return lines
