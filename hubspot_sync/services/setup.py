"""Create our property group and properties in the portal, idempotently."""

from __future__ import annotations

from hubspot_sync.services.payloads import CONTACT_PROPERTIES, GROUP, MEETING_PROPERTIES

REQUIRED_SCOPES = {"crm.objects.contacts.read", "crm.objects.contacts.write", "crm.schemas.contacts.write"}


def hubspot_setup(*, client) -> list[str]:
    """Returns one human line per thing done or found."""
    lines = []
    try:
        scopes = set(client.token_info().get("scopes") or [])
        missing = REQUIRED_SCOPES - scopes
        lines.append(f"token scopes: missing {', '.join(sorted(missing))}" if missing else "token scopes: ok")
    except Exception as exc:  # noqa: BLE001 - private app tokens may not support introspection
        lines.append(f"token scopes: could not check ({exc})")
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
