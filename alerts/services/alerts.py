"""The alert cycle, the same for every check of alerts/checks.py:

- **fired**: the first evaluation that finds it firing starts an episode (`fired_at`) and tells the category's
  destinations once (outbox key `alert:<key>:<fired_at>`, so a concurrent evaluation cannot send it twice);
- **repeat**: while it keeps firing, again at most every ALERTS_REPEAT_HOURS (marketing alerts:
  ALERTS_MARKETING_REPEAT_HOURS; 0 = never);
- **resolved**: the first evaluation that finds it clear ends the episode, and says so if the episode was announced.

Silenced (in the admin, until a date or indefinitely): the state is still followed, nothing is sent; unsilenced
while firing, the episode is announced then. A "resolved" is sent for exactly the episodes whose "fired" was sent.
Disabled (ALERTS_DISABLED, a key or a family prefix): not evaluated; a firing state is closed without a message.

Beat runs `alerts_evaluate` every few minutes (alerts.tasks); the worker-heartbeat alert is the watchdog's
(`alerts_watchdog_pass`, `manage.py alerts_watchdog`), which sends it itself: it cannot wait for a worker.
"""

from __future__ import annotations

import hashlib
import logging
import re
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import mark_safe

from alerts.channels import Message
from alerts.checks import CHECKS, CHECKS_BY_KEY, Check, Finding
from alerts.digest_render import MARKDOWN_LIMIT, md, slack_length
from alerts.models import AlertState
from alerts.services.outbox import notify, send_due

logger = logging.getLogger("sourcebook.alerts")

FIRED, REPEAT, RESOLVED = "fired", "repeat", "resolved"
WATCHDOG_KEY = "worker_heartbeat"


def disabled_keys() -> set[str]:
    return {k.strip() for k in settings.ALERTS_DISABLED if k.strip()}


def alert_disabled(key: str) -> bool:
    disabled = disabled_keys()
    return key in disabled or key.split(":", 1)[0] in disabled


def _repeat_every(category: str) -> timedelta | None:
    hours = settings.ALERTS_MARKETING_REPEAT_HOURS if category == AlertState.Category.MARKETING else settings.ALERTS_REPEAT_HOURS
    return timedelta(hours=hours) if hours > 0 else None


def _notification_key(state: AlertState, event: str) -> str:
    """Unique per episode (and per repeat), short enough for the outbox's key (200) whatever the alert's key."""
    key = state.key if len(state.key) <= 100 else f"{state.key[:60]}~{hashlib.sha1(state.key.encode()).hexdigest()[:12]}"
    base = f"alert:{key}:{state.fired_at.isoformat()}#{state.episodes}"  # two episodes may start in one instant
    return {FIRED: base, REPEAT: f"{base}:repeat:{state.notified_count}", RESOLVED: f"{base}:resolved"}[event]


def _absolute(link: str) -> str:
    return settings.SOURCEBOOK_PUBLIC_URL.rstrip("/") + link if link.startswith("/") else link


def _when(value: datetime) -> str:
    return f"{timezone.localtime(value):%a %-d %b %Y %H:%M %Z}"


def _duration(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes} min" if minutes < 120 else f"{minutes / 60:.1f} h" if minutes < 2880 else f"{minutes / 1440:.1f} days"


def _html(text: str) -> str:
    """Escaped, with `commands` in a monospace span."""
    # A monospace span, not <code>: apprise's HTML-to-text conversion (the e-mail's plain-text part) breaks lines
    # around block tags, and it counts <code> as one.
    return mark_safe(re.sub(r"`([^`<>]+)`", r'<span style="font-family:monospace">\1</span>',  # noqa: S308 - escaped first
                            conditional_escape(text)))


def _md(text: str) -> str:
    """Title and detail carry what links and bookings said (a source, a campaign): literal in Markdown, so a
    `<!channel>` or a `[label](url)` in a campaign name is neither a Slack mention nor a link."""
    return md(text, limit=len(text) + 1)


