"""CSV for report endpoints (`?format=csv` returns the same rows the JSON has), and the one cell
formatter every CSV export goes through."""

import csv
import io
import json
from decimal import Decimal

from rest_framework.renderers import BaseRenderer

# A spreadsheet runs a cell starting with one of these as a formula (OWASP "CSV injection").
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value):
    """One CSV cell: dates as ISO 8601, lists/dicts as JSON, numbers as numbers, and text that a
    spreadsheet would run as a formula (a campaign named `=HYPERLINK(...)`) prefixed with `'`."""
    if value is None:
        return ""
    if isinstance(value, (bool, int, float, Decimal)):
        return value  # a negative number is a number, not a formula
    if hasattr(value, "isoformat"):
        value = value.isoformat()
    elif isinstance(value, (list, dict, tuple)):
        value = json.dumps(value, default=str)
    value = str(value)
    return "'" + value if value.startswith(FORMULA_TRIGGERS) else value


def csv_write(out, columns: list[str], rows) -> None:
    """Header plus one line per row (a dict), every cell through `csv_cell`."""
    writer = csv.writer(out)
    writer.writerow([csv_cell(c) for c in columns])
    for row in rows:
        writer.writerow([csv_cell(row.get(c)) for c in columns])


class ReportCSVRenderer(BaseRenderer):
    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, dict) and "rows" in data:
            rows = data["rows"]
        elif isinstance(data, list):
            rows = data
        else:  # errors and other shapes: key,value lines
            rows = [{"key": k, "value": v} for k, v in (data or {}).items()]
        buffer = io.StringIO()
        # No rows still answers a header line (the view names its columns): a spreadsheet gets an
        # empty table, and the response keeps its text/csv Content-Type (DRF drops it for an empty body).
        view = (renderer_context or {}).get("view")
        columns = list(rows[0].keys()) if rows else list(getattr(view, "csv_columns", None) or [])
        if columns:
            csv_write(buffer, columns, rows)
        return buffer.getvalue().encode(self.charset)
