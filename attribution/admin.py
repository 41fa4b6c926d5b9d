from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.db.models import Count
from django.http import HttpResponseRedirect
from django.templatetags.static import static
from django.urls import reverse
from django.utils.html import format_html
from import_export.admin import ImportExportMixin
from import_export.formats.base_formats import CSV
from import_export.forms import ConfirmImportForm, ImportForm
from import_export.tmp_storages import CacheStorage
from rangefilter.filters import DateRangeFilter

from attribution.dashboard import known_values
from attribution.models import (Alias, BannedValue, ChannelRule, DemoEventType, ReattributeJob, SourceCategory, Spend,
                                SpendImport)
from attribution.resources import SpendResource
from attribution.ruleset import ruleset_changed
from attribution.services import reattribute_job_start, spend_dataset, spend_import_undo
from attribution.spend_csv import MAX_FILE_BYTES, MAX_ROWS, SpendFileError
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


# --- spend uploads ---------------------------------------------------------------------------------


class SpendUploadExpired(Exception):
    """The uploaded file kept between the preview and the confirmation is gone (expired, or a forged name)."""


class SpendUploadStorage(CacheStorage):
    """The file between preview and confirmation, in the shared cache (every web worker sees it), for an hour."""

    CACHE_LIFETIME = 3600

    def read(self):
        data = super().read()
        if data is None:
            raise SpendUploadExpired
        return data


class SpendImportForm(ImportForm):
    """The upload step: a file that can't be a spend CSV (too large, NUL bytes, not UTF-8, columns missing) gets a
    form error saying why, before any row is read."""

    def clean_import_file(self):
        upload = self.cleaned_data["import_file"]
        if upload.size > MAX_FILE_BYTES:
            raise forms.ValidationError(f"The file is {upload.size / 1024 / 1024:.1f} MB; upload at most "
                                        f"{MAX_FILE_BYTES // 1024 // 1024} MB at a time (split it by month).")
        content = b"".join(upload.chunks())
        try:
            spend_dataset(content)
        except SpendFileError as exc:
            raise forms.ValidationError(str(exc)) from None
        upload.seek(0)
        return upload


class SpendConfirmForm(ConfirmImportForm):
    """The confirmation's hidden fields, checked: a forged format or resource gets a form error, not a 500."""

    format = forms.ChoiceField(choices=[("0", "CSV")], widget=forms.HiddenInput())
    resource = forms.ChoiceField(choices=[("", ""), ("0", "spend")], widget=forms.HiddenInput(), required=False)


@admin.register(Spend)
class SpendAdmin(ImportExportMixin, admin.ModelAdmin):
    """Spend rows, uploaded as CSV (“Import”) and exported the same way; each upload is a batch under “Spend
    uploads”, where deleting it undoes it. Rows are read-only here: fix the CSV and import it again."""

    resource_classes = [SpendResource]
    import_form_class = SpendImportForm
    confirm_form_class = SpendConfirmForm
    import_template_name = "admin/attribution/spend/import.html"
    tmp_storage_class = SpendUploadStorage
    skip_admin_log = True  # the upload (SpendImport: who, when, rows) is the record, not 20,000 log entries
    import_formats = [CSV]
    export_formats = [CSV]
    list_display = ("day", "covers", "source", "medium", "campaign", "cost", "currency", "batch")
    list_filter = ("currency", ("day", DateRangeFilter))
    search_fields = ("source", "medium", "campaign")
    date_hierarchy = "day"
    list_select_related = ("batch",)

    @admin.display(description="covers")
    def covers(self, spend):
        return "the month" if spend.day != spend.last_day else "the day"

    def has_import_permission(self, request):
        return request.user.has_perm("attribution.add_spend")

    def has_export_permission(self, request):
        return request.user.has_perm("attribution.view_spend")

    def has_add_permission(self, request):
        return False  # rows come from a CSV upload

    def has_change_permission(self, request, obj=None):
        return False

    def lookup_allowed(self, lookup, value, request=None):
        return admin_lookup_parses(self.model, lookup) and super().lookup_allowed(lookup, value, request)

    def get_import_data_kwargs(self, **kwargs):
        # The confirmation imports again: any row that fails then (data changed since the preview) rolls back all.
        return {**super().get_import_data_kwargs(**kwargs), "rollback_on_validation_errors": True}

    def process_import(self, request, **kwargs):
        try:
            return super().process_import(request, **kwargs)
        except SpendUploadExpired:
            messages.error(request, "That upload is no longer waiting for confirmation (over an hour old, or already "
                                    "imported): upload the file again.")
            return HttpResponseRedirect(reverse("admin:attribution_spend_import"))

    def export_action(self, request):
        try:
            return super().export_action(request)
        except IncorrectLookupParameters:  # a filter in the URL the list doesn't have: as the list itself answers
            return HttpResponseRedirect(reverse("admin:attribution_spend_changelist") + "?e=1")

    def process_result(self, result, request):
        if result.has_errors() or result.has_validation_errors():  # rolled back: say so, nothing was imported
            messages.error(request, "Nothing was imported: some rows changed since the preview and are no longer "
                                    "valid. Upload the file again to see which.")
            return HttpResponseRedirect(reverse("admin:attribution_spend_import"))
        return super().process_result(result, request)

    def get_import_context_data(self, **kwargs):
        return {**super().get_import_context_data(**kwargs), "template_url": static("attribution/spend_template.csv"),
                "uploads_url": reverse("admin:attribution_spendimport_changelist"),
                "max_mb": MAX_FILE_BYTES // 1024 // 1024, "max_rows": MAX_ROWS}


@admin.register(SpendImport)
class SpendImportAdmin(admin.ModelAdmin):
    """One row per upload. Delete one to undo it: its spend rows go with it."""

    list_display = ("created_at", "file_name", "uploaded_by", "rows", "rows_now")
    readonly_fields = ("created_at", "file_name", "uploaded_by", "rows", "rows_now")
    fields = readonly_fields
    actions = ["undo_uploads"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("uploaded_by").annotate(now=Count("spend_rows"))

    @admin.display(description="rows now", ordering="now")
    def rows_now(self, batch):
        url = reverse("admin:attribution_spend_changelist") + f"?batch__id__exact={batch.pk}"
        return format_html('<a href="{}">{}</a>', url, getattr(batch, "now", batch.spend_rows.count()))

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # "undo" says what deleting an upload means
        return actions

    @admin.action(description="Undo the selected uploads (delete their spend rows)", permissions=["delete"])
    def undo_uploads(self, request, queryset):
        removed = sum(spend_import_undo(batch_id=pk) for pk in queryset.values_list("pk", flat=True))
        self.message_user(request, f"Undone: {removed:,} spend rows removed.")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_deleted_objects(self, objs, request):
        # The spend rows go with the upload; list how many, not each one (an upload can have thousands).
        rows = Spend.objects.filter(batch__in=objs).count()
        return [f"{batch}" for batch in objs] + [f"{rows:,} spend rows"], {"spend uploads": len(objs),
                                                                          "spend rows": rows}, set(), []

    def delete_model(self, request, obj):
        spend_import_undo(batch_id=obj.pk)
