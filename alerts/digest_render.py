"""The weekly digest as a message: plain text (the dry run, webhooks), Markdown (Slack blocks through apprise,
Teams) and an HTML e-mail (`templates/alerts/digest_email.html`). Pure: no reads.

Campaign names, sources and event types are whatever a link or a booking said, so every such value is cleaned
before any format sees it (`clean`: control characters — NUL, newlines, bidi overrides — become spaces, long
values are cut), then escaped for its format: Markdown's markup characters are backslash-escaped (apprise turns
`\\<` into Slack's `&lt;`, so `<!channel>` stays text, and `*bold*` stays literal), HTML by the template's autoescape.
"""

from __future__ import annotations

from django.template.loader import render_to_string

from alerts.channels import Message, markdown_literal
from alerts.digest import Change, Digest
from attribution.periods import DATE_FORMAT

VALUE_LENGTH = 60  # characters of a campaign name (source, ...) shown; the dashboard has the whole value
CHANNEL_ROWS = 12  # channels listed; the rest are summed in one line
FINDINGS = 8  # new hygiene findings listed; the hygiene page has all of them
# A Slack section block holds at most 3000 characters of text: a longer Markdown body is cut at a line.
MARKDOWN_LIMIT = 2900
KINDS = {"unassigned": "New Unassigned", "banned": "Banned value", "collision": "Spelling collision"}


def clean(value, limit: int = VALUE_LENGTH) -> str:
    """A user-controlled value safe to show anywhere: printable characters only, spaces collapsed, at most
    `limit` characters (cut with …)."""
    text = "".join(ch if ch.isprintable() else " " for ch in str(value))
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def md(value, limit: int = VALUE_LENGTH) -> str:
    """A user-controlled value as literal Markdown text (no emphasis, link, mention or code)."""
    return markdown_literal(clean(value, limit))


def change_label(change: Change) -> str:
    """"+5 (+12%)", "−3 (−50%)", "±0", "+2 (new)" (nothing the week before)."""
    if change.delta == 0:
        return "±0"
    if not change.before:
        return f"+{change.delta} (new)"
    sign = "+" if change.delta > 0 else "−"
    return f"{sign}{abs(change.delta)} ({sign}{abs(change.pct) * 100:.0f}%)"


def _subject(d: Digest) -> str:
    return (f"Sourcebook weekly digest, {d.week.label}: {d.bookings.now} booking{'s' if d.bookings.now != 1 else ''},"
            f" {change_label(d.bookings)} on the week before")


def _days(d: Digest) -> int | None:
    return (d.week.end - d.oldest_untagged).days if d.oldest_untagged else None


def _context(d: Digest) -> dict:
    """What every format shows, values cleaned (the template escapes them again as HTML)."""
    shown = d.channels[:CHANNEL_ROWS]
    rest = d.channels[CHANNEL_ROWS:]
    return {
        "d": d, "subject": _subject(d),
        "channels": [{"name": clean(r.name), "now": r.change.now, "before": r.change.before,
                      "change": change_label(r.change)} for r in shown],
        "other_channels": (len(rest), sum(r.change.now for r in rest), sum(r.change.before for r in rest)) if rest else None,
        "campaigns": [{"name": clean(r.name), "now": r.change.now, "before": r.change.before,
                       "change": change_label(r.change)} for r in d.campaigns],
        "findings": [{"kind": KINDS[f.kind], "label": clean(f.label, 2 * VALUE_LENGTH), "bookings": f.bookings}
                     for f in d.findings[:FINDINGS]],
        "more_findings": max(0, len(d.findings) - FINDINGS),
        "oldest": d.oldest_untagged.strftime(DATE_FORMAT) if d.oldest_untagged else "",
        "oldest_days": _days(d), "oldest_event_type": clean(d.oldest_untagged_event_type),
        "no_show_rate": f"{d.no_show / (d.held + d.no_show) * 100:.0f}%" if d.held + d.no_show else "–",
        "total_change": change_label(d.bookings),
    }


def _money_lines(d: Digest) -> list[str]:
    m = d.money
    lines = [f"Deals credited to the week's bookings: {m.deals} ({m.won} won)",
             f"Pipeline: {m.pipeline}", f"Revenue (won): {m.revenue}"]
    if m.mixed:
        lines.append("Deals in several currencies without HubSpot exchange rates: shown per currency, never summed.")
    return [clean(line, 200) for line in lines]  # currency codes are HubSpot's


