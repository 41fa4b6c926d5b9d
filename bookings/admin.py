import json

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ChangeList
from django.urls import reverse
from django.utils.html import format_html

from attribution.models import DailyStat, DailyStatDelta
from bookings.models import Booking, Suppression, WebhookDelivery
from bookings.services.intake import deliveries_replay
from project.request_guard import admin_lookup_parses


def _pretty_json(value) -> str:
    return format_html("<pre style='white-space:pre-wrap;max-width:80em'>{}</pre>", json.dumps(value, indent=2, ensure_ascii=False))


class ReadOnlyAdmin(admin.ModelAdmin):
    """Derived data: visible to sales, editable by no one (it is re-derived from deliveries)."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser


def rollup_choices_filter(field: str, title: str) -> type[admin.SimpleListFilter]:
    """A list filter whose choices come from the small daily rollup, not `SELECT DISTINCT` over every
    booking (~0.4 s each at 1M bookings). Same `<field>__exact` parameter as the dashboard's links."""
    class RollupChoicesFilter(admin.SimpleListFilter):
        parameter_name = f"{field}__exact"

        def lookups(self, request, model_admin):
            values = set(DailyStat.objects.values_list(field, flat=True).distinct())
            values |= set(DailyStatDelta.objects.values_list(field, flat=True).distinct())  # not yet compacted
            return [(v, v or "(empty)") for v in sorted(values)]

        def queryset(self, request, queryset):
            if self.value() is None:
                return queryset
            if "\x00" in self.value():  # PostgreSQL text never holds NUL: a bad link, not a server error
                raise IncorrectLookupParameters(f"{self.parameter_name} contains a NUL character")
            return queryset.filter(**{field: self.value()})

    RollupChoicesFilter.title = title
    RollupChoicesFilter.__name__ = f"{field.title().replace('_', '')}Filter"
    return RollupChoicesFilter


class BoundedDateHierarchyChangeList(ChangeList):
    """Django's date hierarchy overflows past year 9999 (a 500 for `booked_at__year=9999&…month=12`):
    a year outside 1900–2100 is an incorrect lookup (the admin answers with its "?e=1" page)."""

    def get_filters(self, request):
        if self.date_hierarchy:
            for year in request.GET.getlist(f"{self.date_hierarchy}__year"):
                if not (year.isascii() and year.isdigit() and 1900 <= int(year) <= 2100):
                    raise IncorrectLookupParameters(f"year {year!r} is outside 1900–2100")
        return super().get_filters(request)


# journeys/admin.py re-registers a subclass of this (the journey timeline): bookings never imports journeys.
@admin.register(Booking)
class BookingAdmin(ReadOnlyAdmin):
    list_display = ("email", "name", "status", "channel", "source", "medium", "campaign", "event_type_name",
                    "booked_at", "start_time", "no_show", "rescheduled", "hubspot_state")
    list_filter = ("status", rollup_choices_filter("channel", "channel"), rollup_choices_filter("event_type_name", "event type"),
                   ("booked_at", admin.DateFieldListFilter), ("start_time", admin.DateFieldListFilter), "no_show",
                   "rescheduled", "hubspot_state", rollup_choices_filter("medium", "medium"),
                   rollup_choices_filter("source", "source"), rollup_choices_filter("campaign", "campaign"))
    search_fields = ("email", "name", "campaign", "source", "invitee_uri")
    date_hierarchy = "booked_at"
    list_select_related = ("rescheduled_from",)
    show_full_result_count = False
    list_per_page = 50
    fieldsets = (
        ("Invitee", {"fields": ("email", "name", "status", "event_type_name", "start_time", "end_time", "timezone",
                                "booked_at", "no_show", "no_show_marked_at")}),
        ("Attribution", {"fields": ("channel", "source", "medium", "campaign", "content", "term", "visitor_id",
                                    "self_reported_source", "self_reported_raw", "attribution_flags", "rules_version")}),
        ("Cancellation and reschedule", {"fields": ("canceled_at", "canceled_by", "canceler_type", "cancel_reason",
                                                    "rescheduled", "rescheduled_from_link", "new_invitee_uri")}),
        ("HubSpot", {"fields": ("hubspot_state", "hubspot_contact_id", "hubspot_meeting_id")}),
        ("Raw", {"fields": ("invitee_uri", "event_uri", "deliveries_link", "tracking_pretty", "answers_pretty",
                            "last_event_at", "created_at", "updated_at")}),
    )
    readonly_fields = [f for fs in fieldsets for f in fs[1]["fields"]]

    def get_changelist(self, request, **kwargs):
        return BoundedDateHierarchyChangeList

    def lookup_allowed(self, lookup, value, request=None):
        # The dashboard links here with exact attribution filters and the booked range.
        if lookup in ("booked_at__gte", "booked_at__lt"):
            return True
        return admin_lookup_parses(self.model, lookup) and super().lookup_allowed(lookup, value, request)

    @admin.display(description="tracking (raw)")
    def tracking_pretty(self, obj):
        return _pretty_json(obj.tracking)

    @admin.display(description="questions and answers")
    def answers_pretty(self, obj):
        return _pretty_json(obj.questions_and_answers)

    @admin.display(description="deliveries")
    def deliveries_link(self, obj):
        url = reverse("admin:bookings_webhookdelivery_changelist") + f"?invitee_uri={obj.invitee_uri}"
        return format_html('<a href="{}">Webhook deliveries for this booking</a>', url)

    @admin.display(description="rescheduled from")
    def rescheduled_from_link(self, obj):
        if not obj.rescheduled_from_id:
            return "—"
        url = reverse("admin:bookings_booking_change", args=[obj.rescheduled_from_id])
        return format_html('<a href="{}">{}</a>', url, obj.rescheduled_from)


