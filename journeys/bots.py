"""Is this request a person's browser? Crawlers, link scanners and prefetchers are not counted.

Headless Chromium is a browser (`HeadlessChrome/…`): the browser tests and real synthetic users use it.
"""

from __future__ import annotations

import re

# Link unfurlers, mail scanners, crawlers, HTTP libraries. Matched case-insensitively anywhere in the UA.
BOT_UA = re.compile(
    r"bot\b|bot/|crawl|spider|slurp|scan|preview|facebookexternalhit|facebookcatalog|meta-externalagent|"
    r"slackbot|slack-imgproxy|linkedinbot|twitterbot|whatsapp/|telegrambot|discordbot|skypeuripreview|embedly|"
    r"iframely|microsoft office|ms-office|msoffice|safelinks|protection\.outlook|mimecast|proofpoint|barracuda|"
    r"urldefense|google-safety|google-inspectiontool|googleother|feedfetcher|"
    r"curl/|wget/|python-requests|python-urllib|httpx|go-http-client|java/|okhttp|libwww|scrapy|"
    r"phantomjs|lighthouse|pingdom|uptimerobot|statuscake|datadog|newrelic|check_http",
    re.IGNORECASE,
)
PREFETCH_HEADERS = (("HTTP_SEC_PURPOSE", "prefetch"), ("HTTP_PURPOSE", "prefetch"), ("HTTP_X_PURPOSE", "preview"),
                    ("HTTP_X_MOZ", "prefetch"))


def is_bot(*, method: str, user_agent: str, meta: dict | None = None) -> bool:
    """HEAD, no user agent, a known crawler/scanner UA, or a prefetch/preview request."""
    if method.upper() == "HEAD":
        return True
    if not user_agent or not user_agent.strip():
        return True
    if BOT_UA.search(user_agent):
        return True
    meta = meta or {}
    return any(value in (meta.get(header) or "").lower() for header, value in PREFETCH_HEADERS)
