"""The spend CSV, as plain data (no database): what a file and a row must look like, and what a row means.

Columns: `date` (YYYY-MM-DD) or `month` (YYYY-MM), `source`, `medium`, `campaign`, `cost`, `currency`. A row gives
either a date or a month. source/medium/campaign are normalized by the UTM rule (`attribution.rules.utm_normalize`),
so `LinkedIn `, `linkedin` and `Linked%20In`-style spellings land on the same row the bookings' UTMs would;
the rules' aliases and channels are applied when spend is read (`attribution.spend`), as for bookings.
"""

from __future__ import annotations

import calendar
import re
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

import iso4217

from attribution.periods import EARLIEST, LATEST
from attribution.rules import utm_normalize

COLUMNS = ("date", "month", "source", "medium", "campaign", "cost", "currency")
REQUIRED = ("source", "cost", "currency")  # and one of date / month
CURRENCY_CODES = frozenset(c.code for c in iso4217.Currency)
MAX_FILE_BYTES = 2 * 1024 * 1024  # ~40,000 rows; the admin imports in the request
MAX_ROWS = 20_000
MAX_COST = Decimal("999999999999.99")  # the column's 14 digits, 2 after the point
_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_NUMBER = re.compile(r"^\d+(\.\d+)?$")


class SpendFileError(ValueError):
    """The file as a whole can't be read (too large, NUL bytes, not UTF-8, no header): one message for the form."""


class SpendRowError(ValueError):
    """A row that can't be imported: {column: message}."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def spend_file_text(content: bytes) -> str:
    """The uploaded bytes as text, or SpendFileError saying why not."""
    if len(content) > MAX_FILE_BYTES:
        raise SpendFileError(f"The file is {len(content) / 1024 / 1024:.1f} MB; upload at most "
                             f"{MAX_FILE_BYTES // 1024 // 1024} MB at a time (split it by month).")
    if b"\x00" in content:
        raise SpendFileError("The file contains NUL bytes: it is not a CSV text file (save it as “CSV UTF-8”).")
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SpendFileError(f"The file is not UTF-8 text (byte {exc.start}): save it as “CSV UTF-8”.") from None
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise SpendFileError("The file is empty: the first line must name the columns "
                             f"({', '.join(COLUMNS)}).")
    if len(lines) - 1 > MAX_ROWS:
        raise SpendFileError(f"The file has {len(lines) - 1:,} rows; upload at most {MAX_ROWS:,} at a time.")
    return text


def header_normalize(name) -> str:
    """`Date `, `COST` → date, cost (spreadsheets capitalise headers)."""
    return " ".join(str(name or "").split()).lower()


def headers_check(headers) -> None:
    """The columns a spend file needs, each once (SpendFileError otherwise); unknown columns are ignored."""
    listed = [header_normalize(h) for h in headers or ()]
    twice = sorted({n for n in listed if n in COLUMNS and listed.count(n) > 1})
    if twice:
        raise SpendFileError(f"The column{'s' if len(twice) > 1 else ''} {', '.join(twice)} appear"
                             f"{'' if len(twice) > 1 else 's'} more than once: which one is meant?")
    names = set(listed)
    missing = [c for c in REQUIRED if c not in names]
    if "date" not in names and "month" not in names:
        missing.insert(0, "date or month")
    if missing:
        raise SpendFileError(f"Missing column{'s' if len(missing) > 1 else ''}: {', '.join(missing)}. "
                             f"The columns are {', '.join(COLUMNS)}.")


def _text(row: dict, name: str) -> str:
    value = row.get(name)
    return "" if value is None else str(value).strip()


def _in_range(year: int) -> bool:
    return EARLIEST.year <= year <= LATEST.year


def _parse_span(day_text: str, month_text: str, errors: dict) -> tuple[date, date] | None:
    if day_text and month_text:
        errors["date"] = "Give a date or a month, not both."
        return None
    if not day_text and not month_text:
        errors["date"] = "Missing: give a date (YYYY-MM-DD) or a month (YYYY-MM)."
        return None
    if day_text:
        match = _DATE.match(day_text)
        try:
            day = date(*map(int, match.groups())) if match else None
        except ValueError:
            day = None
        if day is None or not _in_range(day.year):
            errors["date"] = f"“{day_text[:40]}” is not a date: use YYYY-MM-DD (e.g. 2026-10-31)."
            return None
        return day, day
    match = _MONTH.match(month_text)
    year, month = map(int, match.groups()) if match else (0, 0)
    if not match or not 1 <= month <= 12 or not _in_range(year):
        errors["month"] = f"“{month_text[:40]}” is not a month: use YYYY-MM (e.g. 2026-10)."
        return None
    first = date(year, month, 1)
    return first, first + timedelta(days=calendar.monthrange(year, month)[1] - 1)


def _parse_cost(text: str, errors: dict) -> Decimal | None:
    if not text:
        errors["cost"] = "Missing: give the cost as a number (e.g. 1250.50)."
        return None
    if text.startswith("-"):
        errors["cost"] = f"“{text[:40]}” is negative: a cost is 0 or more."
        return None
    if not _NUMBER.match(text):
        errors["cost"] = (f"“{text[:40]}” is not a number: digits with a dot for decimals, no currency sign or "
                          "thousands separator (e.g. 1250.50).")
        return None
    try:
        cost = Decimal(text).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    except InvalidOperation:
        cost = None
    if cost is None or cost > MAX_COST:
        errors["cost"] = f"“{text[:40]}” is too large for a cost."
        return None
    return cost


def spend_row_parse(row: dict) -> dict:
    """One CSV row (column → text, headers already normalized) as model values: day, last_day, source, medium,
    campaign, cost, currency. Raises SpendRowError with every problem of the row at once."""
    errors: dict[str, str] = {}
    span = _parse_span(_text(row, "date"), _text(row, "month"), errors)
    values = {name: utm_normalize(_text(row, name))[:255] for name in ("source", "medium", "campaign")}
    if not values["source"]:
        errors["source"] = "Missing: every cost needs the utm_source it was spent on."
    cost = _parse_cost(_text(row, "cost"), errors)
    currency = _text(row, "currency").upper()
    if not currency:
        errors["currency"] = "Missing: give the ISO 4217 currency code (e.g. EUR, USD)."
    elif currency not in CURRENCY_CODES:
        errors["currency"] = f"“{currency[:40]}” is not an ISO 4217 currency code (three letters, e.g. EUR, USD)."
    if errors:
        raise SpendRowError(errors)
    return {"day": span[0], "last_day": span[1], **values, "cost": cost, "currency": currency}
