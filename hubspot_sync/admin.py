import json

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from hubspot_sync.mapping import FIELD_BY_KEY
from hubspot_sync.models import (
    BookingSync, ContactErasure, Deal, DealContact, DealRule, DealSyncState, HubspotConnection, HubspotOwner, PropertyMapping,
)
from hubspot_sync.services import erasure, outbox
from hubspot_sync.services.connection import ReconnectFailed, connection_reconnect
from hubspot_sync.services.mapping import PROPERTY_NAME, mapping_edited


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


@admin.register(ContactErasure)
class ContactErasureAdmin(admin.ModelAdmin):
    """GDPR deletes queued by `forget_person`: sent by a worker, retried, dead-lettered. The email is shown
    to no one (it is blanked once HubSpot confirmed); the hash identifies the row."""

    list_display = ("id", "hash_hint", "state", "attempts", "last_status", "short_error", "next_attempt_at", "created_at",
                    "done_at")
    list_filter = ("state", "last_status")
    search_fields = ("=email_hash",)
    show_full_result_count = False
    actions = ["retry"]
    fields = ("email_hash", "state", "attempts", "next_attempt_at", "claimed_at", "last_status", "last_error",
              "created_at", "done_at")
    readonly_fields = fields

    @admin.display(description="email hash")
    def hash_hint(self, obj):
        return f"{obj.email_hash[:16]}…"

    @admin.display(description="error")
    def short_error(self, obj):
        return (obj.last_error or "")[:80]

    @admin.action(description="Retry selected (dead letters and dry-run rows, fresh attempt budget)")
    def retry(self, request, queryset):
        n = erasure.erasure_retry(ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"{n} erasures queued again for HubSpot.")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return request.user.has_perm("hubspot_sync.change_contacterasure")  # needed for the retry action

    def has_delete_permission(self, request, obj=None):
        return False


class ReconnectForm(forms.Form):
    refresh_token = forms.CharField(required=False, strip=True, widget=forms.PasswordInput(render_value=False),
                                    help_text="A new OAuth refresh token.")
    code = forms.CharField(required=False, strip=True, label="Authorization code",
                           help_text="Or: the code HubSpot returned after re-authorizing the app.")
    redirect_uri = forms.URLField(required=False, assume_scheme="https", label="Redirect URI", help_text="The redirect URI the code was issued for.")

    def clean(self):
        data = super().clean()
        if not data.get("refresh_token") and not data.get("code"):
            raise forms.ValidationError("Give a refresh token or an authorization code.")
        if data.get("code") and not data.get("redirect_uri"):
            raise forms.ValidationError("An authorization code needs its redirect URI.")
        return data


@admin.register(HubspotConnection)
class HubspotConnectionAdmin(admin.ModelAdmin):
    """Shows whether HubSpot is reachable with our credentials; tokens are never displayed. A broken
    connection is reconnected here (or with `manage.py hubspot_connect`), never by editing rows."""

    list_display = ("name", "state", "expires_at", "token_version", "daily_limit_until", "broken_reason")
    fields = ("name", "state", "broken_reason", "reconnect_link", "expires_at", "token_version", "portal_time_zone",
              "daily_limit_until", "access_token_hint", "refresh_token_hint")
    readonly_fields = ("name", "expires_at", "token_version", "access_token_hint", "refresh_token_hint", "broken_reason",
                       "reconnect_link", "portal_time_zone", "daily_limit_until")
    actions = ["reconnect"]

    @admin.display(description="access token")
    def access_token_hint(self, obj):
        return "set (hidden)" if obj.access_token else "not set"

    @admin.display(description="refresh token")
    def refresh_token_hint(self, obj):
        return "set (hidden)" if obj.refresh_token else "not set"

    @admin.display(description="reconnect")
    def reconnect_link(self, obj):
        if not obj.pk:
            return "—"
        return format_html('<a href="{}">Reconnect HubSpot…</a>', reverse("admin:hubspot_sync_hubspotconnection_reconnect",
                                                                           args=[obj.pk]))

    @admin.action(description="Reconnect HubSpot (new refresh token or authorization code)")
    def reconnect(self, request, queryset):
        conn = queryset.first()
        if conn is not None:
            return redirect("admin:hubspot_sync_hubspotconnection_reconnect", conn.pk)

    def get_urls(self):
        return [path("<int:pk>/reconnect/", self.admin_site.admin_view(self.reconnect_view),
                     name="hubspot_sync_hubspotconnection_reconnect")] + super().get_urls()

    def reconnect_view(self, request, pk):
        conn = get_object_or_404(HubspotConnection, pk=pk)
        if not self.has_change_permission(request, conn):
            raise PermissionDenied
        token_mode = bool(settings.HUBSPOT_ACCESS_TOKEN)
        form = ReconnectForm(request.POST or None)
        if request.method == "POST" and (token_mode or form.is_valid()):
            data = form.cleaned_data if not token_mode else {}
            try:
                conn = connection_reconnect(refresh_token=data.get("refresh_token", ""), code=data.get("code", ""),
                                            redirect_uri=data.get("redirect_uri", ""))
            except ReconnectFailed as exc:
                if token_mode:
                    messages.error(request, str(exc))
                else:
                    form.add_error(None, str(exc))
            else:
                self.message_user(request, f"HubSpot connection is {conn.state} again.", messages.SUCCESS)
                return redirect("admin:hubspot_sync_hubspotconnection_change", conn.pk)
        context = {**self.admin_site.each_context(request), "title": "Reconnect HubSpot", "form": form,
                   "connection": conn, "token_mode": token_mode, "opts": self.model._meta}
        return TemplateResponse(request, "admin/hubspot_sync/hubspotconnection/reconnect.html", context)

    def has_add_permission(self, request):
        return False


