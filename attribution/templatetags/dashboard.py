from datetime import date

from django import template

from attribution.periods import DATE_FORMAT

register = template.Library()


@register.filter
def lookup(row, key):
    return row.get(key) if isinstance(row, dict) else getattr(row, key, "")


@register.filter
def index(values, position):
    return values[position]


@register.filter
def percent(value):
    """The one formatter for shares and rates (fractions): the headline and the table never disagree."""
    if value is None:
        return "–"
    return f"{float(value) * 100:.1f} %"


@register.filter
def points(value, before):
    """Change of a share in percentage points: "+1.2 pts"; nothing when either side has no value."""
    if value is None or before is None:
        return ""
    change = round((float(value) - float(before)) * 100, 1)
    return f"{change:+.1f} pts" if change else "±0 pts"


@register.filter
def minus(value, other):
    return (value or 0) - (other or 0)


@register.filter
def percent_width(value):
    return f"{min(100.0, float(value or 0) * 100):.1f}%"


@register.filter
def signed(value):
    if value is None or value == "":
        return ""
    if isinstance(value, float):
        return f"{value:+.1f}"
    return f"{value:+d}" if value else "±0"


@register.filter
def money(value):
    """An amount (attribution.money.Amount): "USD 12,400", cents only under 100; several currencies side by
    side ("EUR 300 + USD 1,000"), never summed; "–" for none."""
    if value is None or not getattr(value, "parts", None):
        return "–"
    return " + ".join(f"{code} {amount:,.0f}" if abs(amount) >= 100 else f"{code} {amount:,.2f}"
                      for code, amount in value.parts)


@register.filter
def money_short(value):
    """An amount for a headline tile: "USD 477k", "USD 1.05M"; several currencies side by side."""
    if value is None or not getattr(value, "parts", None):
        return "–"

    def short(amount) -> str:
        size = abs(amount)
        if size >= 1_000_000:
            return f"{amount / 1_000_000:,.2f}M"
        if size >= 10_000:
            return f"{amount / 1_000:,.0f}k"
        return f"{amount:,.0f}"

    return " + ".join(f"{code} {short(amount)}" for code, amount in value.parts)


@register.filter
def roas(value):
    """Return on spend (won revenue ÷ cost) as "6.67"; "–" without cost, or when cost and revenue are in
    currencies that can't be brought together."""
    return "–" if value is None else f"{value:,.2f}"


@register.filter
def iso_day(value):
    """An ISO date string ("2026-10-31") in the UI's format ("31 Oct 2026")."""
    try:
        return date.fromisoformat(str(value)).strftime(DATE_FORMAT)
    except ValueError:
        return value
