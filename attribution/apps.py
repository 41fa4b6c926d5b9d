from django.apps import AppConfig
from django.core import checks

from attribution.patterns import PatternError, pattern_compile


class AttributionConfig(AppConfig):
    name = "attribution"
    verbose_name = "Attribution"

    def ready(self):
        checks.register(settings_patterns_check)


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
