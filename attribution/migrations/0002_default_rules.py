"""Seed the default rules. The data is frozen here as it was when this migration was written:
later edits of attribution/defaults.py must not change what an old migration does."""

from django.db import migrations

SOURCE_ALIASES = {'facebook': ['fb', 'facebook.com', 'm.facebook.com', 'l.facebook.com', 'www.facebook.com'],
 'linkedin': ['lnkd.in', 'linkedin.com', 'www.linkedin.com'],
 'twitter': ['t.co', 'x', 'x.com', 'twitter.com'],
 'chatgpt': ['chat.openai.com', 'chatgpt.com', 'openai'],
 'perplexity': ['perplexity.ai', 'www.perplexity.ai'],
 'claude': ['claude.ai'],
 'gemini': ['gemini.google.com', 'bard'],
 'hackernews': ['news.ycombinator.com', 'hn'],
 'devto': ['dev.to'],
 'medium': ['medium.com'],
 'reddit': ['reddit.com', 'old.reddit.com', 'www.reddit.com'],
 'google': ['google.com', 'www.google.com']}

SOURCE_CATEGORIES = {'search': ['google', 'bing', 'duckduckgo', 'yahoo', 'baidu', 'yandex', 'ecosia', 'brave', 'kagi'],
 'social': ['facebook',
            'instagram',
            'linkedin',
            'twitter',
            'reddit',
            'quora',
            'medium',
            'devto',
            'hackernews',
            'pinterest',
            'threads',
            'bluesky',
            'mastodon',
            'slack',
            'discord',
            'whatsapp',
            'telegram'],
 'ai': ['chatgpt',
        'perplexity',
        'claude',
        'gemini',
        'copilot',
        'deepseek',
        'grok',
        'you.com',
        'phind',
        'meta-ai',
        'mistral'],
 'video': ['youtube', 'vimeo', 'tiktok']}

BANNED_VALUES = ['website', 'na', 'n/a', 'none', 'test']

CHANNEL_RULES = [('Direct', 'all', {'source_values': ['(direct)'], 'note': 'Untagged bookings (built in: always Direct).'}),
 ('AI Assistants', 'all', {'source_category': 'ai'}),
 ('Paid Search', 'all', {'source_category': 'search', 'medium_regex': '^(.*cp.*|ppc|retargeting|paid.*)$'}),
 ('Paid Social', 'all', {'source_category': 'social', 'medium_regex': '^(.*cp.*|ppc|retargeting|paid.*)$'}),
 ('Paid Other', 'all', {'medium_regex': '^(.*cp.*|ppc|retargeting|paid.*)$'}),
 ('Organic Social',
  'any',
  {'source_category': 'social',
   'medium_values': ['social', 'social-network', 'social-media', 'sm', 'social network', 'social media']}),
 ('Organic Video', 'any', {'source_category': 'video', 'medium_regex': 'video'}),
 ('Organic Search', 'any', {'source_category': 'search', 'medium_values': ['organic']}),
 ('Email',
  'any',
  {'source_values': ['email', 'e-mail', 'e_mail', 'e mail', 'newsletter'],
   'medium_values': ['email', 'e-mail', 'e_mail', 'e mail', 'newsletter']}),
 ('Affiliates', 'all', {'medium_values': ['affiliate']}),
 ('Referral', 'all', {'medium_values': ['referral', 'app', 'link']}),
 ('Audio', 'all', {'medium_values': ['audio', 'podcast']}),
 ('SMS', 'any', {'source_values': ['sms'], 'medium_values': ['sms']})]


def install(apps, schema_editor):
    Alias = apps.get_model("attribution", "Alias")
    SourceCategory = apps.get_model("attribution", "SourceCategory")
    BannedValue = apps.get_model("attribution", "BannedValue")
    ChannelRule = apps.get_model("attribution", "ChannelRule")
    RulesetVersion = apps.get_model("attribution", "RulesetVersion")
    for canonical, spellings in SOURCE_ALIASES.items():
        for spelling in spellings:
            Alias.objects.get_or_create(field="source", value=spelling, defaults={"canonical": canonical})
    categories = {}
    for name, sources in SOURCE_CATEGORIES.items():
        categories[name], _ = SourceCategory.objects.get_or_create(name=name, defaults={"sources": sources})
    for value in BANNED_VALUES:
        BannedValue.objects.get_or_create(value=value, defaults={"reason": "placeholder value"})
    if not ChannelRule.objects.exists():
        for position, (channel, combine, conditions) in enumerate(CHANNEL_RULES, start=1):
            conditions = dict(conditions)
            category = conditions.pop("source_category", None)
            ChannelRule.objects.create(position=position * 10, channel=channel, combine=combine,
                                       source_category=categories.get(category), **conditions)
    if not RulesetVersion.objects.exists():
        RulesetVersion.objects.create(version=1)


class Migration(migrations.Migration):
    dependencies = [("attribution", "0001_initial")]
    operations = [migrations.RunPython(install, migrations.RunPython.noop)]
