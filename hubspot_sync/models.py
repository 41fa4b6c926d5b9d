"""HubSpot sync state: one outbox row per booking, the OAuth connection, optional deal rules."""

from django.db import models
from django.db.models import Q


class BookingSync(models.Model):
    """The transactional outbox: written in the same transaction as every booking change.

    `version` counts booking changes; a sync only marks the row synced if no change arrived
    while it was in flight (`claimed_version == version`), so no change is ever lost.
    """

    class State(models.TextChoices):
        PENDING = "pending"
        IN_FLIGHT = "in_flight", "in flight"
        SYNCED = "synced"
        DEAD = "dead", "dead letter"
        SKIPPED = "skipped", "skipped (dry run)"
        DISCARDED = "discarded"

    booking = models.OneToOneField("bookings.Booking", primary_key=True, on_delete=models.CASCADE, related_name="sync")
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    version = models.PositiveIntegerField(default=1)
    claimed_version = models.PositiveIntegerField(default=0)
    synced_version = models.PositiveIntegerField(default=0)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    claimed_at = models.DateTimeField(null=True, blank=True)
    # Fencing token of the current claim: a worker whose claim was swept (it stalled past the claim
    # timeout) and taken by another worker can neither send these rows nor finish them.
    claim_token = models.UUIDField(null=True, blank=True, editable=False)
    synced_at = models.DateTimeField(null=True, blank=True)
    # A meeting create that timed out may or may not exist in HubSpot: search before creating again.
    meeting_create_uncertain = models.BooleanField(default=False)
    last_status = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_request = models.JSONField(null=True, blank=True)
    last_response = models.JSONField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "HubSpot sync"
        verbose_name_plural = "HubSpot sync queue"
        indexes = [
            models.Index(fields=["next_attempt_at"], name="sync_pending_due", condition=Q(state="pending")),
            models.Index(fields=["claimed_at"], name="sync_in_flight", condition=Q(state="in_flight")),
            models.Index(fields=["state"], name="sync_state"),
        ]

    def __str__(self):
        return f"sync of booking {self.booking_id}: {self.state}"


class HubspotConnection(models.Model):
    """OAuth token pair (rotating refresh token) or a note that a private-app token is used.

    `token_version` is bumped by whoever wins the right to refresh, so two workers never
    spend the same refresh token.
    """

    class State(models.TextChoices):
        OK = "ok"
        BROKEN = "broken"

    name = models.CharField(max_length=32, unique=True, default="default")
    access_token = models.TextField(blank=True)
    refresh_token = models.TextField(blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    token_version = models.PositiveIntegerField(default=0)
    refreshing_until = models.DateTimeField(null=True, blank=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.OK)
    broken_reason = models.TextField(blank=True)
    # HubSpot's daily request limit resets at midnight in the portal's time zone (read by hubspot_setup from
    # account-info details); after a DAILY 429 nothing is sent before `daily_limit_until`.
    portal_time_zone = models.CharField(max_length=64, blank=True)
    daily_limit_until = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"HubSpot connection ({self.state})"


class DealRule(models.Model):
    """Optional: a booking of these event types creates or advances a deal (never backwards)."""

    enabled = models.BooleanField(default=False)
    event_type_name = models.CharField(max_length=255, help_text="Calendly event type name, e.g. 'Product demo'.")
    pipeline_id = models.CharField(max_length=64, help_text="From HubSpot's pipelines API (see hubspot_setup).")
    stage_id = models.CharField(max_length=64)
    deal_name_template = models.CharField(max_length=255, default="{name} – {event_type}")

    def __str__(self):
        return f"{self.event_type_name} → {self.pipeline_id}/{self.stage_id}"


class ContactErasure(models.Model):
    """Outbox of HubSpot GDPR deletes (`manage.py forget_person`), drained by a worker, never sent inline.

    The email is needed to ask HubSpot (its GDPR delete identifies the contact by email, and blocklists an
    email it does not know); it is blanked once HubSpot confirmed, so only `email_hash` stays. Retried with
    the outbox's backoff, dead-lettered after HUBSPOT_MAX_ATTEMPTS, skipped in a dry run (no credentials)."""

    class State(models.TextChoices):
        PENDING = "pending"
        IN_FLIGHT = "in_flight", "in flight"
        DONE = "done"
        DEAD = "dead", "dead letter"
        SKIPPED = "skipped", "skipped (dry run)"

    email = models.EmailField(max_length=254, blank=True, help_text="Blanked once HubSpot confirmed the delete.")
    email_hash = models.CharField(max_length=64, db_index=True, help_text="As in bookings.Suppression.")
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    claimed_at = models.DateTimeField(null=True, blank=True)
    claim_token = models.UUIDField(null=True, blank=True, editable=False)
    last_status = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    done_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "HubSpot contact erasure"
        verbose_name_plural = "HubSpot contact erasures"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["next_attempt_at"], name="erasure_pending_due", condition=Q(state="pending"))]

    def __str__(self):
        return f"erasure {self.email_hash[:12]}… ({self.state})"


