from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.views.decorators.clickjacking import xframe_options_sameorigin

from alerts.channels import DestinationError, kind, masked, normalize
from alerts.digest import digest_build, last_full_week, week_of
from alerts.digest_render import render_html, render_markdown, render_text
from alerts.models import AlertState, Destination, Notification
from alerts.services import outbox
from alerts.services.alerts import alert_summary, alerts_silence, alerts_unsilence
from attribution.periods import date_parse


class DestinationForm(forms.ModelForm):
    """Once saved, the URL is shown masked (apprise's privacy form); leaving it as shown keeps the stored secret."""

    url = forms.CharField(
        label="apprise URL", widget=forms.TextInput(attrs={"size": 90, "autocomplete": "off", "spellcheck": "false"}),
        help_text="Slack: slack://TokenA/TokenB/TokenC · Microsoft Teams: workflows://host/workflow/signature · "
                  "E-mail: mailtos://user:password@smtp.example.com?to=you@example.com · "
                  "Webhook: json://hooks.example.com/path. Tokens and passwords are hidden once saved.")

    class Meta:
        model = Destination
        fields = ("name", "url", "ops", "marketing", "digest", "enabled")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["url"] = masked(self.instance.url)

    def clean_url(self):
        value = self.cleaned_data["url"].strip()
        if self.instance.pk and value == masked(self.instance.url):
            return self.instance.url  # unchanged: keep the secret we have
        try:
            return normalize(value)
        except DestinationError as exc:
            raise forms.ValidationError(str(exc)) from exc


