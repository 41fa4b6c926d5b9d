import json

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import JsonResponse
from django.urls import path, reverse
from django.utils import dateformat, timezone
from django.utils.html import format_html
from rangefilter.filters import DateRangeFilter

from attribution.dashboard import known_values
from attribution.models import DailyStat, DailyStatDelta, DemoEventType
from bookings.counting import COUNTABLE
from bookings.models import Booking, Suppression, WebhookDelivery
from bookings.selectors import booking_search
from bookings.services.intake import deliveries_replay
from project.pagination import EstimatedCountPaginator
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
    """A list filter whose choices are the dashboard's filter choices (attribution.dashboard.known_values: the
    daily rollup, cached a minute), not `SELECT DISTINCT` over every booking (~0.4 s each at 1M bookings). Same
    `<field>__exact` parameter as the dashboard's links. For dimensions with few values (channel, event type);
    source, medium and campaign use `RollupValueFilter`."""
    class RollupChoicesFilter(admin.SimpleListFilter):
        parameter_name = f"{field}__exact"

        def lookups(self, request, model_admin):
            return [(v, v) for v in known_values(field)]

        def queryset(self, request, queryset):
            if self.value() is None:
                return queryset
            _refuse_nul(self.parameter_name, self.value())
            return queryset.filter(**{field: self.value()})

    RollupChoicesFilter.title = title
    RollupChoicesFilter.__name__ = f"{field.title().replace('_', '')}Filter"
    return RollupChoicesFilter


def rollup_values(field: str, *, containing: str, limit: int) -> list[str]:
    """Up to `limit` distinct values of a booking dimension containing `containing`, from the daily rollup."""
    values = set()
    for model in (DailyStat, DailyStatDelta):
        qs = model.objects.filter(model="booking")  # the bookings' own values, not their journeys' touches
        qs = qs.filter(**{f"{field}__icontains": containing}) if containing else qs
        values |= set(qs.values_list(field, flat=True).distinct().order_by(field)[:limit])
    return sorted(values)[:limit]


def _refuse_nul(parameter: str, value: str) -> None:
    if "\x00" in value:  # PostgreSQL text never holds NUL: a bad link, not a server error
        raise IncorrectLookupParameters(f"{parameter} contains a NUL character")


class RollupValueFilter(admin.ListFilter):
    """Source, medium and campaign: a text box with suggestions instead of one link per value, which is unusable
    with thousands of campaigns (and costs a scan of the rollup on every page view).

    Why not a package: the autocomplete-filter packages (django-admin-autocomplete-filter(s)) need a foreign key
    or a model admin with `search_fields` to query; source and campaign are plain text columns. So: an input whose
    <datalist> is filled as you type from a small JSON endpoint over the daily rollup (`BookingAdmin.values_view`,
    at most 20 values), by a static script (static/admin_sales/value_filter.js; no inline script, for the CSP).
    Without the script it still works: type the exact value. Same `<field>__exact` parameter as the dashboard's
    links. Subclasses set `field` and `title`."""

    field = ""
    parameter_name = ""
    template = "admin/bookings/value_filter.html"

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.parameter_name = f"{cls.field}__exact"

    def __init__(self, request, params, model, model_admin):
        super().__init__(request, params, model, model_admin)
        self.value = None
        if self.parameter_name in params:
            value = params.pop(self.parameter_name)
            value = value[-1] if isinstance(value, list) else value
            if value != "":  # an empty box submitted means "any"
                self.value = self.used_parameters[self.parameter_name] = value

    def has_output(self):
        return True

    def expected_parameters(self):
        return [self.parameter_name]

    def queryset(self, request, queryset):
        if self.value is None:
            return queryset
        _refuse_nul(self.parameter_name, self.value)
        return queryset.filter(**{self.field: self.value})

    def choices(self, changelist):
        keep = {k: v for k, v in changelist.params.items() if k not in (self.parameter_name, "p", "e")}
        yield {
            "field": self.field,
            "parameter": self.parameter_name,
            "value": self.value or "",
            "hidden": sorted(keep.items()),
            "clear_url": changelist.get_query_string(remove=[self.parameter_name]) if self.value is not None else "",
            "suggest_url": reverse("admin:bookings_booking_values") + f"?field={self.field}",
        }


class SourceFilter(RollupValueFilter):
    field, title = "source", "source"


class MediumFilter(RollupValueFilter):
    field, title = "medium", "medium"


class CampaignFilter(RollupValueFilter):
    field, title = "campaign", "campaign"


