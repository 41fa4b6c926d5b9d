from django.apps import AppConfig
from django.core import checks
from django.db.models.signals import post_migrate

from attribution.patterns import PatternError, pattern_compile


class AttributionConfig(AppConfig):
    name = "attribution"
    verbose_name = "Attribution"

    def ready(self):
        checks.register(settings_patterns_check)
        post_migrate.connect(rollup_time_zone_follow, sender=self)


def rollup_time_zone_follow(app_config, verbosity=1, **kwargs):
    """After `migrate`: a rollup counted in another time zone than SOURCEBOOK_TIME_ZONE is rebuilt, so the
    dashboard's days and the settings agree (the README's upgrade step; `make run` migrates on every start)."""
    from attribution.rollup import rollup_rebuild, rollup_time_zone  # noqa: PLC0415 -- models aren't ready at import

    from django.conf import settings

    stored = rollup_time_zone()
    if stored == settings.TIME_ZONE:
        return
    if verbosity:
        print(f"The report rollup is in {stored or 'an unrecorded time zone'}; rebuilding it in {settings.TIME_ZONE} …")
    rollup_rebuild()


def settings_patterns_check(app_configs=None, **kwargs):
    """The pattern settings run on RE2 against untrusted text: refuse one RE2 can't compile at start-up."""
    from django.conf import settings

    errors = []
    for name in ("SELF_REPORTED_QUESTION_PATTERN", "UTM_CAMPAIGN_PATTERN"):
        if not getattr(settings, name):
            continue  # empty: the built-in pattern
        try:
            pattern_compile(getattr(settings, name))
        except PatternError as exc:
            errors.append(checks.Error(f"{name} is not a valid RE2 pattern ({exc}); no backreferences or lookaround.",
                                       id="attribution.E001"))
    return errors
