"""The spend CSV for django-import-export: the admin's upload and `attribution.services.spend_csv_import` (the
demo, scripts) both import through `SpendResource`, so a file means the same wherever it comes in.

A row is parsed by `attribution.spend_csv.spend_row_parse` (errors per column); the row's key is (day, last_day,
source, medium, campaign, currency), so importing the same rows again replaces their cost (the row moves to
the new upload) instead of adding it twice. Every upload is an `SpendImport` batch; deleting the batch undoes it.
Exports go through the project's one CSV cell rule (`project.renderers.csv_cell`): no cell starts a formula.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from import_export import fields, resources, widgets

from attribution.models import Spend, SpendImport
from attribution.spend_csv import SpendRowError, header_normalize, headers_check, spend_row_parse
from project.renderers import csv_cell

KEY = ("day", "last_day", "source", "medium", "campaign", "currency")


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

    def __init__(self, **kwargs):
        super().__init__()
        self.batch: SpendImport | None = None
        self._seen: dict[tuple, int] = {}
        self._spans: dict[tuple, list[tuple]] = {}

    # --- import ------------------------------------------------------------------------------------

    def get_user_visible_fields(self):
        """What the upload page lists: the CSV's columns, not the model's."""
        return self.get_export_fields()

    def before_import(self, dataset, **kwargs):
        dataset.headers = [header_normalize(h) for h in dataset.headers or []]
        headers_check(dataset.headers)
        for name in ("day", "last_day"):
            if name not in dataset.headers:
                dataset.append_col([""] * len(dataset), header=name)
        for name in ("medium", "campaign", "date", "month"):
            if name not in dataset.headers:
                dataset.append_col([""] * len(dataset), header=name)
        user = kwargs.get("user")
        self.batch = SpendImport.objects.create(
            file_name=str(kwargs.get("file_name") or "")[:255],
            uploaded_by=user if getattr(user, "is_authenticated", False) else None)

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

    def _overlap_check(self, values: dict, number) -> None:
        """A month and one of its days for the same source/medium/campaign/currency would count that day twice:
        refused, whether the other row is in this file or already imported."""
        who = (values["source"], values["medium"], values["campaign"], values["currency"])
        span = (values["day"], values["last_day"])
        for other_span, other_number in self._spans.get(who, []):
            if other_span[0] <= span[1] and span[0] <= other_span[1]:
                raise ValidationError({"date": f"Overlaps row {other_number} (a month and a day of it for the same "
                                               "source, medium, campaign and currency): give days or the month."})
        self._spans.setdefault(who, []).append((span, number))
        clash = (Spend.objects.filter(source=who[0], medium=who[1], campaign=who[2], currency=who[3],
                                      day__lte=span[1], last_day__gte=span[0])
                 .exclude(day=span[0], last_day=span[1]).first())
        if clash is not None:
            existing = f"{clash.day:%Y-%m}" if clash.day != clash.last_day else clash.day.isoformat()
            raise ValidationError({"date": f"Spend for {existing} is already imported for this source, medium, "
                                           "campaign and currency (a month and a day of it would count twice): "
                                           "undo that upload or give the same span."})

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
