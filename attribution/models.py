"""Attribution rules as data: aliases, source categories, banned values, ordered channel rules.

Marketing edits these in the admin; `attribution.services` compiles them into a Ruleset.
"""

from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.db import models

from attribution.patterns import PatternError, pattern_compile


def validate_regex(value: str) -> None:
    """Rules run on RE2 (linear time): a pattern it can't compile is refused when saved."""
    try:
        pattern_compile(value)
    except PatternError as exc:
        raise ValidationError(f"Not a valid regular expression (RE2 syntax, no backreferences or lookaround): {exc}") from exc


class RulesetVersion(models.Model):
    """One row; bumped on every rule edit so bookings record which rules attributed them."""

    version = models.PositiveIntegerField(default=1)
    changed_at = models.DateTimeField(auto_now=True)


class Alias(models.Model):
    """Maps a spelling seen in the wild to the canonical value (e.g. `lnkd.in` → `linkedin`)."""

    class Field(models.TextChoices):
        SOURCE = "source"
        MEDIUM = "medium"
        CAMPAIGN = "campaign"

    field = models.CharField(max_length=16, choices=Field.choices, default=Field.SOURCE)
    value = models.CharField(max_length=255, help_text="Normalized spelling to catch (lowercase).")
    canonical = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "aliases"
        ordering = ["field", "value"]
        constraints = [models.UniqueConstraint(fields=["field", "value"], name="alias_unique_field_value")]

    def __str__(self):
        return f"{self.field}: {self.value} → {self.canonical}"


class SourceCategory(models.Model):
    """A named set of sources (search, social, ai, video) that several rules refer to."""

    name = models.SlugField(max_length=32, unique=True)
    sources = ArrayField(models.CharField(max_length=100), default=list, blank=True)

    class Meta:
        verbose_name_plural = "source categories"
        ordering = ["name"]

    def __str__(self):
        return self.name


class BannedValue(models.Model):
    """Placeholder or brand values that carry no attribution (`website`, `test`, our own name)."""

    value = models.CharField(max_length=255, unique=True)
    reason = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["value"]

    def __str__(self):
        return self.value


class ChannelRule(models.Model):
    """Ordered, first match wins. Empty conditions are ignored; a rule with no condition never matches."""

    class Combine(models.TextChoices):
        ALL = "all", "all conditions (AND)"
        ANY = "any", "any condition (OR)"

    position = models.PositiveIntegerField(db_index=True)
    channel = models.CharField(max_length=64)
    enabled = models.BooleanField(default=True)
    combine = models.CharField(max_length=3, choices=Combine.choices, default=Combine.ALL)
    source_category = models.ForeignKey(SourceCategory, null=True, blank=True, on_delete=models.PROTECT)
    source_values = ArrayField(models.CharField(max_length=100), default=list, blank=True)
    source_regex = models.CharField(max_length=255, blank=True, validators=[validate_regex])
    medium_values = ArrayField(models.CharField(max_length=100), default=list, blank=True)
    medium_regex = models.CharField(max_length=255, blank=True, validators=[validate_regex])
    campaign_regex = models.CharField(max_length=255, blank=True, validators=[validate_regex])
    note = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["position", "id"]
        permissions = [
            ("view_dashboard", "Can view the marketing dashboard and reports"),
            ("assign_attribution", "Can assign attribution to untagged bookings"),
        ]

    def __str__(self):
        return f"{self.position}. {self.channel}"


ROLLUP_DIMENSIONS = ("status", "channel", "source", "medium", "campaign", "event_type_name", "self_reported_source",
                     "first_touch_landing_path")


class RollupRow(models.Model):
    day = models.DateField()
    # "booking": the bookings themselves; "first_touch" / "last_non_direct": only the difference that model makes
    # (-1 at a booking's own values, +1 at its credited touch's). A model's report sums "booking" and its rows.
    model = models.CharField(max_length=16, default="booking", db_default="booking")
    status = models.CharField(max_length=16)
    channel = models.CharField(max_length=64)
    source = models.CharField(max_length=255)
    medium = models.CharField(max_length=255)
    campaign = models.CharField(max_length=255)
    event_type_name = models.CharField(max_length=255)
    self_reported_source = models.CharField(max_length=255)
    first_touch_landing_path = models.CharField(max_length=512, default="", db_default="")  # the journey's landing page
    bookings = models.IntegerField(default=0)
    no_show = models.IntegerField(default=0)
    synced = models.IntegerField(default=0)

    class Meta:
        abstract = True


