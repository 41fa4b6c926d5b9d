# Journey attribution (issue 13): first / last non-direct touch, the touch count, who attributed the booking,
# and an index to find a visitor's bookings when a touch arrives after them. Existing manual assignments say so.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('bookings', '0011_privacy_suppression'),
    ]

    operations = [
        migrations.AddField(
            model_name='booking',
            name='attributed_by',
            field=models.CharField(choices=[('booking', 'Booking'), ('journey', 'Journey'), ('manual', 'Manual')], db_default='booking', default='booking', max_length=16),
        ),
        migrations.AddField(
            model_name='booking',
            name='first_touch_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='booking',
            name='first_touch_campaign',
            field=models.CharField(blank=True, db_default='', default='', max_length=255),
        ),
        migrations.AddField(
            model_name='booking',
            name='first_touch_channel',
            field=models.CharField(blank=True, db_default='', default='', max_length=64),
        ),
        migrations.AddField(
            model_name='booking',
            name='first_touch_medium',
            field=models.CharField(blank=True, db_default='', default='', max_length=255),
        ),
        migrations.AddField(
            model_name='booking',
            name='first_touch_source',
            field=models.CharField(blank=True, db_default='', default='', max_length=255),
        ),
        migrations.AddField(
            model_name='booking',
            name='last_touch_at',
            field=models.DateTimeField(blank=True, help_text='The last non-direct touch.', null=True),
        ),
        migrations.AddField(
            model_name='booking',
            name='last_touch_campaign',
            field=models.CharField(blank=True, db_default='', default='', max_length=255),
        ),
        migrations.AddField(
            model_name='booking',
            name='last_touch_channel',
            field=models.CharField(blank=True, db_default='', default='', max_length=64),
        ),
        migrations.AddField(
            model_name='booking',
            name='last_touch_medium',
            field=models.CharField(blank=True, db_default='', default='', max_length=255),
        ),
        migrations.AddField(
            model_name='booking',
            name='last_touch_source',
            field=models.CharField(blank=True, db_default='', default='', max_length=255),
        ),
        migrations.AddField(
            model_name='booking',
            name='touch_count',
            field=models.PositiveIntegerField(db_default=0, default=0),
        ),
        migrations.AddIndex(
            model_name='booking',
            index=models.Index(condition=models.Q(('visitor_id', ''), _negated=True), fields=['visitor_id'], name='booking_visitor_id'),
        ),
        migrations.RunSQL(
            "UPDATE bookings_booking SET attributed_by = 'manual' WHERE manual_utm IS NOT NULL"
            " AND manual_utm <> 'null'::jsonb",
            reverse_sql=migrations.RunSQL.noop,
        ),
    ]
