"""Every write to deliveries and bookings, split by concern (a booking is derived, never edited by hand):

- intake.py         the webhook path: record, verify, derive in one commit; replay, stuck sweep, purge
- fold.py           a booking as the fold of its deliveries; reschedule links; one booking's reattribute
- changes.py        the seam every booking change goes through: lock order, sync state, HubSpot outbox
- backfill.py       history from the Calendly API (resumable), and the event fetch for older payloads
- subscriptions.py  Calendly webhook subscriptions: create, list, check (recorded for /healthz), repair

Nothing here imports a tasks module: work for a worker is enqueued by task name (`bookings/enqueue.py`,
`hubspot_sync/enqueue.py`).
"""