class Deal(models.Model):
    """A HubSpot deal of a contact who booked, read back for money reports (services/deal_read.py). Amount and
    currency as HubSpot holds them: never converted here. `archived`: deleted in HubSpot (found through the
    archived read), kept out of reports."""

    hubspot_id = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=255, blank=True)
    amount = models.DecimalField(max_digits=18, decimal_places=2, null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True, help_text="deal_currency_code; empty: the company currency.")
    stage = models.CharField(max_length=64, blank=True)
    pipeline = models.CharField(max_length=64, blank=True)
    closed_won = models.BooleanField(default=False)
    closed_lost = models.BooleanField(default=False)
    created_at = models.DateTimeField(null=True, blank=True, help_text="HubSpot createdate: credit goes to bookings before it.")
    closed_at = models.DateTimeField(null=True, blank=True)
    owner_id = models.CharField(max_length=32, blank=True)
    archived = models.BooleanField(default=False)
    modified_at = models.DateTimeField(null=True, blank=True, help_text="HubSpot hs_lastmodifieddate.")
    read_at = models.DateTimeField(auto_now=True)
    # The credited bookings (services/deal_credit.py: the rule), stored so reports join instead of searching:
    # the first and the last countable booking of the deal's contacts made before the deal was created, with
    # their booked_at (a report's period selects deals by it).
    first_booking = models.ForeignKey("bookings.Booking", null=True, blank=True, on_delete=models.SET_NULL,
                                      related_name="deals_first", editable=False)
    first_booked_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_booking = models.ForeignKey("bookings.Booking", null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="deals_last", editable=False)
    last_booked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        indexes = [
            models.Index(fields=["created_at"], name="deal_created_live", condition=Q(archived=False)),
            models.Index(fields=["first_booked_at"], name="deal_first_booked", condition=Q(archived=False)),
            models.Index(fields=["last_booked_at"], name="deal_last_booked", condition=Q(archived=False)),
        ]

    def __str__(self):
        return f"deal {self.hubspot_id} {self.name}"


class DealContact(models.Model):
    """A deal's association with a HubSpot contact that booked, and that contact's email (from the bookings synced
    to it): the email is how a deal finds its bookings."""

    deal = models.ForeignKey(Deal, on_delete=models.CASCADE, related_name="contacts")
    hubspot_contact_id = models.CharField(max_length=32)
    email = models.EmailField(max_length=254)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["deal", "hubspot_contact_id"], name="deal_contact_once")]
        indexes = [models.Index(fields=["email"], name="deal_contact_email")]


class DealSyncState(models.Model):
    """One row: the deal read's cursor (the hs_lastmodifieddate watermark already read), its failures (retried
    with the outbox's backoff, `dead` after HUBSPOT_MAX_ATTEMPTS in a row, shown by /healthz), and the portal's
    currencies (company currency, rates to it)."""

    name = models.CharField(max_length=32, unique=True, default="deals")
    cursor = models.DateTimeField(null=True, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    failures = models.PositiveIntegerField(default=0)
    dead = models.BooleanField(default=False, help_text="Failed HUBSPOT_MAX_ATTEMPTS times in a row: needs a look.")
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    company_currency = models.CharField(max_length=3, blank=True)
    exchange_rates = models.JSONField(default=dict, blank=True, help_text="{code: rate to the company currency}")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"deal read (cursor {self.cursor})"


class PropertyMapping(models.Model):
    """What Sourcebook writes to HubSpot, edited in the admin: a Sourcebook field onto a HubSpot contact or deal
    property, under a policy. `always` overwrites, `if_empty` writes only when HubSpot's current value is empty (read
    in the same batch pass), `never` sends nothing. `portal_has`: whether the portal has the property (refreshed by
    hubspot_setup and when HubSpot answers PROPERTY_DOESNT_EXIST); a property it lacks is skipped, never a dead letter."""

    class Object(models.TextChoices):
        CONTACTS = "contacts"
        DEALS = "deals"

    class Policy(models.TextChoices):
        ALWAYS = "always"
        IF_EMPTY = "if_empty", "only if empty"
        NEVER = "never"

    object_type = models.CharField(max_length=16, choices=Object.choices)
    sourcebook_field = models.CharField(max_length=64, help_text="What Sourcebook knows (see the README's field list).")
    hubspot_property = models.CharField(max_length=100, help_text="Internal name of the HubSpot property, e.g. phone.")
    policy = models.CharField(max_length=16, choices=Policy.choices, default=Policy.ALWAYS)
    portal_has = models.BooleanField(null=True, blank=True, editable=False,
                                     help_text="Whether the portal has this property (unknown until hubspot_setup ran).")
    checked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["object_type", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["object_type", "sourcebook_field"], name="mapping_field_once"),
            models.UniqueConstraint(fields=["object_type", "hubspot_property"], name="mapping_property_once"),
        ]

    def __str__(self):
        return f"{self.object_type}: {self.sourcebook_field} → {self.hubspot_property} ({self.get_policy_display()})"


