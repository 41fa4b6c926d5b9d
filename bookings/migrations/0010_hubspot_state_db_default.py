# A new booking row starts pending without anyone writing it (the seam, bookings/services/changes.py, is the only writer).

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('bookings', '0009_backfill_failure'),
    ]

    operations = [
        migrations.AlterField(
            model_name='booking',
            name='hubspot_state',
            field=models.CharField(choices=[('pending', 'Pending'), ('synced', 'Synced'), ('failed', 'Failed'), ('skipped', 'skipped (dry run)')], db_default='pending', default='pending', max_length=16),
        ),
    ]
