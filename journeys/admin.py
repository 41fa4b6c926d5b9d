from urllib.parse import urlencode

from django.contrib import admin
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from bookings.admin import BookingAdmin
from bookings.models import Booking
from journeys.models import Touch, TrackedLink
from journeys.selectors import booking_visitor_ids, journey_get


@admin.register(Touch)
class TouchAdmin(admin.ModelAdmin):
    list_display = ("at", "visitor_id", "kind", "channel", "source", "medium", "campaign", "landing_path", "referrer_host")
    list_filter = ("kind", "channel")
    search_fields = ("=visitor_id", "campaign")
    date_hierarchy = "at"
    readonly_fields = [f.name for f in Touch._meta.fields]
    list_select_related = ("link",)

    def has_add_permission(self, request):
        return False


@admin.register(TrackedLink)
class TrackedLinkAdmin(admin.ModelAdmin):
    list_display = ("slug", "destination", "utm_source", "utm_medium", "utm_campaign", "click_count", "owner", "created_at")
    search_fields = ("slug", "destination", "utm_campaign")
    readonly_fields = ("click_count", "created_at")
    list_select_related = ("owner",)


# The journey timeline on the booking's admin page, and a "person" link in the booking list. One-way arrows:
# bookings must not import journeys (journeys imports bookings), so journeys extends the Booking admin here,
# after bookings/admin.py registered it (admin autodiscovery follows INSTALLED_APPS: bookings before journeys).
# Fieldsets, filters and fields the Booking admin gains later are kept: this class only appends.
class BookingWithJourneyAdmin(BookingAdmin):
    fieldsets = BookingAdmin.fieldsets + (
        ("Journey", {"fields": ("journey_timeline",),
                     "description": "Every visit and tracked-link click of this person's visitor ids, and their "
                                    "bookings, oldest first (times in the server's time zone)."}),
    )
    readonly_fields = [*BookingAdmin.readonly_fields, "journey_timeline"]
    list_display = (*BookingAdmin.list_display, "person_link")

    @admin.display(description="journey")
    def journey_timeline(self, obj):
        if obj is None or obj.pk is None:
            return "—"
        journey = journey_get(email=obj.email, visitor_id="" if obj.email else (booking_visitor_ids(obj) or [""])[0])
        for event in journey["events"]:
            if event["type"] == "booking":
                event["current"] = event["invitee_uri"] == obj.invitee_uri
        html = render_to_string("journeys/_timeline.html", {"events": journey["events"]})
        url = _person_url(obj)
        link = format_html('<p><a href="{}" id="person-link">Person page: all bookings and the journey →</a></p>', url) if url else ""
        return format_html("{}{}", link, mark_safe(html))  # noqa: S308 - the template autoescapes every value

    @admin.display(description="person")
    def person_link(self, obj):
        url = _person_url(obj)
        return format_html('<a href="{}">journey →</a>', url) if url else "—"


def _person_url(booking) -> str:
    if booking.email:
        return reverse("dashboard-person") + "?" + urlencode({"email": booking.email})
    ids = booking_visitor_ids(booking)
    return reverse("dashboard-person") + "?" + urlencode({"visitor_id": ids[0]}) if ids else ""


admin.site.unregister(Booking)
admin.site.register(Booking, BookingWithJourneyAdmin)
