from django.db import migrations


def install(apps, schema_editor):
    from attribution.services import defaults_install

    defaults_install(
        alias_model=apps.get_model("attribution", "Alias"),
        category_model=apps.get_model("attribution", "SourceCategory"),
        banned_model=apps.get_model("attribution", "BannedValue"),
        rule_model=apps.get_model("attribution", "ChannelRule"),
        version_model=apps.get_model("attribution", "RulesetVersion"),
    )


class Migration(migrations.Migration):
    dependencies = [("attribution", "0001_initial")]
    operations = [migrations.RunPython(install, migrations.RunPython.noop)]
