"""Write the credited booking's channel, source and campaign onto HubSpot deals, as the field mapping allows.

Which booking a deal is credited to is attribution's rule (attribution.money); attribution computes the values and
calls `deals_credit_write` (hubspot_sync never imports attribution: attribution -> hubspot_sync is the one arrow).
Per batch of ≤ 100 deals: one batch read of the mapped properties' current values (the only-if-empty policy, and
to leave unchanged values alone: a write moves the deal's hs_lastmodifieddate, and the deal read would read it again,
so writing the same value each time would never settle), then one batch update of what differs. Every request goes
through the shared rate limiter. A mapped property the portal lacks is marked "not set up" and left out.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from hubspot_sync.client import MAX_BATCH, HubSpotClient, HubSpotError, missing_properties
from hubspot_sync.mapping import properties_mapped
from hubspot_sync.selectors import mapping_rules
from hubspot_sync.services.connection import connection_mode
from hubspot_sync.services.mapping import mapping_mark_missing
from hubspot_sync.services.sync import hubspot_client

logger = logging.getLogger("sourcebook.hubspot")


@dataclass
class DealWriteReport:
    deals: int = 0  # credited deals considered
    written: int = 0  # deals updated in HubSpot
    unchanged: int = 0  # HubSpot already holds these values (or a rep's, under only-if-empty)
    gone: int = 0  # deleted in HubSpot since the read
    requests: int = 0
    not_set_up: list = field(default_factory=list)
    error: str = ""


def deals_credit_write(*, credits: dict[str, dict], client: HubSpotClient | None = None) -> DealWriteReport:
    """`credits`: {HubSpot deal id: {"channel": ..., "source": ..., "campaign": ...}} of the credited bookings."""
    report = DealWriteReport(deals=len(credits))
    rules = [r for r in mapping_rules("deals") if r.sendable]
    if not credits or not rules:
        return report
    if client is None and connection_mode() == "dry_run":
        report.error = "dry run (no HubSpot credentials)"
        return report
    own = client is None
    if own:
        client = hubspot_client()
    ids = sorted(credits)
    try:
        for start in range(0, len(ids), MAX_BATCH):
            _write_chunk(client, ids[start:start + MAX_BATCH], credits, rules, report)
            rules = [r for r in rules if r.prop not in report.not_set_up]
            if not rules:
                break
    except HubSpotError as exc:  # the next deal read tries again (every 15 minutes): nothing is lost
        report.error = f"{exc.kind}: {exc.message}"
        logger.warning("writing credited values onto deals failed: %s", report.error)
    finally:
        if own:
            client.close()
    return report


def _write_chunk(client, ids: list[str], credits: dict, rules, report: DealWriteReport) -> None:
    report.requests += 1
    current = client.deals_batch_read(ids, sorted({r.prop for r in rules}))
    report.gone += len([i for i in ids if i not in current])
    inputs = []
    for deal_id in ids:
        if deal_id not in current:
            continue
        wanted = properties_mapped(credits[deal_id], rules, current[deal_id])
        changed = {k: v for k, v in wanted.items() if str(current[deal_id].get(k) or "") != str(v)}
        if changed:
            inputs.append({"id": deal_id, "properties": changed})
        else:
            report.unchanged += 1
    while inputs:
        try:
            report.requests += 1
            client.deals_batch_update(inputs)
            report.written += len(inputs)
            return
        except HubSpotError as exc:
            missing = missing_properties(exc)
            if missing:
                mapping_mark_missing(object_type="deals", properties=missing)
                report.not_set_up = sorted(set(report.not_set_up) | missing)
                inputs = [{**i, "properties": {k: v for k, v in i["properties"].items() if k not in missing}} for i in inputs]
                inputs = [i for i in inputs if i["properties"]]
                continue
            gone = {str(i) for i in ((exc.body or {}).get("context") or {}).get("ids") or []} if exc.kind == "not_found" \
                and isinstance(exc.body, dict) else set()
            if gone:  # deleted between the read and the update
                report.gone += len(gone)
                inputs = [i for i in inputs if i["id"] not in gone]
                continue
            raise
