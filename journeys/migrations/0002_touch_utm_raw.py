# A touch keeps its UTMs as received, so a booking's fold can recompute its channel with the current rules (issue 13).

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('journeys', '0001_initial'),
    ]

    operations = [
        migrations.AddField(
            model_name='touch',
            name='utm_raw',
            field=models.JSONField(blank=True, db_default={}, default=dict, help_text="The UTM values as received (our visitor id left out): a booking's fold recomputes the touch's channel from them with the current rules."),
        ),
    ]