def render_text(d: Digest) -> str:
    c = _context(d)
    out = [c["subject"], ""]
    if d.running:
        out += ["(This week is still running: its numbers will grow.)", ""]
    out += [f"BOOKINGS BY CHANNEL ({d.bookings.now}, week before {d.bookings.before}, {c['total_change']})"]
    out += [f"  {r['name']}: {r['now']} (week before {r['before']}, {r['change']})" for r in c["channels"]] or ["  No bookings."]
    if c["other_channels"]:
        n, now, before = c["other_channels"]
        out.append(f"  {n} other channels: {now} (week before {before})")
    out += [f"  {d.links['channels']}", "", "TOP CAMPAIGNS"]
    out += [f"  {i}. {r['name']}: {r['now']} (week before {r['before']}, {r['change']})"
            for i, r in enumerate(c["campaigns"], 1)] or ["  No booking came from a named campaign."]
    out += [f"  {d.links['campaigns']}", "", "MEETINGS",
            f"  Held so far: {d.held} · No-shows: {d.no_show} (no-show rate {c['no_show_rate']}) · Canceled: {d.canceled}",
            f"  {d.links['meetings']}", "", "UNTAGGED BOOKINGS (the (direct) backlog)",
            f"  {d.backlog_size} untagged booking{'s' if d.backlog_size != 1 else ''} up to {d.week.last.strftime(DATE_FORMAT)},"
            f" {d.backlog_added} of them booked this week"]
    if c["oldest"]:
        out.append(f"  Oldest: {c['oldest']} ({c['oldest_event_type']}), {c['oldest_days']} days before the week's end")
    out += [f"  {d.links['backlog']}", "", "NEW HYGIENE FINDINGS"]
    out += [f"  {f['kind']}: {f['label']} ({f['bookings']} booking{'s' if f['bookings'] != 1 else ''})"
            for f in c["findings"]] or ["  Nothing new this week."]
    if c["more_findings"]:
        out.append(f"  … and {c['more_findings']} more")
    out += [f"  {d.links['hygiene']}", "", "PIPELINE AND REVENUE"]
    if d.money:
        out += [f"  {line}" for line in _money_lines(d)] + [f"  {d.links['money']}"]
    else:
        out.append("  No HubSpot deals read yet.")
    return "\n".join(out) + "\n"


def render_markdown(d: Digest) -> str:
    """CommonMark for apprise: Slack gets it as mrkdwn in Block Kit blocks, Teams in an Adaptive Card."""
    c = _context(d)

    def link(name, label="Open in Sourcebook"):
        return f"[{label}](<{d.links[name]}>)"

    out = [f"*{d.week.label}*" + (" (still running)" if d.running else ""), "",
           f"**Bookings by channel**: {d.bookings.now} ({c['total_change']})"]
    out += [f"• {md(r['name'])}: {r['now']} ({r['change']})" for r in c["channels"]] or ["No bookings."]
    if c["other_channels"]:
        n, now, _ = c["other_channels"]
        out.append(f"• {n} other channels: {now}")
    out += [link("channels"), "", "**Top campaigns**"]
    out += [f"{i}. {md(r['name'])}: {r['now']} ({r['change']})" for i, r in enumerate(c["campaigns"], 1)] or [
        "No booking came from a named campaign."]
    out += [link("campaigns"), "", "**Meetings**",
            f"Held so far {d.held} · no-shows {d.no_show} ({c['no_show_rate']}) · canceled {d.canceled}",
            link("meetings"), "", "**Untagged bookings**",
            f"{d.backlog_size} in the backlog, {d.backlog_added} booked this week"
            + (f"; oldest {c['oldest']} ({md(d.oldest_untagged_event_type)})" if c["oldest"] else ""),
            link("backlog", "Open the backlog"), "", "**New hygiene findings**"]
    out += [f"• {f['kind']}: {md(f['label'], 2 * 60)} ({f['bookings']})" for f in c["findings"]] or ["Nothing new this week."]
    if c["more_findings"]:
        out.append(f"• … and {c['more_findings']} more")
    out += [link("hygiene", "Open UTM hygiene"), "", "**Pipeline and revenue**"]
    if d.money:
        out += [md(line, 200) for line in _money_lines(d)] + [link("money")]
    else:
        out.append("No HubSpot deals read yet.")
    return _fit("\n".join(out), link("dashboard", "The whole week on the dashboard"))


def slack_length(text: str) -> int:
    """The length once apprise made it Slack mrkdwn, at most: each & becomes &amp;, each escaped \\< or \\> &lt; or
    &gt; (the other conversions shorten it). A value made of them would otherwise overflow Slack's section."""
    return len(text) + 4 * text.count("&") + 2 * (text.count("\\<") + text.count("\\>"))


def _fit(text: str, tail: str) -> str:
    """At most MARKDOWN_LIMIT characters (Slack's section limit) once apprise has converted it, cut at a line,
    saying so."""
    if slack_length(text) <= MARKDOWN_LIMIT:
        return text
    note = f"\n… (shortened) {tail}"
    lines = text.split("\n")
    while len(lines) > 1 and slack_length("\n".join(lines) + note) > MARKDOWN_LIMIT:
        lines.pop()
    return "\n".join(lines) + note


def render_html(d: Digest) -> str:
    c = _context(d)
    return render_to_string("alerts/digest_email.html", {**c, "money_lines": _money_lines(d) if d.money else []})


def digest_message(d: Digest) -> Message:
    return Message(subject=_subject(d), text=render_text(d), markdown=render_markdown(d), html=render_html(d))