@admin.register(DealRule)
class DealRuleAdmin(admin.ModelAdmin):
    list_display = ("event_type_name", "enabled", "pipeline_id", "stage_id")
    list_filter = ("enabled",)


class DealContactInline(admin.TabularInline):
    model = DealContact
    extra = 0
    can_delete = False
    readonly_fields = ["hubspot_contact_id", "email"]


@admin.register(Deal)
class DealAdmin(admin.ModelAdmin):
    """Read back from HubSpot (hubspot_sync/services/deal_read.py): read-only here, HubSpot is the source."""

    list_display = ["hubspot_id", "name", "amount", "currency", "stage", "closed_won", "closed_lost", "created_at", "archived"]
    list_filter = ["closed_won", "closed_lost", "archived", "currency", "pipeline"]
    search_fields = ["hubspot_id", "name", "contacts__email"]
    inlines = [DealContactInline]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(DealSyncState)
class DealSyncStateAdmin(admin.ModelAdmin):
    """The deal read's cursor and failures (also in /healthz/details as `deal_read`)."""

    list_display = ["name", "cursor", "last_run_at", "failures", "dead", "next_attempt_at", "company_currency"]
    readonly_fields = ["name", "cursor", "last_run_at", "failures", "dead", "next_attempt_at", "last_error",
                       "company_currency", "exchange_rates", "updated_at"]

    def has_add_permission(self, request):
        return False


class PropertyMappingForm(forms.ModelForm):
    class Meta:
        model = PropertyMapping
        fields = ("hubspot_property", "policy")

    def clean_hubspot_property(self):
        """HubSpot's internal property names: lower case letters, digits and underscores, starting with a letter."""
        name = (self.cleaned_data.get("hubspot_property") or "").strip()
        if not PROPERTY_NAME.fullmatch(name):
            raise forms.ValidationError("A HubSpot internal property name: lower-case letters, digits and _, starting with "
                                        "a letter (e.g. phone, sourcebook_last_channel).")
        taken = PropertyMapping.objects.filter(object_type=self.instance.object_type, hubspot_property=name)
        if taken.exclude(pk=self.instance.pk).exists():
            raise forms.ValidationError("Another Sourcebook field already writes to this property.")
        return name


@admin.register(PropertyMapping)
class PropertyMappingAdmin(admin.ModelAdmin):
    """What Sourcebook writes to HubSpot: one row per Sourcebook field, its HubSpot property and policy (always /
    only if empty / never). "Not set up": the portal lacks the property; `manage.py hubspot_setup` creates it, and
    until then the sync leaves it out."""

    form = PropertyMappingForm
    list_display = ("sourcebook_field", "field_label", "object_type", "hubspot_property", "policy", "setup_status")
    list_editable = ("hubspot_property", "policy")
    list_filter = ("object_type", "policy", "portal_has")
    fields = ("object_type", "sourcebook_field", "field_label", "hubspot_property", "policy", "setup_status", "checked_at")
    readonly_fields = ("object_type", "sourcebook_field", "field_label", "setup_status", "checked_at")

    @admin.display(description="what it is")
    def field_label(self, obj):
        field = FIELD_BY_KEY.get((obj.object_type, obj.sourcebook_field))
        return field.label if field else "(unknown field: written by no release)"

    @admin.display(description="in HubSpot")
    def setup_status(self, obj):
        if obj.portal_has is None:
            return "not checked (run hubspot_setup)"
        return "set up" if obj.portal_has else "not set up"

    def save_model(self, request, obj, form, change):
        mapping_edited(mapping=obj, changed=form.changed_data)

    def has_add_permission(self, request):
        return False  # one row per Sourcebook field, installed by the migration

    def has_delete_permission(self, request, obj=None):
        return False  # set the policy to "never" instead


@admin.register(HubspotOwner)
class HubspotOwnerAdmin(admin.ModelAdmin):
    """HubSpot's owners as last read (daily, and by hubspot_setup): a Calendly host's email finds its owner here."""

    list_display = ("email", "owner_id", "name", "refreshed_at")
    search_fields = ("email", "owner_id", "name")
    readonly_fields = ("email", "owner_id", "name", "refreshed_at")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
