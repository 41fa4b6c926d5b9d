from django import template

register = template.Library()


@register.filter
def lookup(row, key):
    return row.get(key) if isinstance(row, dict) else getattr(row, key, "")


@register.filter
def percent(value):
    return f"{float(value or 0) * 100:.1f} %"


@register.filter
def percent_width(value):
    return f"{min(100.0, float(value or 0) * 100):.1f}%"


@register.filter
def signed(value):
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:+.1f}"
    return f"{value:+d}" if value else "±0"
