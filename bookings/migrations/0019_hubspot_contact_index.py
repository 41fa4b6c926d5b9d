from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    """The deal read looks up the bookings of a deal's contacts by HubSpot contact id, one search page at a time:
    without an index each page scanned every booking. Built concurrently: webhooks keep writing meanwhile."""

    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [
        ('bookings', '0018_booking_phone_host'),
    ]

    operations = [
        AddIndexConcurrently(
            model_name='booking',
            index=models.Index(condition=models.Q(('hubspot_contact_id', ''), _negated=True), fields=['hubspot_contact_id'], name='booking_hubspot_contact'),
        ),
    ]
