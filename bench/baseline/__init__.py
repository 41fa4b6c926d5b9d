"""A minimal DRF webhook receiver to compare Sourcebook against (`bench/ingest.py --baseline`)."""

TABLES = [
    "CREATE TABLE IF NOT EXISTS baseline_delivery (id bigserial PRIMARY KEY, received_at timestamptz NOT NULL"
    " DEFAULT now(), event text NOT NULL, invitee_uri text NOT NULL, body bytea NOT NULL)",
    "CREATE TABLE IF NOT EXISTS baseline_booking (invitee_uri text PRIMARY KEY, event text NOT NULL,"
    " updated_at timestamptz NOT NULL DEFAULT now())",
]
