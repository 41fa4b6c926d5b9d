"""The UI's one date format ("1 Oct 2026", "1 Oct 2026, 14:05 CET"): dashboard, backlog, admin and digest.
Inputs stay ISO (YYYY-MM-DD). attribution/periods.py DATE_FORMAT is the same format for Python code."""

DATE_FORMAT = "j M Y"
SHORT_DATE_FORMAT = "j M Y"
DATETIME_FORMAT = "j M Y, H:i T"
SHORT_DATETIME_FORMAT = "j M Y, H:i T"
MONTH_DAY_FORMAT = "j M"
YEAR_MONTH_FORMAT = "M Y"
DATE_INPUT_FORMATS = ["%Y-%m-%d"]
DATETIME_INPUT_FORMATS = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"]
FIRST_DAY_OF_WEEK = 1  # Monday, as the weekly chart and the digest
