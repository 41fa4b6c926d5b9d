"""Indexes for the bookings admin's search (bookings/selectors.py booking_search), built without locking writes.

- booking_email_lower: lower(email) text_pattern_ops, for an email or its start (`LIKE 'ada@acme.com%'`);
- booking_name_lower: lower(name) text_pattern_ops, for a name's start;
- booking_email_domain: lower(split_part(email, '@', 2)), for everyone at a domain (`@acme.com`).

CONCURRENTLY: the webhook keeps writing while they build (at 10M bookings on the bench machine: see
bench/README.md "Sales admin at 1M and 10M"). ANALYZE afterwards: statistics of an expression index exist only
after it, and without them the planner guesses a domain matches 0.5 % of all bookings and scans by date.
The SQL is written out here (no app code imported), and the indexes are not in Booking.Meta.indexes: the
domain expression must stay exactly as bookings.selectors.EmailDomain writes it.
"""

from django.db import migrations

INDEXES = {
    "booking_email_lower": "(lower(email) text_pattern_ops)",
    "booking_name_lower": "(lower(name) text_pattern_ops)",
    "booking_email_domain": "(lower(split_part(email, '@', 2)))",
}


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [
        ("bookings", "0016_booking_direct_backlog"),
    ]

    operations = [
        *[
            migrations.RunSQL(
                # IF NOT EXISTS: a build interrupted half-way leaves an INVALID index; drop it and migrate again.
                f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON bookings_booking {expression}",
                f"DROP INDEX CONCURRENTLY IF EXISTS {name}",
            )
            for name, expression in INDEXES.items()
        ],
        migrations.RunSQL("ANALYZE bookings_booking", migrations.RunSQL.noop),
    ]