@admin.action(description="Replay selected deliveries (re-derive their bookings; rejected ones are re-verified "
                           "with today's signing keys)", permissions=["change"])
def replay(modeladmin, request, queryset):
    counts = deliveries_replay(queryset=queryset, reverify_rejected=True)
    summary = ", ".join(f"{n} {state}" for state, n in sorted(counts.items())) or "nothing to replay"
    modeladmin.message_user(request, f"Replayed: {summary}.")


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = ("id", "received_at", "origin", "event_type", "state", "signature_valid", "invitee_uri", "attempts", "short_error")
    list_filter = ("state", "origin", "event_type", "signature_valid")
    search_fields = ("=invitee_uri",)
    show_full_result_count = False
    actions = [replay]
    fields = ("received_at", "origin", "remote_addr", "state", "signature_valid", "signature_error", "event_type",
              "invitee_uri", "booking_link", "attempts", "processed_at", "error", "traceback", "headers_pretty",
              "body_size", "body_sha256", "body_kept", "body_pretty")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).defer("body", "traceback")

    def get_object(self, request, object_id, from_field=None):
        if not (object_id.isascii() and object_id.isdigit()):  # /admin/…/webhookdelivery/abc/change/: "doesn't exist"
            return None
        return WebhookDelivery.objects.filter(pk=object_id).first()

    def lookup_allowed(self, lookup, value, request=None):
        return lookup == "invitee_uri" or super().lookup_allowed(lookup, value, request)

    def has_change_permission(self, request, obj=None):
        # Needed for actions (replay) on the list; the form itself is read-only.
        return request.user.has_perm("bookings.change_webhookdelivery")

    @admin.display(description="error")
    def short_error(self, obj):
        return (obj.error or "")[:80]

    @admin.display(description="body")
    def body_pretty(self, obj):
        text = obj.body_text
        try:
            return _pretty_json(json.loads(text))
        except (ValueError, RecursionError):  # not JSON, or nested too deep to parse/indent: shown as received
            return format_html("<pre style='white-space:pre-wrap'>{}</pre>", text)

    @admin.display(description="body kept")
    def body_kept(self, obj):
        kept = len(obj.body)
        if obj.body_size is None or obj.body_size == kept:
            return "whole body"
        return f"first {kept} of {obj.body_size} bytes (a rejected delivery keeps at most 16 KiB)"

    @admin.display(description="headers")
    def headers_pretty(self, obj):
        return _pretty_json(obj.headers)

    @admin.display(description="booking")
    def booking_link(self, obj):
        booking = Booking.objects.filter(invitee_uri=obj.invitee_uri).only("id").first() if obj.invitee_uri else None
        if booking is None:
            return "—"
        return format_html('<a href="{}">booking #{}</a>', reverse("admin:bookings_booking_change", args=[booking.pk]), booking.pk)


@admin.register(Suppression)
class SuppressionAdmin(ReadOnlyAdmin):
    """Forgotten people (`manage.py forget_person`): only the HMAC of each email is kept. Deleting an entry lets
    that person's data in again; only a superuser may."""

    list_display = ("email_hash", "created_at", "note")
    search_fields = ("=email_hash",)
    show_full_result_count = False
    fields = ("email_hash", "created_at", "note")
    readonly_fields = fields
