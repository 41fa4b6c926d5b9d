"""Default rules, seeded by a data migration and editable in the admin afterwards."""

SOURCE_ALIASES = {
    "facebook": ["fb", "facebook.com", "m.facebook.com", "l.facebook.com", "www.facebook.com"],
    "linkedin": ["lnkd.in", "linkedin.com", "www.linkedin.com"],
    "twitter": ["t.co", "x", "x.com", "twitter.com"],
    "chatgpt": ["chat.openai.com", "chatgpt.com", "openai"],
    "perplexity": ["perplexity.ai", "www.perplexity.ai"],
    "claude": ["claude.ai"],
    "gemini": ["gemini.google.com", "bard"],
    "hackernews": ["news.ycombinator.com", "hn"],
    "devto": ["dev.to"],
    "medium": ["medium.com"],
    "reddit": ["reddit.com", "old.reddit.com", "www.reddit.com"],
    "google": ["google.com", "www.google.com"],
}

SOURCE_CATEGORIES = {
    "search": ["google", "bing", "duckduckgo", "yahoo", "baidu", "yandex", "ecosia", "brave", "kagi"],
    "social": [
        "facebook", "instagram", "linkedin", "twitter", "reddit", "quora", "medium", "devto", "hackernews",
        "pinterest", "threads", "bluesky", "mastodon", "slack", "discord", "whatsapp", "telegram",
    ],
    "ai": ["chatgpt", "perplexity", "claude", "gemini", "copilot", "deepseek", "grok", "you.com", "phind", "meta-ai", "mistral"],
    "video": ["youtube", "vimeo", "tiktok"],
    # GA4's shopping sites (Paid / Organic Shopping)
    "shopping": ["amazon", "ebay", "etsy", "shopify", "walmart", "aliexpress", "mercadolibre", "shopping",
                 "google shopping", "shop.app"],
}

BANNED_VALUES = ["website", "na", "n/a", "none", "test"]

PAID_MEDIUM = r"^(.*cp.*|ppc|retargeting|paid.*)$"
SHOP_CAMPAIGN = r"^(.*(([^a-df-z]|^)shop|shopping).*)$"  # GA4's shopping campaign pattern

# (channel, combine, conditions) in evaluation order; first match wins.
CHANNEL_RULES = [
    ("Direct", "all", {"source_values": ["(direct)"], "note": "Untagged bookings (built in: always Direct)."}),
    ("AI Assistants", "all", {"source_category": "ai"}),
    ("Cross-network", "all", {"campaign_regex": "cross-network"}),
    ("Paid Shopping", "all", {"source_category": "shopping", "medium_regex": PAID_MEDIUM}),
    ("Paid Shopping", "all", {"campaign_regex": SHOP_CAMPAIGN, "medium_regex": PAID_MEDIUM}),
    ("Paid Search", "all", {"source_category": "search", "medium_regex": PAID_MEDIUM}),
    ("Paid Social", "all", {"source_category": "social", "medium_regex": PAID_MEDIUM}),
    ("Paid Video", "all", {"source_category": "video", "medium_regex": PAID_MEDIUM}),
    ("Display", "all", {"medium_values": ["display", "banner", "expandable", "interstitial", "cpm"]}),
    ("Paid Other", "all", {"medium_regex": PAID_MEDIUM}),
    ("Organic Shopping", "any", {"source_category": "shopping", "campaign_regex": SHOP_CAMPAIGN}),
    ("Organic Social", "any", {"source_category": "social",
                               "medium_values": ["social", "social-network", "social-media", "sm", "social network", "social media"]}),
    ("Organic Video", "any", {"source_category": "video", "medium_regex": "video"}),
    ("Organic Search", "any", {"source_category": "search", "medium_values": ["organic"]}),
    ("Email", "any", {"source_values": ["email", "e-mail", "e_mail", "e mail", "newsletter"],
                      "medium_values": ["email", "e-mail", "e_mail", "e mail", "newsletter"]}),
    ("Affiliates", "all", {"medium_values": ["affiliate"]}),
    ("Referral", "all", {"medium_values": ["referral", "app", "link"]}),
    ("Audio", "all", {"medium_values": ["audio", "podcast"]}),
    ("SMS", "any", {"source_values": ["sms"], "medium_values": ["sms"]}),
    ("Mobile Push", "any", {"source_values": ["firebase"], "medium_regex": r"(push$|mobile|notification)"}),
]

SELF_REPORTED_QUESTION_PATTERN = r"(how|where) (did|do) you (hear|find|learn)|referred by|hear about us"