class StatusFilter(admin.SimpleListFilter):
    """The status as the list shows it: the old half of a reschedule is "Rescheduled", not "Canceled"."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [("active", "Active"), ("canceled", "Canceled"), ("rescheduled", "Rescheduled (moved to a new time)")]

    def queryset(self, request, queryset):
        match self.value():
            case "active":
                return queryset.filter(status=Booking.Status.ACTIVE, rescheduled=False)
            case "canceled":
                return queryset.filter(status=Booking.Status.CANCELED, rescheduled=False)
            case "rescheduled":
                return queryset.filter(rescheduled=True)
        return queryset


class CountedFilter(admin.SimpleListFilter):
    """What the dashboard counts: bookings/counting.py COUNTABLE (not the old half of a reschedule, only bookings
    with a booking date) and, when marketing listed the event types that count as demos, only those, unless an
    event type is chosen (as the dashboard does). Its "bookings →" links ask for `counted=yes`."""

    title = "counted on the dashboard"
    parameter_name = "counted"

    def lookups(self, request, model_admin):
        return [("yes", "Counted"), ("no", "Not counted (moved by a reschedule, no booking date, or not a demo)")]

    def queryset(self, request, queryset):
        if self.value() not in ("yes", "no"):
            return queryset
        counted = COUNTABLE
        demos = list(DemoEventType.objects.values_list("name", flat=True))
        if demos and "event_type_name__exact" not in request.GET:
            counted &= Q(event_type_name__in=demos)
        return queryset.filter(counted) if self.value() == "yes" else queryset.exclude(counted)


class BookedAtRangeFilter(DateRangeFilter):
    """From–to dates (inclusive) in settings.TIME_ZONE: `booked_at__range__gte` / `booked_at__range__lte`. The
    dashboard's `booked_at__gte` / `booked_at__lt` links keep working as plain lookups (see lookup_allowed)."""

    def __init__(self, field, request, params, model, model_admin, field_path):
        super().__init__(field, request, params, model, model_admin, field_path)
        self.title = {"booked_at": "booked", "start_time": "meeting date"}.get(field_path, self.title)


class BookingChangeList(ChangeList):
    """A year outside 1900–2100 in a `…__year` lookup is an incorrect lookup (the admin answers with its "?e=1"
    page), not the ORM's overflow past year 9999 (a 500 for `booked_at__year=9999&…month=12`)."""

    def get_filters(self, request):
        for name, values in request.GET.lists():
            if name.endswith("__year"):
                for year in values:
                    if not (year.isascii() and year.isdigit() and 1900 <= int(year) <= 2100):
                        raise IncorrectLookupParameters(f"year {year!r} is outside 1900–2100")
        return super().get_filters(request)


def _local(value) -> str:
    """A time in settings.TIME_ZONE with its label: "28 Nov 2026 14:05 CET" (it wraps, if it must, only between
    the date and the time)."""
    if value is None:
        return "—"
    local = timezone.localtime(value)
    return format_html('<span class="nowrap">{}</span> <span class="nowrap">{}</span>',
                       dateformat.format(local, "j M Y"), dateformat.format(local, "H:i T"))


# journeys/admin.py re-registers a subclass of this (the journey timeline): bookings never imports journeys.
@admin.register(Booking)
class BookingAdmin(ReadOnlyAdmin):
    # What sales reads, narrow enough for 1440 px beside the filters (source, medium and event type are filters
    # and on the booking's page); templates/admin/bookings/booking/change_list.html explains the count.
    list_display = ("email", "name", "status_shown", "channel", "campaign", "booked", "starts", "no_show",
                    "hubspot_state")
    list_filter = (CountedFilter, StatusFilter, rollup_choices_filter("channel", "channel"),
                   ("booked_at", BookedAtRangeFilter), ("start_time", BookedAtRangeFilter), SourceFilter,
                   MediumFilter, CampaignFilter, rollup_choices_filter("event_type_name", "event type"), "no_show",
                   "hubspot_state")
    search_fields = ("email",)  # booking_search (get_search_results) decides how; this only shows the box
    search_help_text = ("An email or its start, a domain (@acme.com or acme.com), a name's start, or a Calendly "
                        "invitee URI.")
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER  # a count per filter choice: millions of rows each
    paginator = EstimatedCountPaginator  # no COUNT(*) of every booking on each page view
    list_per_page = 50
    ordering = ("-booked_at", "-id")  # index booking_booked_at
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

    class Media:
        css = {"all": ["admin_sales/booking_list.css"]}
        js = ["admin_sales/value_filter.js"]

    def get_changelist(self, request, **kwargs):
        return BookingChangeList

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {"time_zone": timezone.get_current_timezone_name(), **(extra_context or {})})

    def get_urls(self):
        values = path("values/", self.admin_site.admin_view(self.values_view), name="bookings_booking_values")
        return [values, *super().get_urls()]

    def values_view(self, request):
        """Suggestions for the source, medium and campaign filters: up to 20 rollup values containing `q`."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        field = request.GET.get("field", "")
        if field not in ("source", "medium", "campaign"):
            return JsonResponse({"error": "field must be source, medium or campaign"}, status=400)
        term = request.GET.get("q", "")[:255].replace("\x00", "")
        return JsonResponse({"values": rollup_values(field, containing=term, limit=20)})

    def get_search_results(self, request, queryset, search_term):
        return booking_search(queryset, search_term), False

    def lookup_allowed(self, lookup, value, request=None):
        # The dashboard links here with exact attribution filters and the booked range.
        if lookup in ("booked_at__gte", "booked_at__lt"):
            return True
        return admin_lookup_parses(self.model, lookup) and super().lookup_allowed(lookup, value, request)

    @admin.display(description="status", ordering="status")
    def status_shown(self, obj):
        if obj.rescheduled:
            return "Rescheduled"
        return obj.get_status_display().capitalize()

    @admin.display(description="booked", ordering="booked_at")
    def booked(self, obj):
        return _local(obj.booked_at)

    @admin.display(description="meeting", ordering="start_time")
    def starts(self, obj):
        return _local(obj.start_time)

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
