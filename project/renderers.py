"""CSV for report endpoints: `?format=csv` returns the same rows the JSON has."""

import csv
import io

from rest_framework.renderers import BaseRenderer


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
            writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
            writer.writeheader()
            for row in rows:
                writer.writerow({k: _cell(v) for k, v in row.items()})
        return buffer.getvalue().encode(self.charset)


def _cell(value):
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, (list, dict)):
        import json

        return json.dumps(value)
    return value
