"""HubSpot sync business logic, split by sub-domain:

- outbox.py      rows written with every booking change; claim / finish / sweep
- payloads.py    what we send: contact properties, meeting properties
- connection.py  which token to use; OAuth refresh with optimistic concurrency
- sync.py        one batch: claim → HTTP (rate-limited) → record outcome
- setup.py       property group and properties in the portal
- deal_read.py   deals of contacts that booked, read back (windowed search, associations, archived)
"""
