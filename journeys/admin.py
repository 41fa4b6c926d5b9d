from django.contrib import admin

from journeys.models import Touch, TrackedLink


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
