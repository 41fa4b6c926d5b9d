"""Journeys: what a visitor did before booking (touches from the site snippet, clicks on tracked links)."""

from django.conf import settings
from django.db import models
from django.db.models import Q


class Touch(models.Model):
    """One arrival of a visitor: a session start, something new on a page view, or a tracked-link click.

    Raw UTMs are normalized (attribution.rules.utm_normalize); `channel` is what the rules engine plus the
    GA4-style click-id / referrer mapping (journeys.channels) said at capture time. The IP is never stored
    raw: `ip_hash` is an HMAC of the /24 (IPv4) or /48 (IPv6) network with a salt that rotates daily.
    """

    class Kind(models.TextChoices):
        SESSION = "session"  # first page view of a browser session
        PAGEVIEW = "pageview"  # a later page view that brought something new (UTMs, click id, referrer)
        CLICK = "click"  # a tracked link (/l/<slug>)

    visitor_id = models.CharField(max_length=64)
    at = models.DateTimeField(help_text="Server time of arrival.")
    client_at = models.DateTimeField(null=True, blank=True, help_text="The browser's clock, as sent (not trusted).")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    source = models.CharField(max_length=255, blank=True)
    medium = models.CharField(max_length=255, blank=True)
    campaign = models.CharField(max_length=255, blank=True)
    content = models.CharField(max_length=255, blank=True)
    term = models.CharField(max_length=255, blank=True)
    utm_raw = models.JSONField(default=dict, blank=True, db_default={},
                              help_text="The UTM values as received (our visitor id left out): a booking's fold "
                                        "recomputes the touch's channel from them with the current rules.")
    click_ids = models.JSONField(default=dict, blank=True)
    referrer_host = models.CharField(max_length=255, blank=True)
    landing_path = models.CharField(max_length=512, blank=True)
    channel = models.CharField(max_length=64, blank=True)
    link = models.ForeignKey("journeys.TrackedLink", null=True, blank=True, on_delete=models.SET_NULL, related_name="touches")
    ip_hash = models.CharField(max_length=32, blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [
            models.Index(fields=["visitor_id", "at"], name="touch_visitor_at"),
            models.Index(fields=["at"], name="touch_at"),  # retention purge
        ]

    def __str__(self):
        return f"{self.visitor_id} {self.kind} {self.channel} {self.at:%Y-%m-%d %H:%M}"

    @property
    def is_direct(self) -> bool:
        return self.channel in ("", "Direct")


class TrackedLink(models.Model):
    """A short link saved from the link builder: /l/<slug> → destination + UTMs + the visitor id."""

    slug = models.SlugField(max_length=32, unique=True)
    destination = models.URLField(max_length=2000)
    utm_source = models.CharField(max_length=255)
    utm_medium = models.CharField(max_length=255)
    utm_campaign = models.CharField(max_length=255)
    utm_content = models.CharField(max_length=255, blank=True)
    utm_term = models.CharField(max_length=255, blank=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="tracked_links")
    click_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.CheckConstraint(condition=~Q(slug=""), name="trackedlink_slug_not_empty")]

    def __str__(self):
        return f"/l/{self.slug} → {self.destination}"