@admin.register(Destination)
class DestinationAdmin(admin.ModelAdmin):
    form = DestinationForm
    change_list_template = "admin/alerts/destination/change_list.html"  # + "Preview the weekly digest"
    list_display = ("name", "service", "safe_url", "ops", "marketing", "digest", "enabled", "test_button")
    list_filter = ("enabled", "ops", "marketing", "digest")
    actions = ["send_test"]
    readonly_fields = ("safe_url",)

    def get_fields(self, request, obj=None):
        fields = ["name", "url", "ops", "marketing", "digest", "enabled"]
        if obj is not None and not self.has_change_permission(request, obj):
            fields[1] = "safe_url"  # a read-only view would print the stored URL, secrets and all
        return fields

    @admin.display(description="service")
    def service(self, obj):
        return kind(obj.url)

    @admin.display(description="URL")
    def safe_url(self, obj):
        return obj.masked_url

    @admin.display(description="")
    def test_button(self, obj):
        return format_html('<a class="button" href="{}">Send test</a>',
                           reverse("admin:alerts_destination_test", args=[obj.pk]))

    def get_urls(self):
        return [path("<int:pk>/test/", self.admin_site.admin_view(self.test_view), name="alerts_destination_test"),
                path("digest/", self.admin_site.admin_view(self.digest_view), name="alerts_destination_digest"),
                path("digest/email/", self.admin_site.admin_view(self.digest_email_view),
                     name="alerts_destination_digest_email"),
                *super().get_urls()]

    def test_view(self, request, pk):
        """GET: a confirmation page (a link must not send); POST: queue the test and show the outbox."""
        destination = get_object_or_404(Destination, pk=pk)
        if not self.has_change_permission(request, destination):
            raise PermissionDenied
        if request.method != "POST":
            return TemplateResponse(request, "admin/alerts/destination_test.html", {
                **self.admin_site.each_context(request), "destination": destination, "opts": self.model._meta,
                "title": f"Send a test message to {destination}"})
        self._queue_test(request, [destination])
        return redirect(reverse("admin:alerts_notification_changelist") + f"?destination__id__exact={pk}")

    def _queue_test(self, request, destinations):
        for destination in destinations:
            outbox.destination_test(destination, by=request.user.get_username())
        self.message_user(request, f"Test message queued for {len(destinations)} destination(s); "
                                   "its state shows below within seconds.", messages.SUCCESS)

    @admin.action(description="Send a test message", permissions=["change"])
    def send_test(self, request, queryset):
        self._queue_test(request, list(queryset))

    def _digest_week(self, request):
        """The week asked for (`?week=` any day of it), else the last full one; with the reason when refused."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        week, error = last_full_week(), ""
        if request.GET.get("week"):
            try:
                chosen = week_of(date_parse(request.GET["week"]))
            except ValueError as exc:
                error = f"{exc}; showing the last full week."
            else:
                if chosen.start > timezone.localdate():
                    error = "That week has not started yet; showing the last full week."
                else:
                    week = chosen
        return week, error

    def digest_view(self, request):
        """The weekly digest of a chosen week (default: the last full one): the e-mail (framed from digest_email_view),
        the text and the Markdown. Reads only; staff who may view destinations."""
        week, error = self._digest_week(request)
        digest = digest_build(week)
        return TemplateResponse(request, "admin/alerts/digest_preview.html", {
            **self.admin_site.each_context(request), "opts": self.model._meta,
            "title": f"Weekly digest: {week.label}", "week": week, "error": error,
            "previous_week": week.previous().start,
            "next_week": week.end if week.end <= timezone.localdate() else None,
            "text": render_text(digest), "markdown": render_markdown(digest)})

    @method_decorator(xframe_options_sameorigin)
    def digest_email_view(self, request):
        """The e-mail's HTML on its own, for the preview's frame: a `srcdoc` frame is blocked by the CSP
        (`default-src 'self'`), a same-origin URL is not."""
        week, _ = self._digest_week(request)
        return HttpResponse(render_html(digest_build(week)))

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    """Every message sent or waiting: what, where, how it went; dead letters are retried or discarded here."""

    list_display = ("created_at", "destination", "topic", "subject", "state", "attempts", "short_error", "sent_at")
    list_filter = ("state", "topic", "destination")
    search_fields = ("subject", "key")
    list_select_related = ("destination",)
    actions = ["retry", "discard"]
    readonly_fields = ("destination", "topic", "key", "subject", "state", "attempts", "next_attempt_at", "claimed_at",
                       "last_error", "created_at", "sent_at", "text", "markdown", "html")
    exclude = ("claim_token",)

    @admin.display(description="error")
    def short_error(self, obj):
        return (obj.last_error or "")[:80]

    @admin.action(description="Send selected again now (fresh attempt budget)", permissions=["change"])
    def retry(self, request, queryset):
        n = outbox.notifications_retry(queryset.values_list("pk", flat=True))
        self.message_user(request, f"{n} queued to send again.")

    @admin.action(description="Discard selected (dead or pending)", permissions=["change"])
    def discard(self, request, queryset):
        n = outbox.notifications_discard(queryset.values_list("pk", flat=True))
        self.message_user(request, f"{n} discarded.")

    def has_add_permission(self, request):
        return False


class AlertSilenceForm(forms.ModelForm):
    """The one thing editable on an alert: its silence (until a date, or indefinitely)."""

    class Meta:
        model = AlertState
        fields = ("muted", "silenced_until")


@admin.register(AlertState)
class AlertStateAdmin(admin.ModelAdmin):
    """Every alert and where its cycle is (README "Alerts"); silence or unsilence from the list or the page."""

    form = AlertSilenceForm
    list_display = ("key", "category", "state", "title", "fired_at", "last_notified_at", "resolved_at", "checked_at")
    list_filter = ("firing", "category", "muted")
    search_fields = ("key", "title")
    actions = ["silence_day", "silence_week", "silence_forever", "unsilence"]
    readonly_fields = ("key", "category", "state", "title", "detail", "link", "hint", "fired_at", "last_notified_at",
                       "notified_count", "resolved_at", "checked_at", "silenced_by", "updated_at")
    fields = ("key", "category", "state", "title", "detail", "link", "hint", "fired_at", "last_notified_at",
              "notified_count", "resolved_at", "checked_at", "muted", "silenced_until", "silenced_by", "updated_at")

    @admin.display(description="state")
    def state(self, obj):
        return alert_summary(obj)

    def _silence(self, request, queryset, until, words):
        n = alerts_silence(queryset.values_list("pk", flat=True), until=until, by=request.user.get_username())
        self.message_user(request, f"{n} alert(s) silenced {words}.")

    @admin.action(description="Silence for 24 hours", permissions=["change"])
    def silence_day(self, request, queryset):
        self._silence(request, queryset, timezone.now() + timedelta(days=1), "for 24 hours")

    @admin.action(description="Silence for 7 days", permissions=["change"])
    def silence_week(self, request, queryset):
        self._silence(request, queryset, timezone.now() + timedelta(days=7), "for 7 days")

    @admin.action(description="Silence indefinitely", permissions=["change"])
    def silence_forever(self, request, queryset):
        self._silence(request, queryset, None, "until unsilenced")

    @admin.action(description="Unsilence", permissions=["change"])
    def unsilence(self, request, queryset):
        n = alerts_unsilence(queryset.values_list("pk", flat=True))
        self.message_user(request, f"{n} alert(s) unsilenced.")

    def save_model(self, request, obj, form, change):
        """Only the silence is editable: written through the service (who silenced it is recorded)."""
        if obj.muted:
            alerts_silence([obj.pk], until=None, by=request.user.get_username())
        elif obj.silenced_until:
            alerts_silence([obj.pk], until=obj.silenced_until, by=request.user.get_username())
        else:
            alerts_unsilence([obj.pk])

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
