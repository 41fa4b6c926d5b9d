"""The spend CSV for django-import-export: the admin's upload and `attribution.services.spend_csv_import` (the
demo, scripts) both import through `SpendResource`, so a file means the same wherever it comes in.

A row is parsed by `attribution.spend_csv.spend_row_parse` (errors per column); the row's key is (day, last_day,
source, medium, campaign, currency), so importing the same rows again replaces their cost (the row moves to
the new upload) instead of adding it twice. Every upload is an `SpendImport` batch; deleting the batch undoes it.
Exports go through the project's one CSV cell rule (`project.renderers.csv_cell`): no cell starts a formula.
"""

from __future__ import annotations

from datetime import date, timedelta

from django.core.exceptions import ValidationError
from import_export import fields, resources, widgets

from attribution.models import Spend, SpendImport
from attribution.spend_csv import SpendRowError, header_normalize, headers_check, spend_row_parse
from project.renderers import csv_cell

KEY = ("day", "last_day", "source", "medium", "campaign", "currency")
_PARSED_KEY = "__spend_key"  # the parsed row's KEY values, kept on the row for get_instance


def _span_label(span: tuple[date, date]) -> str:
    return f"{span[0]:%Y-%m}" if span[0] != span[1] else span[0].isoformat()


class _Spans:
    """The days and months one source/medium/campaign/currency already has (a span is one day or a calendar
    month), each with a label (a row number, or the span itself): which one a new span overlaps, in O(1) for a day
    and O(31) for a month, whatever the file's size."""

    def __init__(self):
        self.days: dict[date, object] = {}
        self.months: dict[date, object] = {}

    def add(self, span: tuple[date, date], label) -> None:
        (self.days if span[0] == span[1] else self.months)[span[0]] = label

    def overlap(self, span: tuple[date, date]):
        """The label of a span that overlaps `span` without being it, or None."""
        first, last = span
        if first == last:
            return self.months.get(first.replace(day=1))
        return next((self.days[first + timedelta(days=i)] for i in range((last - first).days + 1)
                     if first + timedelta(days=i) in self.days), None)


