"""The (direct) backlog's list: a partial index on (booked_at, id) of countable Direct bookings, built
CONCURRENTLY so webhooks keep writing while it is made (minutes at 10M bookings)."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ('bookings', '0015_upcoming_index'),
    ]

    operations = [
        AddIndexConcurrently(
            model_name='booking',
            index=models.Index(condition=models.Q(('booked_at__isnull', False), ('channel', 'Direct'), ('rescheduled', False)),
                               fields=['booked_at', 'id'], name='booking_direct_backlog'),
        ),
    ]