class DailyStat(RollupRow):
    """Bookings per day and attribution, maintained by a PostgreSQL trigger (see migration 0004).

    Every insert/update/delete of a booking appends signed deltas to DailyStatDelta (no lock
    contention on hot rows); `rollup_compact` folds them in here. Reports read both, so they
    are exact at any moment. A rescheduled (old) booking is not counted.
    """

    class Meta:
        constraints = [models.UniqueConstraint(fields=["day", "model", *ROLLUP_DIMENSIONS], name="dailystat_model_unique_key")]
        # One channel's days (the (direct) backlog's groups and "They said"): a twentieth of the rows, not all.
        indexes = [models.Index(fields=["channel", "day"], name="dailystat_channel_day")]


class TotalStat(RollupRow):
    """DailyStat without its day: bookings per attribution over all time, folded in by the same `rollup_compact`.

    What spans all time (the hygiene page, the backlog's list of known sources, reports without dates) groups a
    few hundred rows here instead of every day's (~80k at 10M bookings). Reports read it with the pending deltas.
    """

    day = None

    class Meta:
        constraints = [models.UniqueConstraint(fields=["model", *ROLLUP_DIMENSIONS], name="totalstat_model_unique_key")]


class RollupState(models.Model):
    """One row: the time zone the rollup's days are in (attribution.rollup.rollup_rebuild writes it)."""

    time_zone = models.CharField(max_length=64)
    rebuilt_at = models.DateTimeField(null=True, blank=True)


class DailyStatDelta(RollupRow):
    """Signed +1/−1 rows appended by the trigger, folded into DailyStat by `rollup_compact`."""


class UpcomingStat(models.Model):
    """Meetings not yet held, per booking day, start day and attribution: signed +1/−1 rows appended by the
    same trigger for every countable booking that is not canceled, not a no-show and starts today or later.
    "Held" = the rollup's meetings − the rows here that start after today − today's meetings still ahead (read
    from the bookings table: one day at most). `rollup_compact` folds the rows and drops past start days."""

    day = models.DateField()  # booked on, in TIME_ZONE (the dashboard's period filters on it)
    start_day = models.DateField()  # starts on, in TIME_ZONE
    status = models.CharField(max_length=16)
    channel = models.CharField(max_length=64)
    source = models.CharField(max_length=255)
    medium = models.CharField(max_length=255)
    campaign = models.CharField(max_length=255)
    event_type_name = models.CharField(max_length=255)
    self_reported_source = models.CharField(max_length=255)
    first_touch_landing_path = models.CharField(max_length=512, default="", db_default="")
    meetings = models.IntegerField()

    class Meta:
        indexes = [models.Index(fields=["start_day", "day"], name="upcomingstat_start_day")]


class ManualAttribution(models.Model):
    """Audit trail of marketing assigning a source to an untagged booking (reversible)."""

    booking = models.ForeignKey("bookings.Booking", on_delete=models.CASCADE, related_name="manual_attributions")
    user = models.ForeignKey("auth.User", null=True, on_delete=models.SET_NULL, related_name="+")
    from_values = models.JSONField(help_text="source/medium/campaign/channel before")
    to_values = models.JSONField(help_text="utm_source/utm_medium/utm_campaign assigned")
    created_at = models.DateTimeField(auto_now_add=True)
    reverted_at = models.DateTimeField(null=True, blank=True)
    reverted_by = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.booking_id}: {self.from_values.get('source')} → {self.to_values.get('utm_source')}"