class SpendResource(resources.ModelResource):
    # Import: the parsed row's model values (set by before_import_row). Export: the CSV's own columns.
    day = fields.Field(attribute="day", column_name="day", widget=widgets.DateWidget("%Y-%m-%d"))
    last_day = fields.Field(attribute="last_day", column_name="last_day", widget=widgets.DateWidget("%Y-%m-%d"))
    source = fields.Field(attribute="source", column_name="source")
    medium = fields.Field(attribute="medium", column_name="medium")
    campaign = fields.Field(attribute="campaign", column_name="campaign")
    cost = fields.Field(attribute="cost", column_name="cost", widget=widgets.DecimalWidget())
    currency = fields.Field(attribute="currency", column_name="currency")
    date = fields.Field(column_name="date", readonly=True)
    month = fields.Field(column_name="month", readonly=True)

    class Meta:
        model = Spend
        fields = ("day", "last_day", "source", "medium", "campaign", "cost", "currency", "date", "month")
        import_id_fields = KEY
        import_order = ("day", "last_day", "source", "medium", "campaign", "cost", "currency")
        export_order = ("date", "month", "source", "medium", "campaign", "cost", "currency")
        skip_unchanged = False
        report_skipped = True
        use_transactions = True  # the whole file or nothing
        use_bulk = True  # rows are checked one by one (before_import_row), written 1,000 at a time
        batch_size = 1000

    def __init__(self, **kwargs):
        super().__init__()
        self.batch: SpendImport | None = None
        self._seen: dict[tuple, int] = {}  # key → row number, in this file
        self._spans: dict[tuple, _Spans] = {}  # (source, medium, campaign, currency) → this file's rows
        self._existing: dict[tuple, Spend] = {}  # key → the imported row it would replace
        self._existing_spans: dict[tuple, _Spans] = {}  # (source, medium, campaign, currency) → imported rows

    # --- import ------------------------------------------------------------------------------------

    def get_user_visible_fields(self):
        """What the upload page lists: the CSV's columns, not the model's."""
        return self.get_export_fields()

    def before_import(self, dataset, **kwargs):
        dataset.headers = [header_normalize(h) for h in dataset.headers or []]
        headers_check(dataset.headers)
        for name in ("day", "last_day", "medium", "campaign", "date", "month"):  # parsed values; optional columns
            if name not in dataset.headers:
                dataset.append_col([""] * len(dataset), header=name)
        self._existing_load(dataset)
        user = kwargs.get("user")
        self.batch = SpendImport.objects.create(
            file_name=str(kwargs.get("file_name") or "")[:255],
            uploaded_by=user if getattr(user, "is_authenticated", False) else None)

    def _existing_load(self, dataset) -> None:
        """The imported rows the file's days touch, in one query (not two per row): what a row replaces, and what
        it would overlap."""
        days = []
        for row in dataset.dict:
            try:
                values = spend_row_parse(row)
            except SpendRowError:
                continue
            days += [values["day"], values["last_day"]]
        if not days:
            return
        for spend in Spend.objects.filter(day__lte=max(days), last_day__gte=min(days)):
            self._existing[tuple(getattr(spend, k) for k in KEY)] = spend
            who = (spend.source, spend.medium, spend.campaign, spend.currency)
            span = (spend.day, spend.last_day)
            self._existing_spans.setdefault(who, _Spans()).add(span, _span_label(span))

    def get_instance(self, instance_loader, row):
        return self._existing.get(row.get(_PARSED_KEY))

    def before_import_row(self, row, **kwargs):
        try:
            values = spend_row_parse(row)
        except SpendRowError as exc:
            raise ValidationError(exc.errors) from None
        number = kwargs.get("row_number")
        key = tuple(values[k] for k in KEY)
        if key in self._seen:
            raise ValidationError({"date": f"The same date/month, source, medium, campaign and currency as row "
                                           f"{self._seen[key]}: give each cost once."})
        self._seen[key] = number
        self._overlap_check(values, number)
        row.update({k: (v.isoformat() if k in ("day", "last_day") else v) for k, v in values.items()})
        row[_PARSED_KEY] = key

    def _overlap_check(self, values: dict, number) -> None:
        """A month and one of its days for the same source/medium/campaign/currency would count that day twice:
        refused, whether the other row is in this file or already imported."""
        who = (values["source"], values["medium"], values["campaign"], values["currency"])
        span = (values["day"], values["last_day"])
        other = self._spans.setdefault(who, _Spans()).overlap(span)
        if other is not None:
            raise ValidationError({"date": f"Overlaps row {other} (a month and a day of it for the same source, "
                                           "medium, campaign and currency): give days or the month."})
        self._spans[who].add(span, number)
        clash = self._existing_spans[who].overlap(span) if who in self._existing_spans else None
        if clash is not None:
            raise ValidationError({"date": f"Spend for {clash} is already imported for this source, medium, "
                                           "campaign and currency (a month and a day of it would count twice): "
                                           "undo that upload or give the same span."})

    def bulk_update(self, using_transactions, dry_run, raise_errors, batch_size=None, result=None):
        """A replaced row is deleted and written anew with its new cost and upload: one DELETE and one INSERT per
        1,000 rows (Django's bulk_update, one CASE per field, took twice as long as the whole new-row import)."""
        if self.update_instances and (using_transactions or not dry_run):
            try:
                Spend.objects.filter(pk__in=[spend.pk for spend in self.update_instances]).delete()
                for spend in self.update_instances:
                    spend.pk = None
                Spend.objects.bulk_create(self.update_instances, batch_size=batch_size)
            except Exception as exc:  # noqa: BLE001 -- reported on the import's result, which rolls it all back
                self.handle_import_error(result, exc, raise_errors)
            finally:
                self.update_instances.clear()

    def before_save_instance(self, instance, row, **kwargs):
        instance.batch = self.batch

    def after_import(self, dataset, result, **kwargs):
        super().after_import(dataset, result, **kwargs)
        if self.batch is not None:
            self.batch.rows = result.totals.get("new", 0) + result.totals.get("update", 0)
            self.batch.save(update_fields=["rows"])

    # --- export ------------------------------------------------------------------------------------

    def dehydrate_date(self, spend):
        return spend.day.isoformat() if spend.day == spend.last_day else ""

    def dehydrate_month(self, spend):
        return f"{spend.day:%Y-%m}" if spend.day != spend.last_day else ""

    def export_field(self, field, instance, **kwargs):
        value = super().export_field(field, instance, **kwargs)
        return csv_cell(value) if isinstance(value, str) else value
