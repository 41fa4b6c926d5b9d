import json

from django.contrib import admin
from django.utils.html import format_html

from hubspot_sync.models import BookingSync, DealRule, HubspotConnection
from hubspot_sync.services import outbox


def _pretty(value) -> str:
    if value in (None, ""):
        return "—"
    return format_html("<pre style='white-space:pre-wrap;max-width:70em'>{}</pre>", json.dumps(value, indent=2, default=str))


@admin.register(BookingSync)
class BookingSyncAdmin(admin.ModelAdmin):
    """The HubSpot queue and its dead letters: what was sent, what HubSpot answered, retry or discard."""

    list_display = ("booking", "state", "attempts", "last_status", "short_error", "next_attempt_at", "synced_at")
    list_filter = ("state", "last_status")
    search_fields = ("booking__email", "booking__invitee_uri")
    list_select_related = ("booking",)
    show_full_result_count = False
    actions = ["retry", "discard"]
    readonly_fields = ("booking", "state", "version", "claimed_version", "synced_version", "attempts", "next_attempt_at",
                       "claimed_at", "synced_at", "meeting_create_uncertain", "last_status", "last_error",
                       "request_body", "response_body")
    exclude = ("last_request", "last_response")

    @admin.display(description="error")
    def short_error(self, obj):
        return (obj.last_error or "")[:80]

    @admin.display(description="request sent")
    def request_body(self, obj):
        return _pretty(obj.last_request)

    @admin.display(description="HubSpot's response")
    def response_body(self, obj):
        return _pretty(obj.last_response)

    @admin.action(description="Retry selected (fresh attempt budget)")
    def retry(self, request, queryset):
        n = outbox.sync_retry_dead(booking_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"{n} queued again for HubSpot.")

    @admin.action(description="Discard selected dead letters")
    def discard(self, request, queryset):
        n = outbox.sync_discard(booking_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"{n} dead letters discarded.")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(HubspotConnection)
class HubspotConnectionAdmin(admin.ModelAdmin):
    """Shows whether HubSpot is reachable with our credentials; tokens are never displayed."""

    list_display = ("name", "state", "expires_at", "token_version", "broken_reason")
    fields = ("name", "state", "broken_reason", "expires_at", "token_version", "access_token_hint", "refresh_token_hint")
    readonly_fields = ("name", "expires_at", "token_version", "access_token_hint", "refresh_token_hint", "broken_reason")

    @admin.display(description="access token")
    def access_token_hint(self, obj):
        return "set (hidden)" if obj.access_token else "not set"

    @admin.display(description="refresh token")
    def refresh_token_hint(self, obj):
        return "set (hidden)" if obj.refresh_token else "not set"

    def has_add_permission(self, request):
        return False


@admin.register(DealRule)
class DealRuleAdmin(admin.ModelAdmin):
    list_display = ("event_type_name", "enabled", "pipeline_id", "stage_id")
    list_filter = ("enabled",)