class ReattributeJob(models.Model):
    """One re-attribution of existing bookings, run by a Celery worker batch by batch (or by the command).

    `Booking.rules_version` says which bookings are done, so a job continues where a dead worker stopped.
    At most one job is queued or running (partial unique index): a second start gets the active one.
    """

    class State(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    ACTIVE_STATES = (State.QUEUED, State.RUNNING)

    state = models.CharField(max_length=8, choices=State.choices, default=State.QUEUED)
    rules_version = models.PositiveIntegerField(default=0, help_text="The rules version the bookings are brought to.")
    since = models.DateTimeField(null=True, blank=True, help_text="Only bookings booked on or after this.")
    where_source = models.CharField(max_length=255, null=True, blank=True,
                                    help_text="Only bookings one alias/rule can affect (hygiene page).")
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    changed = models.PositiveIntegerField(default=0, help_text="Bookings whose attribution changed.")
    moves = models.JSONField(default=list, blank=True, help_text="[from channel, to channel, bookings], most first.")
    started_by = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True, help_text="Last batch committed; a stale one is resumed.")
    finished_at = models.DateTimeField(null=True, blank=True)
    claim = models.PositiveIntegerField(default=0, help_text="Bumped by every claim: a stalled runner stops.")
    error = models.TextField(blank=True)

    class Meta:
        verbose_name = "re-attribution job"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(models.Value(True), condition=models.Q(state__in=["queued", "running"]),
                                    name="reattributejob_one_active"),
        ]

    def __str__(self):
        return f"re-attribution #{self.pk} ({self.state})"

    @property
    def percent(self) -> int:
        return 100 if self.state == self.State.DONE else int(100 * self.done / self.total) if self.total else 0

    @property
    def scope(self) -> str:
        parts = [f"booked since {self.since:%Y-%m-%d}" if self.since else "", f"source ~ {self.where_source}" if self.where_source else ""]
        return ", ".join(p for p in parts if p) or "all bookings"


class DemoEventType(models.Model):
    """A Calendly event type that counts as a demo on the dashboard. None listed: every event type counts."""

    name = models.CharField(max_length=255, unique=True, help_text="The Calendly event type's name, as bookings show it.")

    class Meta:
        ordering = ["name"]
        verbose_name = "event type counted as a demo"
        verbose_name_plural = "event types counted as demos"

    def __str__(self):
        return self.name


class SpendImport(models.Model):
    """One uploaded spend file (an import batch): deleting it undoes the upload (its rows go with it)."""

    file_name = models.CharField(max_length=255, blank=True)
    uploaded_by = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    rows = models.PositiveIntegerField(default=0, help_text="Rows this upload wrote (new or replaced).")

    class Meta:
        verbose_name = "spend upload"
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.file_name or 'spend upload'} ({self.created_at:%Y-%m-%d %H:%M})"


class Spend(models.Model):
    """Marketing cost of one (day or month, source, medium, campaign, currency), as uploaded.

    A row covers the days `day` … `last_day` (inclusive): one day for a `date` row, the whole month for a
    `month` row ("2026-10"): stored as entered, never split, so a re-upload replaces it and the days it covers are
    known. Reads spread a month's cost evenly over its days (`attribution.spend`). A day no row covers has no spend
    data (shown as such, never as zero cost); a row with cost 0 is data.

    source/medium/campaign are `utm_normalize`d ("" = not given) and classified (aliases, channel) by the current
    rules when read, as bookings are."""

    batch = models.ForeignKey(SpendImport, on_delete=models.CASCADE, related_name="spend_rows")
    day = models.DateField(help_text="First day the cost covers.")
    last_day = models.DateField(help_text="Last day the cost covers (the same day, or the month's last).")
    source = models.CharField(max_length=255)
    medium = models.CharField(max_length=255, blank=True)
    campaign = models.CharField(max_length=255, blank=True)
    currency = models.CharField(max_length=3, help_text="ISO 4217 code.")
    cost = models.DecimalField(max_digits=14, decimal_places=2)

    class Meta:
        verbose_name_plural = "spend"
        ordering = ["-day", "source", "medium", "campaign"]
        constraints = [
            models.UniqueConstraint(fields=["day", "last_day", "source", "medium", "campaign", "currency"],
                                    name="spend_unique_row"),
            models.CheckConstraint(condition=models.Q(cost__gte=0), name="spend_cost_not_negative"),
            models.CheckConstraint(condition=models.Q(last_day__gte=models.F("day")), name="spend_days_ordered"),
        ]
        indexes = [models.Index(fields=["day", "last_day"], name="spend_days")]

    def __str__(self):
        span = f"{self.day:%Y-%m}" if self.day != self.last_day else f"{self.day}"
        return f"{span} {self.source}/{self.medium or '-'}/{self.campaign or '-'}: {self.cost} {self.currency}"
