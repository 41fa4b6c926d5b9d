from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q


class WebhookDelivery(models.Model):
    """One HTTP request from Calendly (or one backfilled invitee), stored before anything is trusted."""

    class State(models.TextChoices):
        RECEIVED = "received"
        PROCESSED = "processed"
        IGNORED = "ignored"
        FAILED = "failed"
        REJECTED = "rejected"
        # The invitee's email is on the suppression list (a forgotten person): stored redacted, no booking.
        SUPPRESSED = "suppressed"

    class Origin(models.TextChoices):
        WEBHOOK = "webhook"
        BACKFILL = "backfill"

    origin = models.CharField(max_length=16, choices=Origin.choices, default=Origin.WEBHOOK)
    received_at = models.DateTimeField(db_index=True)
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    headers = models.JSONField(default=dict, blank=True)
    body = models.BinaryField(help_text="Exact request bytes, as signed. A rejected delivery keeps only its first "
                              "16 KiB, unless it looks like a Calendly event a key rotation could explain.")
    body_size = models.PositiveBigIntegerField(null=True, blank=True, help_text="Size of the whole request body in "
                                               "bytes (empty on rows stored before it was recorded).")
    # db_default: web processes still on the previous release insert rows without it during a deploy.
    body_sha256 = models.CharField(max_length=64, blank=True, db_default="", help_text="SHA-256 of the whole request body "
                                   "(empty when the body was not read whole).")
    signature_valid = models.BooleanField(null=True)
    signature_error = models.CharField(max_length=200, blank=True)
    event_type = models.CharField(max_length=64, blank=True)
    invitee_uri = models.CharField(max_length=255, blank=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.RECEIVED)
    error = models.TextField(blank=True)
    traceback = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "webhook deliveries"
        ordering = ["-received_at", "-id"]
        indexes = [
            models.Index(fields=["state", "received_at"], name="delivery_state_received"),
            # Plain btrees: nothing here filters with LIKE, so no `varchar_pattern_ops` twin to maintain.
            models.Index(fields=["invitee_uri"], name="delivery_invitee"),
        ]

    def __str__(self):
        return f"#{self.pk} {self.event_type or '?'} {self.state}"

    @property
    def body_complete(self) -> bool:
        """The stored bytes are the whole body (rows from before `body_size` existed always are)."""
        return self.body_size is None or self.body_size == len(self.body)

    @property
    def body_text(self) -> str:
        return bytes(self.body).decode("utf-8", errors="replace")


