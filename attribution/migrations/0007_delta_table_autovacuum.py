from django.db import migrations


class Migration(migrations.Migration):
    """The delta table is a queue: every booking change appends rows, compaction deletes them all
    every 10 s. With default settings autovacuum waits for 20 % of a near-empty table to be dead,
    so after a bulk change (reattribute, backfill) reports scanned hundreds of MB of dead rows."""

    dependencies = [("attribution", "0006_rollup_backfill")]

    operations = [
        migrations.RunSQL(
            "ALTER TABLE attribution_dailystatdelta SET (autovacuum_vacuum_scale_factor = 0,"
            " autovacuum_vacuum_threshold = 5000, autovacuum_vacuum_cost_delay = 0)",
            "ALTER TABLE attribution_dailystatdelta RESET (autovacuum_vacuum_scale_factor,"
            " autovacuum_vacuum_threshold, autovacuum_vacuum_cost_delay)",
        ),
    ]
