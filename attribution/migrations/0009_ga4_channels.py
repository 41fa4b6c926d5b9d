"""GA4's default channel group, completed: Cross-network, Paid Shopping, Paid Video, Display, Organic Shopping and
Mobile Push (with a `shopping` source category), added to an existing install beside its own rules.

The data is written out here (a migration never imports today's code). A rule is added only when the install has
no rule for that channel yet; positions fall in the gaps of the seeded rules (multiples of 10), so an install's
own ordering stays as it is. The rules version is bumped so caches reload; `manage.py reattribute` moves past
bookings (see README, Operations).
"""

from django.db import migrations

PAID_MEDIUM = r"^(.*cp.*|ppc|retargeting|paid.*)$"
SHOP_CAMPAIGN = r"^(.*(([^a-df-z]|^)shop|shopping).*)$"
SHOPPING = ["amazon", "ebay", "etsy", "shopify", "walmart", "aliexpress", "mercadolibre", "shopping",
            "google shopping", "shop.app"]
# (position, channel, combine, conditions)
RULES = [
    (22, "Cross-network", "all", {"campaign_regex": "cross-network"}),
    (24, "Paid Shopping", "all", {"source_category": "shopping", "medium_regex": PAID_MEDIUM}),
    (26, "Paid Shopping", "all", {"campaign_regex": SHOP_CAMPAIGN, "medium_regex": PAID_MEDIUM}),
    (44, "Paid Video", "all", {"source_category": "video", "medium_regex": PAID_MEDIUM}),
    (46, "Display", "all", {"medium_values": ["display", "banner", "expandable", "interstitial", "cpm"]}),
    (55, "Organic Shopping", "any", {"source_category": "shopping", "campaign_regex": SHOP_CAMPAIGN}),
    (140, "Mobile Push", "any", {"source_values": ["firebase"], "medium_regex": r"(push$|mobile|notification)"}),
]


def install(apps, schema_editor):
    SourceCategory = apps.get_model("attribution", "SourceCategory")
    ChannelRule = apps.get_model("attribution", "ChannelRule")
    RulesetVersion = apps.get_model("attribution", "RulesetVersion")
    if not ChannelRule.objects.exists():
        return  # no rules at all (an emptied table): the defaults are installed whole, not patched
    SourceCategory.objects.get_or_create(name="shopping", defaults={"sources": SHOPPING})
    categories = {c.name: c for c in SourceCategory.objects.all()}
    present = set(ChannelRule.objects.values_list("channel", flat=True))
    added = 0
    for position, channel, combine, conditions in RULES:
        if channel in present:
            continue
        conditions = dict(conditions)
        category = conditions.pop("source_category", None)
        if category and category not in categories:
            continue  # an install that deleted that category: a rule without it would match far too much
        ChannelRule.objects.create(position=position, channel=channel, combine=combine,
                                   source_category=categories.get(category), **conditions)
        added += 1
    if added:
        version = RulesetVersion.objects.first()
        if version is not None:
            version.version += 1
            version.save()


def remove(apps, schema_editor):
    ChannelRule = apps.get_model("attribution", "ChannelRule")
    for position, channel, _, _ in RULES:
        ChannelRule.objects.filter(position=position, channel=channel).delete()


class Migration(migrations.Migration):
    dependencies = [("attribution", "0008_reattributejob")]
    operations = [migrations.RunPython(install, remove)]
