"""The field mapping's vocabulary (pure, no I/O): what Sourcebook can write to HubSpot, each field's default HubSpot
property and policy, and how a policy decides what is sent. The admin's PropertyMapping rows override the defaults;
migration 0006 carries the same defaults as data."""

from __future__ import annotations

from dataclasses import dataclass

ALWAYS, IF_EMPTY, NEVER = "always", "if_empty", "never"


@dataclass(frozen=True)
class Field:
    key: str
    object_type: str
    default_property: str
    default_policy: str
    label: str
    type: str = "string"  # HubSpot property type/fieldType, for creating a property the portal lacks
    field_type: str = "text"


@dataclass(frozen=True)
class Rule:
    field: str
    prop: str
    policy: str
    portal_has: bool | None  # None: not checked yet (sent; a PROPERTY_DOESNT_EXIST answer marks it missing)

    @property
    def sendable(self) -> bool:
        return self.policy != NEVER and self.portal_has is not False


def _own(key: str, label: str, type_: str = "string", field_type: str = "text") -> Field:
    return Field(key, "contacts", f"sourcebook_{key}", ALWAYS, label, type_, field_type)


FIELDS = [
    _own("last_utm_source", "Last UTM source"),
    _own("last_utm_medium", "Last UTM medium"),
    _own("last_utm_campaign", "Last UTM campaign"),
    _own("last_utm_content", "Last UTM content"),
    _own("last_utm_term", "Last UTM term"),
    _own("last_channel", "Last channel"),
    _own("first_utm_source", "First UTM source"),
    _own("first_utm_medium", "First UTM medium"),
    _own("first_utm_campaign", "First UTM campaign"),
    _own("first_channel", "First channel"),
    _own("self_reported_source", "Self-reported source"),
    # From the visitor's journey (the site snippet and tracked links), when their bookings carry a visitor id.
    _own("first_touch_source", "First touch source"),
    _own("first_touch_medium", "First touch medium"),
    _own("first_touch_campaign", "First touch campaign"),
    _own("first_touch_landing_page", "First touch landing page"),
    _own("first_touch_at", "First touch at", "datetime", "date"),
    _own("last_touch_source", "Last touch source"),
    _own("last_touch_medium", "Last touch medium"),
    _own("last_touch_campaign", "Last touch campaign"),
    _own("last_touch_channel", "Last touch channel"),
    _own("last_touch_at", "Last touch at", "datetime", "date"),
    _own("touches", "Touches before booking", "number", "number"),
    _own("days_to_booking", "Days from first touch to booking", "number", "number"),
    _own("last_booking_at", "Last booking at", "datetime", "date"),
    _own("bookings_count", "Bookings", "number", "number"),
    # HubSpot's standard fields: a rep's value is kept unless the admin says otherwise.
    Field("first_name", "contacts", "firstname", IF_EMPTY, "First name"),
    Field("last_name", "contacts", "lastname", IF_EMPTY, "Last name"),
    Field("phone", "contacts", "phone", IF_EMPTY, "Phone (Calendly text reminder number)", "string", "phonenumber"),
    Field("owner", "contacts", "hubspot_owner_id", IF_EMPTY, "Contact owner (the Calendly host's HubSpot owner)"),
    # Onto deals: the credited booking's values (attribution.money's credit rule).
    Field("channel", "deals", "sourcebook_channel", ALWAYS, "Channel of the credited booking"),
    Field("source", "deals", "sourcebook_source", ALWAYS, "Source of the credited booking"),
    Field("campaign", "deals", "sourcebook_campaign", ALWAYS, "Campaign of the credited booking"),
]
FIELD_BY_KEY = {(f.object_type, f.key): f for f in FIELDS}
CONTACT_FIELDS = [f for f in FIELDS if f.object_type == "contacts"]
DEAL_FIELDS = [f for f in FIELDS if f.object_type == "deals"]


def _empty(value) -> bool:
    return value is None or str(value).strip() == ""


def properties_mapped(values: dict, rules: list[Rule], current: dict | None) -> dict:
    """HubSpot properties to send from Sourcebook's `values` ({field key: value}, empty ones already left out):
    `never` and a property the portal lacks send nothing; `always` sends; `if_empty` sends only when HubSpot's
    `current` value ({property: value} read in this pass; None: the record does not exist yet) is empty."""
    current = current or {}
    out = {}
    for rule in rules:
        value = values.get(rule.field)
        if _empty(value) or not rule.sendable:
            continue
        if rule.policy == IF_EMPTY and not _empty(current.get(rule.prop)):
            continue
        out[rule.prop] = value
    return out


def properties_to_read(rules: list[Rule]) -> list[str]:
    """The properties whose current HubSpot value decides a write (the `if_empty` ones)."""
    return sorted({r.prop for r in rules if r.policy == IF_EMPTY and r.sendable})