class Booking(models.Model):
    """One Calendly invitee: the unit marketing counts."""

    class Status(models.TextChoices):
        ACTIVE = "active"
        CANCELED = "canceled"

    class HubspotState(models.TextChoices):
        PENDING = "pending"
        SYNCED = "synced"
        FAILED = "failed"
        SKIPPED = "skipped", "skipped (dry run)"

    invitee_uri = models.CharField(max_length=255)  # unique: see Meta.constraints
    event_uri = models.CharField(max_length=255, blank=True)
    email = models.EmailField(max_length=254, blank=True)
    name = models.CharField(max_length=255, blank=True)
    first_name = models.CharField(max_length=255, blank=True)
    last_name = models.CharField(max_length=255, blank=True)
    phone = models.CharField(max_length=64, blank=True, db_default="", default="",
                             help_text="Calendly's text_reminder_number, when the invitee gave one.")
    host_email = models.EmailField(max_length=254, blank=True, db_default="", default="",
                                   help_text="The Calendly host (first event membership): mapped to a HubSpot owner.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    timezone = models.CharField(max_length=64, blank=True)
    event_type_uri = models.CharField(max_length=255, blank=True)
    event_type_name = models.CharField(max_length=255, blank=True)
    start_time = models.DateTimeField(null=True, blank=True)
    end_time = models.DateTimeField(null=True, blank=True)
    booked_at = models.DateTimeField(null=True, blank=True, help_text="When the invitee booked (Calendly created_at); "
                                     "a rescheduled booking keeps its original booking's date.")
    canceled_at = models.DateTimeField(null=True, blank=True)
    canceled_by = models.CharField(max_length=255, blank=True)
    canceler_type = models.CharField(max_length=16, blank=True)
    cancel_reason = models.TextField(blank=True)
    no_show = models.BooleanField(default=False)
    no_show_marked_at = models.DateTimeField(null=True, blank=True)
    questions_and_answers = models.JSONField(default=list, blank=True)
    tracking = models.JSONField(default=dict, blank=True, help_text="Raw Calendly tracking, as received.")

    # Reschedules: the old invitee is canceled with rescheduled=True; the new one points back.
    rescheduled = models.BooleanField(default=False, help_text="This booking was moved to a new one.")
    new_invitee_uri = models.CharField(max_length=255, blank=True)
    old_invitee_uri = models.CharField(max_length=255, blank=True)
    rescheduled_from = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="rescheduled_to"
    )

    # Newest Calendly timestamp folded into this row (the row is re-derived from all its deliveries).
    last_event_at = models.DateTimeField(null=True, blank=True)

    # Attribution, computed by attribution.services from the effective tracking and stored so
    # reports are plain indexed GROUP BYs. `rules_version` says which rules produced it.
    utm_raw = models.JSONField(default=dict, blank=True, help_text="Effective UTM values as received.")
    manual_utm = models.JSONField(null=True, blank=True, help_text="Marketing's manual attribution (audit: ManualAttribution).")
    source = models.CharField(max_length=255, blank=True)
    medium = models.CharField(max_length=255, blank=True)
    campaign = models.CharField(max_length=255, blank=True)
    content = models.CharField(max_length=255, blank=True)
    term = models.CharField(max_length=255, blank=True)
    channel = models.CharField(max_length=64, blank=True)
    visitor_id = models.CharField(max_length=255, blank=True)
    self_reported_raw = models.CharField(max_length=500, blank=True)
    self_reported_source = models.CharField(max_length=255, blank=True)
    attribution_flags = ArrayField(models.CharField(max_length=64), default=list, blank=True)
    rules_version = models.PositiveIntegerField(default=0)

    # The visitor's journey (issue 13): first touch and last non-direct touch of `visitor_id` within
    # JOURNEY_LOOKBACK_DAYS before `booked_at`, channels by the rules at fold time. Written by the fold.
    class AttributedBy(models.TextChoices):
        BOOKING = "booking"  # the booking's own (or inherited) UTMs
        JOURNEY = "journey"  # no UTMs of its own: the journey's last non-direct touch
        MANUAL = "manual"  # marketing's manual assignment

    attributed_by = models.CharField(max_length=16, choices=AttributedBy.choices, default=AttributedBy.BOOKING,
                                     db_default=AttributedBy.BOOKING)
    first_touch_source = models.CharField(max_length=255, blank=True, db_default="", default="")
    first_touch_medium = models.CharField(max_length=255, blank=True, db_default="", default="")
    first_touch_campaign = models.CharField(max_length=255, blank=True, db_default="", default="")
    first_touch_channel = models.CharField(max_length=64, blank=True, db_default="", default="")
    first_touch_at = models.DateTimeField(null=True, blank=True)
    first_touch_landing_path = models.CharField(max_length=512, blank=True, db_default="", default="")
    last_touch_source = models.CharField(max_length=255, blank=True, db_default="", default="")
    last_touch_medium = models.CharField(max_length=255, blank=True, db_default="", default="")
    last_touch_campaign = models.CharField(max_length=255, blank=True, db_default="", default="")
    last_touch_channel = models.CharField(max_length=64, blank=True, db_default="", default="")
    last_touch_at = models.DateTimeField(null=True, blank=True, help_text="The last non-direct touch.")
    touch_count = models.PositiveIntegerField(default=0, db_default=0)

    # Written only by bookings/services/changes.py (the seam); a new row starts pending (also in raw INSERTs).
    hubspot_state = models.CharField(max_length=16, choices=HubspotState.choices, default=HubspotState.PENDING,
                                     db_default=HubspotState.PENDING)
    hubspot_contact_id = models.CharField(max_length=32, blank=True)
    hubspot_meeting_id = models.CharField(max_length=32, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-booked_at", "-id"]
        indexes = [
            models.Index(fields=["booked_at"], name="booking_booked_at"),
            models.Index(
                fields=["booked_at", "channel"],
                name="booking_countable_booked",
                condition=Q(rescheduled=False),
            ),
            # Every webhook writes these, so each index is paid on the hot path: plain btrees (no
            # LIKE lookups use them), and `old_invitee_uri` only where set (a few % of rows).
            models.Index(fields=["email"], name="booking_email"),
            # The deal read finds the bookings of a deal's contacts by HubSpot contact id (hubspot_sync deal_read).
            models.Index(fields=["hubspot_contact_id"], name="booking_hubspot_contact", condition=~Q(hubspot_contact_id="")),
            models.Index(fields=["channel"], name="booking_channel"),
            models.Index(fields=["old_invitee_uri"], name="booking_old_invitee", condition=~Q(old_invitee_uri="")),
            # A touch that arrives after its booking finds the bookings to re-fold (most rows have no id).
            models.Index(fields=["visitor_id"], name="booking_visitor_id", condition=~Q(visitor_id="")),
            # The admin's search has three more, expression indexes written in SQL by migration 0017
            # (booking_email_lower, booking_name_lower, booking_email_domain): see bookings/selectors.py booking_search.
            # The backlog's "rescued by journeys" count (few rows).
            models.Index(fields=["booked_at"], name="booking_journey_attributed", condition=Q(attributed_by="journey")),
            # Today's meetings still ahead, subtracted from "held" (attribution/dashboard.py `_upcoming`): a small
            # range read index-only (the columns a report groups or filters by are included).
            models.Index(fields=["start_time"], name="booking_upcoming_cover",
                         include=["booked_at", "status", "channel", "source", "medium", "campaign", "event_type_name",
                                  "self_reported_source"],
                         condition=Q(rescheduled=False, no_show=False) & ~Q(status="canceled")),
            # The (direct) backlog's list: countable Direct bookings of a period, newest first (a fifth of the rows).
            models.Index(fields=["booked_at", "id"], name="booking_direct_backlog",
                         condition=Q(channel="Direct", rescheduled=False, booked_at__isnull=False)),
        ]
        constraints = [
            models.UniqueConstraint(fields=["invitee_uri"], name="booking_invitee_uri_unique"),
        ]

    def __str__(self):
        return f"{self.email or self.invitee_uri} ({self.status})"


class BackfillRun(models.Model):
    """Checkpoint of one backfill window, so an interrupted backfill continues where it stopped."""

    key = models.CharField(max_length=255, unique=True, help_text="scope:since:until")
    checkpoint = models.JSONField(default=dict, help_text="next page token per event status ('done' when finished)")
    events = models.PositiveIntegerField(default=0)
    invitees = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    suppressed = models.PositiveIntegerField(default=0, db_default=0, help_text="Invitees of forgotten people: not stored.")
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True, help_text="Last stop on a Calendly error; a rerun continues.")
    error = models.TextField(blank=True, help_text="Why the last attempt stopped (e.g. still rate-limited).")

    def __str__(self):
        state = "done" if self.finished_at else ("failed" if self.failed_at else "in progress")
        return f"backfill {self.key} ({state})"


class Suppression(models.Model):
    """A forgotten person (`manage.py forget_person`): an HMAC-SHA256 of their normalised email, never the email.

    The intake checks it for every delivery (bookings/suppression.py), so a webhook, a replay or a backfill
    never brings the person back."""

    email_hash = models.CharField(max_length=64, unique=True, help_text="HMAC-SHA256 (hex) of the normalised email "
                                  "under PRIVACY_SUPPRESSION_KEY (or a key derived from SECRET_KEY).")
    created_at = models.DateTimeField(auto_now_add=True)
    note = models.CharField(max_length=255, blank=True, help_text="Why (e.g. a ticket number); never personal data.")

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"suppressed {self.email_hash[:12]}…"
