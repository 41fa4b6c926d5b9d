from django import forms
from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html

from attribution.dashboard import known_values
from attribution.models import Alias, BannedValue, ChannelRule, DemoEventType, ReattributeJob, SourceCategory
from attribution.ruleset import ruleset_changed
from attribution.services import reattribute_job_start
from project.request_guard import admin_lookup_parses


class RulesAdmin(admin.ModelAdmin):
    """Every edit bumps the rules version; existing bookings move only when someone re-attributes."""

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        ruleset_changed()
        messages.info(request, "Rules changed. New bookings use them now; run “Re-attribute bookings” to apply them to history.")

    def lookup_allowed(self, lookup, value, request=None):
        return admin_lookup_parses(self.model, lookup) and super().lookup_allowed(lookup, value, request)

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        ruleset_changed()

    def delete_queryset(self, request, queryset):
        super().delete_queryset(request, queryset)
        ruleset_changed()


@admin.action(description="Re-attribute all bookings with the current rules")
def reattribute_bookings(modeladmin, request, queryset):
    """Only queues the job (a worker runs it batch by batch); its progress is on the job's admin page."""
    job, created = reattribute_job_start(user=request.user)
    url = reverse("admin:attribution_reattributejob_change", args=[job.pk])
    if created:
        modeladmin.message_user(request, format_html(
            "Re-attribution #{} queued: a worker applies the current rules batch by batch. "
            "<a href=\"{}\">Follow its progress</a>.", job.pk, url))
    else:
        modeladmin.message_user(request, format_html(
            "Re-attribution #{} is already {} ({}%); it applies the current rules, edits made meanwhile included. "
            "<a href=\"{}\">Follow its progress</a>.", job.pk, job.state, job.percent, url), level=messages.WARNING)


@admin.register(ChannelRule)
class ChannelRuleAdmin(RulesAdmin):
    list_display = ("position", "channel", "enabled", "combine", "source_category", "source_values", "medium_values",
                    "medium_regex", "campaign_regex")
    list_display_links = ("channel",)
    list_editable = ("position", "enabled")
    list_filter = ("enabled", "combine")
    ordering = ("position", "id")
    actions = [reattribute_bookings]
    fieldsets = (
        (None, {"fields": ("position", "channel", "enabled", "combine", "note")}),
        ("Source", {"fields": ("source_category", "source_values", "source_regex")}),
        ("Medium", {"fields": ("medium_values", "medium_regex")}),
        ("Campaign", {"fields": ("campaign_regex",)}),
    )


@admin.register(Alias)
class AliasAdmin(RulesAdmin):
    list_display = ("field", "value", "canonical", "created_at")
    list_filter = ("field",)
    search_fields = ("value", "canonical")
    actions = [reattribute_bookings]


@admin.register(SourceCategory)
class SourceCategoryAdmin(RulesAdmin):
    list_display = ("name", "sources")


@admin.register(BannedValue)
class BannedValueAdmin(RulesAdmin):
    list_display = ("value", "reason")
    search_fields = ("value",)


def _moves_text(job: ReattributeJob, limit: int = 4) -> str:
    text = ", ".join(f"{old or '(none)'} → {new}: {n:,}" for old, new, n in job.moves[:limit])
    return text + (" …" if len(job.moves) > limit else "") if text else "–"


@admin.register(ReattributeJob)
class ReattributeJobAdmin(admin.ModelAdmin):
    """Read-only: jobs are started by the rules' admin action, the hygiene page or `manage.py reattribute`."""

    list_display = ("id", "state", "progress", "changed", "scope_display", "rules_version", "started_by", "created_at",
                    "finished_at", "moves_display")
    list_filter = ("state",)
    readonly_fields = ("state", "progress", "changed", "scope_display", "rules_version", "started_by", "created_at",
                       "started_at", "heartbeat_at", "finished_at", "moves_display", "error")
    fields = readonly_fields

    @admin.display(description="done / total")
    def progress(self, job):
        return f"{job.done:,} / {job.total:,} ({job.percent}%)"

    @admin.display(description="scope")
    def scope_display(self, job):
        return job.scope

    @admin.display(description="moves")
    def moves_display(self, job):
        return _moves_text(job)

    def has_view_permission(self, request, obj=None):
        # Whoever may see the dashboard (Marketing starts jobs) may follow them; no extra permission to hand out.
        return request.user.has_perm("attribution.view_dashboard") or super().has_view_permission(request, obj)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class DemoEventTypeForm(forms.ModelForm):
    """Pick from the event types bookings have (a typo would silently count nothing)."""

    class Meta:
        model = DemoEventType
        fields = ["name"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        known = known_values("event_type_name")
        if self.instance.name and self.instance.name not in known:
            known.append(self.instance.name)
        self.fields["name"] = forms.ChoiceField(choices=[(v, v) for v in known], label="Event type",
                                                help_text="Only bookings of the listed event types count on the dashboard "
                                                          "and in the digest. None listed: every event type counts.")


@admin.register(DemoEventType)
class DemoEventTypeAdmin(admin.ModelAdmin):
    form = DemoEventTypeForm
    list_display = ("name",)
