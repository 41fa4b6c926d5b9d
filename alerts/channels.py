"""The one boundary to apprise: validate and mask a destination's URL, and send one message through it.

Each apprise plugin says which body formats it takes, best first: e-mail gets the HTML body (apprise adds the
plain-text part), Slack and Teams the Markdown (Slack as Block Kit blocks), webhooks the plain text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import escape
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import apprise
from apprise import NotifyFormat


class DestinationError(ValueError):
    """The URL is not one apprise can send to."""


class DeliveryFailed(Exception):
    """apprise tried and the service refused, or could not be reached; the message says what apprise logged."""


@dataclass(frozen=True)
class Message:
    subject: str
    text: str
    markdown: str = ""
    html: str = ""


# What could make a value markup: Slack's <!channel>/<url|label> and CommonMark's links, emphasis and code. An
# underscore inside a word (brand_search_2026) is no emphasis in either and stays as it is, for readability.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*~\[\]<>])|(?<![^\W_])_|_(?![^\W_])")


def markdown_literal(text: str) -> str:
    """`text` as literal Markdown: no emphasis, link, mention or code (each special character backslashed)."""
    return _MARKDOWN_SPECIAL.sub(lambda m: "\\" + m.group(0), text)


SLACK_DEFAULTS = (("blocks", "yes"), ("footer", "no"), ("image", "no"))
# Slack refuses the whole message (invalid_blocks) when its header block's text is longer than this; apprise
# HTML-escapes the title into it (& → &amp;) and does not cut it.
SLACK_HEADER_LIMIT = 150


def _slack_header(title: str) -> str:
    """The longest start of `title` (cut with …) that stays within Slack's header limit once apprise escapes it."""
    if len(escape(title, quote=False)) <= SLACK_HEADER_LIMIT:
        return title
    cut = title[:SLACK_HEADER_LIMIT - 1]
    while len(escape(cut, quote=False)) > SLACK_HEADER_LIMIT - 1:
        cut = cut[:-1]
    return cut.rstrip() + "…"


def _plugin(url: str):
    plugin = apprise.Apprise.instantiate(url.strip(), suppress_exceptions=True)
    if not plugin:
        raise DestinationError(
            "Not a URL apprise can send to. Examples: slack://TokenA/TokenB/TokenC, "
            "workflows://host/workflow/signature (Microsoft Teams), mailtos://user:password@smtp.example.com?to=you@example.com, "
            "json://hooks.example.com/path")
    return plugin


def normalize(url: str) -> str:
    """The URL as stored: validated; Slack switched to Block Kit without apprise's logo and footer (unless the
    user chose otherwise in the URL)."""
    url = url.strip()
    plugin = _plugin(url)
    if type(plugin).__name__ == "NotifySlack":
        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        given = {k for k, _ in query}
        extra = [(k, v) for k, v in SLACK_DEFAULTS if k not in given]
        url = urlunsplit(parts._replace(query=urlencode([*query, *extra])))
    return url


# Generic webhooks, whose secret is often the path itself (…/hooks/catch/123/<token>/): apprise shows their paths.
GENERIC_WEBHOOKS = {"NotifyJSON", "NotifyXML", "NotifyForm"}


def _elide(segment: str) -> str:
    return f"{segment[0]}...{segment[-1]}" if len(segment) > 2 else segment


def masked(url: str) -> str:
    """apprise's privacy form (tokens and passwords elided), without its default parameters; a generic webhook's
    path segments elided too."""
    try:
        plugin = _plugin(url)
    except DestinationError:
        return "(invalid URL)"
    shown = plugin.url(privacy=True).split("?", 1)[0]
    if type(plugin).__name__ in GENERIC_WEBHOOKS:
        parts = urlsplit(shown)
        shown = urlunsplit(parts._replace(path="/".join(_elide(s) for s in parts.path.split("/"))))
    return shown


def kind(url: str) -> str:
    try:
        return _plugin(url).service_name
    except DestinationError:
        return "invalid"


def _formats(plugin) -> tuple:
    formats = plugin.notify_format
    return formats if isinstance(formats, tuple) else (formats,)


def deliver(url: str, message: Message) -> None:
    """Send now (blocking, apprise's own timeouts); raise DeliveryFailed with apprise's log on failure."""
    plugin = _plugin(url)
    preferred = _formats(plugin)[0]
    if preferred == NotifyFormat.HTML and message.html:
        body, body_format = message.html, NotifyFormat.HTML
    elif preferred == NotifyFormat.MARKDOWN and message.markdown:
        body, body_format = message.markdown, NotifyFormat.MARKDOWN
    else:
        body, body_format = message.text, NotifyFormat.TEXT
    title = message.subject
    if type(plugin).__name__ == "NotifySlack" and plugin.use_blocks:
        title = _slack_header(title)
    elif type(plugin).__name__ == "NotifyWorkflows":  # Teams' card title is Markdown: a campaign in it stays literal
        title = markdown_literal(title)
    with apprise.LogCapture(level=apprise.logging.WARNING) as log:
        ok = plugin.notify(body=body, title=title, body_format=body_format)
        logged = log.getvalue().strip()
    if not ok:
        raise DeliveryFailed(logged[-1000:] or f"{plugin.service_name} refused the message")
