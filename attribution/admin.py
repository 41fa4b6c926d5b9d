from django.contrib import admin, messages

from attribution.models import Alias, BannedValue, ChannelRule, SourceCategory
from attribution.ruleset import ruleset_changed
from attribution.services import bookings_reattribute
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
    result = bookings_reattribute()
    moves = ", ".join(f"{old} → {new}: {n}" for (old, new), n in sorted(result.moves.items(), key=lambda kv: -kv[1])[:8])
    modeladmin.message_user(
        request, f"{result.changed} of {result.examined} bookings changed. {moves or 'No booking changed channel.'}"
    )


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
