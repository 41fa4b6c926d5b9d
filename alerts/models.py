"""Where Sourcebook tells people: destinations (apprise URLs) and the notification outbox.

Reads nothing from the other apps; `alerts` imports them (checks, digest numbers), never the reverse.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from alerts.channels import masked


class Topic(models.TextChoices):
    OPS = "ops", "operational alerts"
    MARKETING = "marketing", "marketing alerts"
    DIGEST = "digest", "weekly digest"
    TEST = "test", "test message"


class Destination(models.Model):
    """One apprise URL (Slack, Teams workflow, mailto/mailtos SMTP, json:// webhook, ...) and what it receives."""

    name = models.CharField(max_length=100, unique=True)
    # The whole apprise URL, tokens and passwords included: shown only masked (apprise's privacy URL) once saved.
    url = models.TextField()
    ops = models.BooleanField("operational alerts", default=True)
    marketing = models.BooleanField("marketing alerts", default=True)
    digest = models.BooleanField("weekly digest", default=True)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def wants(self, topic: str) -> bool:
        return topic == Topic.TEST or bool(getattr(self, topic, False))

    @property
    def masked_url(self) -> str:
        return masked(self.url)


class Notification(models.Model):
    """The outbox of messages: written in the caller's transaction, sent by a worker, retried, then dead-lettered."""

    class State(models.TextChoices):
        PENDING = "pending"
        IN_FLIGHT = "in_flight", "in flight"
        SENT = "sent"
        DEAD = "dead", "dead letter"
        DISCARDED = "discarded"

    destination = models.ForeignKey(Destination, on_delete=models.CASCADE, related_name="notifications")
    topic = models.CharField(max_length=16, choices=Topic.choices)
    # Idempotency: one message per (destination, key) — e.g. one digest per week, one "fired" per alert episode.
    key = models.CharField(max_length=200, blank=True)
    subject = models.CharField(max_length=250)
    text = models.TextField()  # plain text: webhooks, the dry run, the e-mail's text part
    markdown = models.TextField(blank=True)  # chat (Slack blocks, Teams): falls back to text
    html = models.TextField(blank=True)  # e-mail: falls back to text
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    claimed_at = models.DateTimeField(null=True, blank=True)
    claim_token = models.UUIDField(null=True, blank=True, editable=False)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["destination", "key"], condition=~Q(key=""), name="notification_once"),
        ]
        indexes = [
            models.Index(fields=["next_attempt_at"], name="notification_due", condition=Q(state="pending")),
            models.Index(fields=["claimed_at"], name="notification_in_flight", condition=Q(state="in_flight")),
        ]

    def __str__(self) -> str:
        return f"{self.subject} → {self.destination_id}"


class AlertState(models.Model):
    """One alert (a check of alerts/checks.py, or one value of a check that watches many) and where its cycle is:
    firing since when, last told when, resolved when, silenced until when. Written only by alerts/services/alerts.py."""

    class Category(models.TextChoices):
        OPS = "ops", "operational"
        MARKETING = "marketing", "marketing"

    key = models.CharField(max_length=600, unique=True)  # "dead_letters", "unassigned_value:<source> / <medium>"
    category = models.CharField(max_length=16, choices=Category.choices)
    firing = models.BooleanField(default=False)
    title = models.CharField(max_length=250, blank=True)
    detail = models.TextField(blank=True)
    link = models.CharField(max_length=1000, blank=True, help_text="Where to look (a path of this Sourcebook, or a URL).")
    hint = models.TextField(blank=True, help_text="What to do.")
    fired_at = models.DateTimeField(null=True, blank=True, help_text="Start of the current (or last) episode.")
    last_notified_at = models.DateTimeField(null=True, blank=True,
                                            help_text="Last message of the current episode (fired or repeat); empty: "
                                                      "not told yet (silenced or disabled when it fired).")
    notified_count = models.PositiveIntegerField(default=0, help_text="Messages sent in the current episode.")
    episodes = models.PositiveIntegerField(default=0, help_text="Episodes so far (part of each message's outbox key).")
    resolved_at = models.DateTimeField(null=True, blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)
    silenced_until = models.DateTimeField(null=True, blank=True, help_text="Send nothing for this alert until then.")
    muted = models.BooleanField(default=False, help_text="Silenced indefinitely (until unsilenced).")
    silenced_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-firing", "category", "key"]
        verbose_name = "alert"

    def __str__(self) -> str:
        return self.key

    def silenced(self, now) -> bool:
        return self.muted or bool(self.silenced_until and self.silenced_until > now)