def _markdown(parts: list[str], detail: str) -> str:
    """The parts with the detail (Markdown-escaped) after the first, the detail cut (…) so that the whole stays
    within Slack's section once apprise has converted it (a character may become 5: & → &amp;)."""
    rest = slack_length("\n\n".join(part for part in parts if part))
    escaped = _md(detail)
    if rest + 2 + slack_length(escaped) > MARKDOWN_LIMIT:
        escaped = md(detail, limit=max(20, (MARKDOWN_LIMIT - rest - 2) // 5))
    return "\n\n".join(part for part in (parts[0], escaped, *parts[1:]) if part)


def alert_message(state: AlertState, event: str, *, now: datetime) -> Message:
    """Subject, plain text, Markdown (chat) and HTML (e-mail) of one alert message."""
    prefix = {FIRED: "", REPEAT: "Still firing: ", RESOLVED: "Resolved: "}[event]
    subject = f"[Sourcebook] {prefix}{state.title}"
    link = _absolute(state.link) if state.link else ""
    admin = _absolute(reverse("admin:alerts_alertstate_change", args=[state.pk]))
    if event == RESOLVED:
        when = f"It fired {_when(state.fired_at)} and cleared {_when(now)} (after {_duration(now - state.fired_at)})."
        lines = [f"Resolved: {state.title}", state.detail, when]
        text = "\n\n".join(line for line in lines if line)
        markdown = _markdown([f"**Resolved:** {_md(state.title)}", when], state.detail)
        html = format_html("<h2>Resolved: {}</h2><p>{}</p><p>{}</p>", state.title, _html(state.detail), when)
        return Message(subject=subject, text=text, markdown=markdown, html=html)
    since = f"Firing since {_when(state.fired_at)}" + (f" ({_duration(now - state.fired_at)})." if event == REPEAT else ".")
    text = "\n\n".join(part for part in (
        f"{prefix}{state.title}", state.detail, f"What to do: {state.hint}" if state.hint else "",
        f"Where: {link}" if link else "", f"{since} Silence this alert: {admin}") if part)
    markdown = _markdown([
        f"**{prefix}{_md(state.title)}**", f"**What to do:** {state.hint}" if state.hint else "",
        f"[Open in Sourcebook]({link})" if link else "", f"{since} [Silence this alert]({admin})"], state.detail)
    html = "".join((
        format_html("<h2>{}{}</h2><p>{}</p>", prefix, state.title, _html(state.detail)),
        format_html("<p><b>What to do:</b> {}</p>", _html(state.hint)) if state.hint else "",
        format_html('<p><a href="{}">Open in Sourcebook</a></p>', link) if link else "",
        format_html('<p style="color:#555">{} <a href="{}">Silence this alert</a></p>', since, admin),
    ))
    return Message(subject=subject, text=text, markdown=markdown, html=html)


def _queue(topic: str, message: Message, key: str) -> None:
    notify(topic, message, key=key)


def _queue_for_watchdog(topic: str, message: Message, key: str) -> None:
    notify(topic, message, key=key, enqueue=False)  # the watchdog sends them itself, worker or not


def alert_apply(check: Check, finding: Finding, *, now: datetime, send=_queue) -> str | None:
    """One step of one alert's cycle: record what the check found, send what is due. Returns the event sent."""
    if check.family and not finding.firing and not AlertState.objects.filter(key=finding.key).exists():
        return None  # a family member that never fired: no row
    AlertState.objects.get_or_create(key=finding.key, defaults={"category": check.category})
    with transaction.atomic():
        state = AlertState.objects.select_for_update().get(key=finding.key)
        state.checked_at, state.category, event = now, check.category, None
        if finding.firing:
            if not state.firing:  # a new episode
                state.firing, state.fired_at, state.resolved_at, state.episodes = True, now, None, state.episodes + 1
                state.last_notified_at, state.notified_count = None, 0
            state.title, state.detail = finding.title[:250], finding.detail
            state.link, state.hint = finding.link[:1000], finding.hint
            if not state.silenced(now):
                every = _repeat_every(check.category)
                if state.last_notified_at is None:
                    event = FIRED
                elif every and now - state.last_notified_at >= every:
                    event = REPEAT
        elif state.firing:
            state.firing, state.resolved_at = False, now
            state.detail = finding.detail or check.cleared
            if state.last_notified_at is not None:
                event = RESOLVED
        if event:
            send(check.category, alert_message(state, event, now=now), _notification_key(state, event))
            if event != RESOLVED:
                state.last_notified_at, state.notified_count = now, state.notified_count + 1
        state.save()
    if event:
        logger.info("alert %s %s", state.key, event, extra={"alert": state.key, "event": event})
    return event


def _close_disabled(prefix: str, *, now: datetime, family: bool) -> None:
    rows = AlertState.objects.filter(firing=True)
    rows = rows.filter(key__startswith=f"{prefix}:") if family else rows.filter(key=prefix)
    rows.update(firing=False, resolved_at=now, checked_at=now, detail="Disabled by ALERTS_DISABLED.")


def alert_run(check: Check, *, now: datetime, send=_queue) -> list[tuple[str, str]]:
    """Run one check and apply what it found to its alerts; returns the (key, event) pairs sent."""
    if alert_disabled(check.key):
        _close_disabled(check.key, now=now, family=check.family)
        return []
    try:
        found = check.run(now)
    except Exception:  # noqa: BLE001 - one broken check must not silence the others
        logger.exception("alert check %s failed", check.key)
        return []
    findings = found if isinstance(found, list) else [found]
    if check.family:  # members not listed any more have cleared
        listed = {f.key for f in findings}
        still = AlertState.objects.filter(key__startswith=f"{check.key}:", firing=True).exclude(key__in=listed)
        findings += [Finding(key=key, firing=False) for key in still.values_list("key", flat=True)]
    events = []
    for finding in findings:
        if alert_disabled(finding.key):
            _close_disabled(finding.key, now=now, family=False)
            continue
        event = alert_apply(check, finding, now=now, send=send)
        if event:
            events.append((finding.key, event))
    return events


def alerts_evaluate(now: datetime | None = None) -> list[tuple[str, str]]:
    """Every check but the watchdog's, at `now`: beat's task, every few minutes."""
    now = now or timezone.now()
    events = []
    for check in CHECKS:
        if not check.by_watchdog:
            events += alert_run(check, now=now)
    return events


def alerts_watchdog_pass(now: datetime | None = None, *, watching_since: datetime | None = None) -> list[tuple[str, str]]:
    """The watchdog's step: the worker-heartbeat alert, sent right here (no worker, no broker needed), then any of
    its messages due for a retry. Recorded in AlertState and the outbox like every alert.

    `watching_since`: when the watchdog process started. For its first HEALTH_WORKER_MAX_AGE_SECONDS a missing or
    stale heartbeat is the worker still starting beside it (every `make run`, every deploy), not news: nothing new
    fires then, though an alert already firing may resolve."""
    now = now or timezone.now()
    starting = watching_since is not None and (now - watching_since).total_seconds() < settings.HEALTH_WORKER_MAX_AGE_SECONDS
    if starting and not AlertState.objects.filter(key=WATCHDOG_KEY, firing=True).exists():
        send_due(key_prefix=f"alert:{WATCHDOG_KEY}:")
        return []
    events = alert_run(CHECKS_BY_KEY[WATCHDOG_KEY], now=now, send=_queue_for_watchdog)
    send_due(key_prefix=f"alert:{WATCHDOG_KEY}:")
    return events


def alerts_silence(ids, *, until: datetime | None = None, by: str = "") -> int:
    """Silence alerts until `until`, or indefinitely (None)."""
    fields = {"silenced_until": until, "muted": False} if until else {"muted": True, "silenced_until": None}
    return AlertState.objects.filter(pk__in=list(ids)).update(silenced_by=by[:150], **fields)


def alerts_unsilence(ids) -> int:
    """Back to normal: a firing alert whose episode was not announced is announced at the next evaluation."""
    return AlertState.objects.filter(pk__in=list(ids)).update(muted=False, silenced_until=None, silenced_by="")


def alert_summary(state: AlertState, *, now: datetime | None = None) -> str:
    """The admin's state column: firing / ok, silenced, disabled."""
    now = now or timezone.now()
    words = ["firing" if state.firing else "ok"]
    if alert_disabled(state.key):
        words.append("disabled (ALERTS_DISABLED)")
    elif state.muted:
        words.append("silenced")
    elif state.silenced(now):
        words.append(f"silenced until {_when(state.silenced_until)}")
    return ", ".join(words)