class HubspotOwner(models.Model):
    """HubSpot's owners (users who can own records), read from the owners API and refreshed daily by beat: a Calendly
    host's email finds its owner here."""

    owner_id = models.CharField(max_length=32, unique=True)
    email = models.EmailField(max_length=254, db_index=True)
    name = models.CharField(max_length=255, blank=True)
    refreshed_at = models.DateTimeField()

    def __str__(self):
        return f"{self.email} ({self.owner_id})"


class DealCredit(models.Model):
    """A deal as the reports count it, one row per attribution model (services/deal_credit.py writes them with the
    credit): the credited booking's booked_at and its report values under that model, beside the deal's money.
    Money reports read only this table (one index range per period), never the bookings."""

    deal = models.ForeignKey(Deal, on_delete=models.CASCADE, related_name="credits")
    model = models.CharField(max_length=16)  # booking | first_touch | last_non_direct
    booking = models.ForeignKey("bookings.Booking", on_delete=models.CASCADE, related_name="deal_credits")
    booked_at = models.DateTimeField()
    status = models.CharField(max_length=16)
    channel = models.CharField(max_length=64)
    source = models.CharField(max_length=255)
    medium = models.CharField(max_length=255)
    campaign = models.CharField(max_length=255)
    event_type_name = models.CharField(max_length=255)
    self_reported_source = models.CharField(max_length=255)
    first_touch_landing_path = models.CharField(max_length=512)
    amount = models.DecimalField(max_digits=18, decimal_places=2, null=True)
    currency = models.CharField(max_length=3)
    closed_won = models.BooleanField()
    closed_lost = models.BooleanField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["deal", "model"], name="deal_credit_once")]
        indexes = [models.Index(fields=["model", "booked_at"], name="deal_credit_period",
                                include=["channel", "source", "medium", "campaign", "status", "event_type_name",
                                         "currency", "amount", "closed_won", "closed_lost"])]

    def __str__(self):
        return f"{self.deal_id} under {self.model}"


MONEY_DIMENSIONS = ("status", "channel", "source", "medium", "campaign", "event_type_name", "self_reported_source",
                    "first_touch_landing_path", "currency")  # DealCredit's report values: a money rollup row's key
MONEY_SUMS = ("deals", "won", "lost", "pipeline", "revenue")  # what a money rollup row sums


class MoneyRow(models.Model):
    """Deals credited per day (the credited booking's booked_at in TIME_ZONE), attribution model and report values,
    summed (services/money_rollup.py)."""

    day = models.DateField()
    model = models.CharField(max_length=16)  # booking | first_touch | last_non_direct: every model has all its deals
    status = models.CharField(max_length=16)
    channel = models.CharField(max_length=64)
    source = models.CharField(max_length=255)
    medium = models.CharField(max_length=255)
    campaign = models.CharField(max_length=255)
    event_type_name = models.CharField(max_length=255)
    self_reported_source = models.CharField(max_length=255)
    first_touch_landing_path = models.CharField(max_length=512)
    currency = models.CharField(max_length=3)
    deals = models.IntegerField(default=0)
    won = models.IntegerField(default=0)
    lost = models.IntegerField(default=0)
    pipeline = models.DecimalField(max_digits=24, decimal_places=2, default=0)  # every deal's amount (none: 0)
    revenue = models.DecimalField(max_digits=24, decimal_places=2, default=0)  # closed-won deals' amounts

    class Meta:
        abstract = True


class MoneyStat(MoneyRow):
    """The daily money rollup: DealCredit rows summed per day and key, so a 90-day money report groups a few
    thousand rows instead of every credited deal. A PostgreSQL trigger on DealCredit appends signed deltas to
    MoneyStatDelta in the writer's transaction; `money_compact` folds them in here; reports read both (exact at
    any moment). Its unique key is a hash of the text columns (`key_hash`): together they can exceed a btree
    entry's size limit."""

    key_hash = models.UUIDField()  # md5 of ROW(MONEY_DIMENSIONS)::text (services/money_rollup.py)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["model", "day", "key_hash"], name="moneystat_key")]


class MoneyStatDelta(MoneyRow):
    """Signed rows appended by the DealCredit trigger (one per key and statement), folded into MoneyStat."""
