"""Create our property group and properties in the portal, idempotently, and check what the token may do."""

from __future__ import annotations

from django.conf import settings

from hubspot_sync.client import HubSpotError
from hubspot_sync.mapping import FIELD_BY_KEY, NEVER
from hubspot_sync.models import DealRule, PropertyMapping
from hubspot_sync.selectors import mapping_rules
from hubspot_sync.services.connection import connection_store_portal
from hubspot_sync.services.mapping import mapping_defaults_install, mapping_portal_refresh, owners_store
from hubspot_sync.services.payloads import CONTACT_PROPERTIES, GROUP, MEETING_PROPERTIES

REQUIRED_SCOPES = {"crm.objects.contacts.read", "crm.objects.contacts.write", "crm.schemas.contacts.write"}
# Deal rules read pipelines and deals and create/advance deals: only needed when a rule is enabled.
DEAL_SCOPES = {"crm.objects.deals.read", "crm.objects.deals.write"}


def required_scopes() -> set[str]:
    """The contact scopes always; the deal scopes too as soon as a deal rule or a deal mapping is enabled; the
    owners scope when the contact owner mapping is."""
    scopes = set(REQUIRED_SCOPES)
    if DealRule.objects.filter(enabled=True).exists():
        scopes |= DEAL_SCOPES
    if any(r.policy != NEVER for r in mapping_rules("deals")):
        scopes |= DEAL_SCOPES | {"crm.schemas.deals.write"}
    if any(r.field == "owner" and r.policy != NEVER for r in mapping_rules("contacts")):
        scopes |= {"crm.objects.owners.read"}
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
    added = mapping_defaults_install()
    lines = [f"field mapping: {added} default rows added" if added else "field mapping: in place"]
    lines.append(scopes_check(client=client))
    try:
        zone = client.account_details().get("timeZone") or ""
        connection_store_portal(time_zone=zone)
        lines.append(f"portal time zone: {zone or 'unknown'} (the daily API limit resets at its midnight)")
    except HubSpotError as exc:
        lines.append(f"portal time zone: could not read ({exc.status} {exc.message})")
    lines += properties_ensure(client=client)
    try:
        lines.append(f"owners: {owners_store(owners=client.owners())} cached (a Calendly host's email finds its owner)")
    except HubSpotError as exc:
        lines.append(f"owners: could not read ({exc.status} {exc.message}); the contact owner mapping writes nothing")
    not_set_up = PropertyMapping.objects.filter(portal_has=False).count()
    lines.append(f"field mapping: {not_set_up} mapped properties not set up" if not_set_up else "field mapping: all set up")
    return lines


def _wanted(object_type: str) -> dict[str, dict]:
    """Property name -> definition of what Sourcebook writes to this object type: its own properties (contacts and
    meetings) and every mapped property that is not `never` (a remapped field gets a text/number/date property in
    the Sourcebook group, typed by its field)."""
    own = {"contacts": CONTACT_PROPERTIES, "meetings": MEETING_PROPERTIES}.get(object_type, [])
    wanted = {name: {"name": name, "label": f"{label} (Sourcebook)", "type": type_, "fieldType": field_type,
                     "groupName": GROUP[0]} for name, label, type_, field_type in own}
    if object_type in ("contacts", "deals"):
        for rule in mapping_rules(object_type):
            field = FIELD_BY_KEY[(object_type, rule.field)]
            if rule.policy != NEVER and rule.prop not in wanted:
                wanted[rule.prop] = {"name": rule.prop, "label": f"{field.label} (Sourcebook)", "type": field.type,
                                     "fieldType": field.field_type, "groupName": GROUP[0]}
    return wanted


def properties_ensure(*, client) -> list[str]:
    """Create the Sourcebook property group and the properties Sourcebook writes that the portal lacks (idempotent),
    and record per mapping whether the portal has its property ("not set up" in the admin until it does). Also
    called by the sync when HubSpot refuses a property as unknown: a release that adds one needs no manual step.
    A property HubSpot will not create (a reserved name, a missing schema scope) is reported, not raised: its
    mapping stays "not set up" and the sync leaves it out."""
    lines = []
    for object_type in ("contacts", "meetings", "deals"):
        wanted = _wanted(object_type)
        existing = {p.get("name") for p in client.properties_list(object_type)}
        missing = [name for name in wanted if name not in existing]
        if object_type != "deals" or missing:
            try:
                created = client.property_group_create(object_type, GROUP[0], GROUP[1])
                lines.append(f"{object_type} group {GROUP[0]}: {'created' if created else 'already there'}")
            except HubSpotError as exc:
                if exc.kind not in ("validation", "forbidden"):
                    raise
                lines.append(f"{object_type} group {GROUP[0]}: could not create ({exc.status} {exc.message})")
        for name in wanted:
            if name in existing:
                lines.append(f"{object_type}.{name}: already there")
                continue
            try:
                created = client.property_create(object_type, wanted[name])
            except HubSpotError as exc:
                if exc.kind not in ("validation", "forbidden"):
                    raise
                lines.append(f"{object_type}.{name}: could not create ({exc.status} {exc.message}): not set up")
                continue
            existing.add(name)
            lines.append(f"{object_type}.{name}: {'created' if created else 'already there'}")
        if object_type in ("contacts", "deals"):
            mapping_portal_refresh(object_type=object_type, portal_properties=existing)
    return lines
