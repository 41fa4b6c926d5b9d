"""Optional deal rules: a booking of a configured event type creates or advances a deal.

Guards: only configured event types, never move a deal backwards, skip when the contact
already has an open deal at or past the target stage. Stage order comes from the pipelines API.
"""

from __future__ import annotations

import logging

from bookings.counting import is_countable
from hubspot_sync.client import HubSpotError
from hubspot_sync.models import DealRule

logger = logging.getLogger("sourcebook.hubspot")


def _stage_order(pipelines: list[dict]) -> dict:
    """(pipeline id, stage id) → (display order, is closed)."""
    order = {}
    for pipeline in pipelines:
        for stage in pipeline.get("stages", []):
            closed = str((stage.get("metadata") or {}).get("isClosed", "false")).lower() == "true"
            order[(pipeline["id"], stage["id"])] = (stage.get("displayOrder", 0), closed)
    return order


def deals_apply(*, client, bookings, contact_ids: dict, report) -> None:
    rules = {r.event_type_name: r for r in DealRule.objects.filter(enabled=True)}
    candidates = [b for b in bookings if b.event_type_name in rules and b.status == "active" and is_countable(b)]
    if not candidates:
        return
    try:
        report.requests += 1
        order = _stage_order(client.pipelines("deals"))
        for booking in candidates:
            rule = rules[booking.event_type_name]
            contact_id = contact_ids.get(booking.email)
            target = order.get((rule.pipeline_id, rule.stage_id))
            if not contact_id or target is None:
                continue
            report.requests += 1
            deals = [d for d in client.deals_for_contact(contact_id)
                     if (d.get("properties") or {}).get("pipeline") == rule.pipeline_id]
            open_deals = []
            for deal in deals:
                stage = order.get((rule.pipeline_id, (deal.get("properties") or {}).get("dealstage")), (0, False))
                if not stage[1]:
                    open_deals.append((stage[0], deal))
            if any(position >= target[0] for position, _ in open_deals):
                continue  # already there or further along: never move backwards
            report.requests += 1
            if open_deals:
                _, deal = max(open_deals, key=lambda pd: pd[0])
                client.deal_update(str(deal["id"]), {"dealstage": rule.stage_id})
            else:
                name = rule.deal_name_template.format(name=booking.name or booking.email, event_type=booking.event_type_name)
                client.deal_create({"dealname": name, "pipeline": rule.pipeline_id, "dealstage": rule.stage_id}, contact_id)
    except HubSpotError as exc:
        # The meeting and contact are synced; a deal rule failure is logged, not retried in a loop.
        logger.warning("deal rule failed: %s", exc.message)
        report.errors.append(f"deal: {exc.message}")
