"""Marketing dashboard pages: parse the request, call selectors/services, render. No rules here."""

from __future__ import annotations

import re
import uuid
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers

from attribution import selectors, services
from attribution.links import LinkError, link_build
from attribution.dashboard import (DIMENSIONS, DRILL, STATUSES, channel_color, chart_data, chart_table, dashboard_report,
                                   demo_event_types, known_values, level_values)
from attribution.forms import FILTER_VALUE_LENGTH, AliasForm, AssignForm, BacklogFilterForm, RuleForm, form_errors
from attribution.periods import COMPARISONS, PRESETS, period_parse
from attribution.rollup import rollup_time_zone_stale
from attribution.rules import (DIRECT, DIRECT_MEDIUM, DIRECT_SOURCE, NOT_SET, UNASSIGNED, ruleset_channels,
                               utm_normalize)
from attribution.ruleset import ruleset_current
from bookings.models import Booking
from journeys.apis import short_url
from journeys.selectors import tracked_link_list
from journeys.services import tracked_link_create
from project.renderers import csv_write

def _csv(filename: str, rows: list[dict], columns: list[str]) -> HttpResponse:
    response = HttpResponse(content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    csv_write(response, columns, rows)
    return response


def _render(request, template: str, partial: str, context: dict) -> HttpResponse:
    """The whole page, or for an htmx request only the part it swaps (`partial`), with its messages.

    A history restore (the back button after an hx-push-url) asks for the whole page; `Vary` keeps a browser cache
    from serving one for the other at the same URL.
    """
    swap = bool(request.htmx) and not request.htmx.history_restore_request
    response = render(request, partial if swap else template, {**context, "partial": swap})
    patch_vary_headers(response, ["HX-Request"])
    return response


def _period(request):
    first = Booking.objects.order_by("booked_at").values_list("booked_at", flat=True).first()
    period = period_parse(preset=request.GET.get("range"), start=request.GET.get("start"), end=request.GET.get("end"),
                          first_day=timezone.localdate(first) if first else None)
    if period.error:
        messages.warning(request, period.error)
    return period


def _filter_values(request, names) -> dict:
    """Filter values as given; one PostgreSQL can't compare (NUL) or no column can hold is refused, saying so."""
    values = {}
    for name in names:
        value = request.GET.get(name)
        if value is None:
            continue
        if "\x00" in value or len(value) > FILTER_VALUE_LENGTH:
            messages.warning(request, f"The {name} filter was ignored: it is longer than {FILTER_VALUE_LENGTH} "
                                      "characters or holds a NUL character.")
            continue
        values[name] = value
    return values


FILTERS = {"channel": "channel", "source": "source", "medium": "medium", "campaign": "campaign",
           "event_type": "event_type", "self_reported": "self_reported_source"}  # query parameter -> report filter


def _choice(request, name: str, choices, default: str) -> str:
    value = request.GET.get(name)
    return value if value in choices else default


@login_required
@permission_required("attribution.view_dashboard", raise_exception=True)
def dashboard(request):
    period = _period(request)
    stale = rollup_time_zone_stale()
    if stale:
        messages.warning(request, f"The report rollup counts days in {stale}, not in {settings.TIME_ZONE}: "
                                  "run `manage.py migrate` (or `manage.py rollup_rebuild`) to recount them.")
    comparison = _choice(request, "compare", COMPARISONS, "previous")
    dim = _choice(request, "dim", DIMENSIONS, "channel")
    dim2 = _choice(request, "dim2", DIMENSIONS, "")
    if dim2 and DIMENSIONS[dim2].column == DIMENSIONS[dim].column:
        dim2 = ""  # "channel beside channel" says nothing
    status = _choice(request, "status", STATUSES, "")
    interval = request.GET.get("interval") if request.GET.get("interval") in selectors.INTERVALS else (
        "day" if period.days <= 92 else "week" if period.days <= 400 else "month")
    drill = _filter_values(request, FILTERS)
    if not drill.get("event_type", True):
        del drill["event_type"]  # the form's "all event types" (a drilled "(not set)" campaign is a real value)
    filters = {FILTERS[name]: value for name, value in drill.items()}
    counted = demo_event_types()
    if counted and "event_type" not in drill:
        filters["event_types"] = counted
    if status:
        filters["status"] = status
    now = timezone.now()
    current = period.bounds()
    before = period.previous(comparison)
    previous = before.bounds() if before else None
    running = current[0] < now < current[1]
    if running and previous:  # today is still running: compare with the same stretch of time before, not whole days
        previous = (previous[0], min(previous[1], previous[0] + (now - current[0])))

    def report(dim):
        return dashboard_report(current=current, previous=previous, dims=[dim, dim2] if dim2 else [dim],
                                filters=filters, interval=interval, now=now)

    skipped = []
    # A drill level with a single row says nothing: go on to the next level (a channel with one source). Only
    # below a clicked row: a dimension chosen at the top stays as chosen.
    drilling = any(name in drill for name in DRILL)
    while drilling and not dim2 and dim in DRILL[:-1]:
        values = level_values(bounds=current, filters=filters, dim=dim)
        if len(values) != 1:
            break
        skipped.append((dim, values[0]))
        drill[dim], filters[dim] = values[0], values[0]
        dim = DRILL[DRILL.index(dim) + 1]
    data = report(dim)
    dims = data["dims"]
    base = {k: v for k, v in request.GET.items() if k in ("range", "start", "end", "interval", "compare", "status")}
    names = "-and-".join(d.replace("_", "-") for d in dims)
    export = request.GET.get("export")
    if export:
        return _dashboard_csv(export, data, dims, names, period)
    backlog_url = reverse("dashboard-direct") + "?" + urlencode({k: v for k, v in base.items() if k in ("range", "start", "end")})
    for row in data["rows"]:
        row["color"] = channel_color(row[dims[0]])
        nxt = _drill_next(dims[0]) if not dim2 else None
        if dims[0] == "channel" and row["channel"] == DIRECT:
            row["drill_url"] = backlog_url  # the untagged bookings are triaged on the backlog page
        elif nxt:
            row["drill_url"] = "?" + urlencode({**base, **drill, dims[0]: row[dims[0]], "dim": nxt})
        admin = {f"{DIMENSIONS[k].column}__exact": v for k, v in drill.items()}
        admin.update({f"{DIMENSIONS[d].column}__exact": row[d] for d in dims if DIMENSIONS[d].model == "booking"
                      and DIMENSIONS[d].rollup})
        # counted=yes: the list then holds exactly the bookings this row counts (bookings/counting.py).
        admin.update({"booked_at__gte": current[0].isoformat(), "booked_at__lt": current[1].isoformat(), "counted": "yes"})
        row["admin_url"] = reverse("admin:bookings_booking_changelist") + "?" + urlencode(admin)
    crumbs = [{"label": "All bookings", "url": "?" + urlencode({**base, "dim": "channel"})}]
    kept = {}
    for name, value in drill.items():
        kept[name] = value
        crumbs.append({"label": f"{DIMENSIONS[name].label}: {value or '(not set)'}",
                       "url": "?" + urlencode({**base, **kept, "dim": _drill_next(name) or dims[0]})})
    groups = [row[dims[0]] for row in data["rows"] if row["bookings"]]
    series_column = DIMENSIONS[dims[0]].column
    chart = chart_data(data["series"], series_column, list(dict.fromkeys(groups)), period.start, period.end, interval)
    # "Which campaign booked the most?" means a named one: not "(not set)", and not the backlog or Unassigned.
    unnamed = (DIRECT, UNASSIGNED, NOT_SET, DIRECT_SOURCE, DIRECT_MEDIUM)
    named = [r for r in data["rows"] if r["bookings"] and r[dims[0]] and r[dims[0]] not in unnamed]
    query = urlencode({**base, **drill, "dim": dims[0], **({"dim2": dim2} if dim2 else {})})
    return _render(request, "dashboard/index.html", "dashboard/_report.html", {
        "data": data, "period": period, "previous_period": before, "presets": PRESETS, "comparisons": COMPARISONS,
        "comparison": comparison, "interval": interval, "drill": drill, "dims": dims, "dim": dims[0], "dim2": dim2,
        "dimensions": DIMENSIONS, "statuses": STATUSES, "status": status, "counted": counted,
        "event_types": known_values("event_type_name"), "crumbs": crumbs, "chart": chart, "chart_rows": chart_table(chart), "query": query,
        "top": named[0] if named else None, "running": running, "skipped": skipped, "backlog_url": backlog_url,
        "channel_drilled": "channel" in drill, "reattribute": selectors.reattribute_job_banner(),
        "time_zone": timezone.get_current_timezone_name(),
    })


def _drill_next(dim: str) -> str | None:
    """The level a row's click opens: the next of channel → source → medium → campaign; event types and
    what people said open their channels; the rest don't drill."""
    if dim in DRILL[:-1]:
        return DRILL[DRILL.index(dim) + 1]
    return "channel" if dim in ("event_type", "self_reported") else None


def _dashboard_csv(export: str, data: dict, dims: list[str], names: str, period) -> HttpResponse:
    """CSV files named after their dimension and range; shares in percent (the header says so)."""
    if export == "timeseries":
        column = DIMENSIONS[dims[0]].column
        rows = [{"period": max(r["period"], period.start).isoformat(), dims[0]: r[column],
                 "bookings": r["bookings"], "held": r["held"], "canceled": r["canceled"], "no_show": r["no_show"]}
                for r in data["series"]]
        return _csv(f"bookings-over-time-by-{names.split('-and-')[0]}-{period.slug}.csv", rows,
                    ["period", dims[0], "bookings", "held", "canceled", "no_show"])
    if export == "self_reported":
        return _csv(f"self-reported-vs-utm-{period.slug}.csv", data["self_reported"],
                    ["self_reported_source", "bookings", "direct", "top_utm_channel"])

    def pct(value):
        return "" if value is None else f"{value * 100:.1f}"

    def number(amount):  # a number in one currency; several currencies side by side as text, never summed
        return "" if amount is None else f"{amount.single:.2f}" if amount.single is not None else str(amount)

    rows = [{**{d: r[d] for d in dims}, "bookings": r["bookings"], "share_pct": pct(r["share"]), "held": r["held"],
             "canceled": r["canceled"], "no_show": r["no_show"], "no_show_rate_pct": pct(r["no_show_rate"]),
             "previous": r.get("previous", ""), "change": r.get("delta", "")} for r in data["rows"]]
    columns = [*dims, "bookings", "share_pct", "held", "canceled", "no_show", "no_show_rate_pct", "previous", "change"]
    if data["money"]:
        for row, r in zip(rows, data["rows"]):
            row.update(deals=r["deals"], won=r["won"], pipeline=number(r["pipeline"]), revenue=number(r["revenue"]),
                       win_rate_pct=pct(r["win_rate"]), revenue_per_booking=number(r["revenue_per_booking"]),
                       currency=r["pipeline"].currency or ("mixed" if r["pipeline"] else ""))
        columns += ["deals", "won", "pipeline", "revenue", "win_rate_pct", "revenue_per_booking", "currency"]
    if data["spend"]:  # cost beside it (attribution.spend); the days without spend data are in the page's note
        for row, r in zip(rows, data["rows"]):
            row.update(cost=number(r["cost"]), cost_per_booking=number(r["cost_per_booking"]),
                       cost_per_held=number(r["cost_per_held"]), cost_currency=(r["cost"].currency or "mixed")
                       if r["cost"] else "")
            if data["money"]:
                row.update(cost_per_won=number(r["cost_per_won"]),
                           roas="" if r["roas"] is None else f"{r['roas']:.2f}")
        columns += ["cost", "cost_per_booking", "cost_per_held", "cost_currency",
                    *(["cost_per_won", "roas"] if data["money"] else [])]
    return _csv(f"bookings-by-{names}-{period.slug}.csv", rows, columns)


@login_required
@permission_required("attribution.view_dashboard", raise_exception=True)
def direct_backlog(request):
    """The untagged bookings of the dashboard's period (same `range`/`start`/`end`), by event type and month and by
    what people said, with assignment: POST → preview (the channel that results, how many move) → confirm POST.
    Without JavaScript each step is a page (the confirm redirects, POST-redirect-GET); with htmx the card swaps."""
    if request.method == "POST":
        return _assign(request)
    context = _backlog_context(request)
    if request.GET.get("export") == "groups":
        period = context["period"]
        return _csv(f"direct-backlog-by-event-type-and-month-{period.start:%Y-%m-%d}-to-{period.last:%Y-%m-%d}.csv",
                    context["groups"], ["event_type_name", "month", "bookings"])
    return _render(request, "dashboard/direct.html", "dashboard/_backlog.html", context)


def _backlog_context(request, period=None, **extra) -> dict:
    """Everything the backlog page shows for the request's period and filters (a fixed number of queries)."""
    period = period or _period(request)
    start, end = period.bounds()
    filters = BacklogFilterForm(request.GET)
    filters.is_valid()  # a bad month is an error next to its field; the list ignores that filter
    event_type, month, said = filters.value("event_type"), filters.value("month"), filters.value("said") or None
    groups = selectors.direct_backlog(booked_after=start, booked_before=end)
    narrowed = selectors.direct_backlog_filters(booked_after=start, booked_before=end, event_type=event_type, month=month)
    said_groups = selectors.direct_backlog_said(**narrowed)
    count = sum(g["bookings"] for g in said_groups if said is None or g["self_reported_source"] == said)
    paginator = Paginator(selectors.direct_backlog_bookings(booked_after=start, booked_before=end, event_type=event_type,
                                                            month=month, said=said), 50)
    paginator.count = count  # from the rollup: the same set as the list, without a COUNT(*) over it
    page = paginator.get_page(request.GET.get("page"))
    base = {k: v for k, v in request.GET.items() if k in ("range", "start", "end")}
    narrowing = {k: v for k, v in (("event_type", event_type), ("month", month)) if v}
    selection = {**narrowing, **({"said": said} if said is not None else {})}
    for group in groups:
        group["url"] = "?" + urlencode({**base, "event_type": group["event_type_name"], "month": f"{group['month']:%Y-%m}"})
    sources = selectors.source_choices()
    known = set(sources)
    for group in said_groups:
        group["url"] = "?" + urlencode({**base, **narrowing, "said": group["self_reported_source"]})
        group["source"] = group["self_reported_source"] if group["self_reported_source"] in known else ""
    ruleset = ruleset_current()
    return {
        "period": period, "presets": PRESETS, "filters": filters, "event_type": event_type, "month": month, "said": said,
        "page": page, "count": count, "groups": groups, "said_groups": said_groups,
        "total": sum(g["bookings"] for g in groups),
        "rescued": selectors.journey_rescued_count(booked_after=start, booked_before=end),
        "history": selectors.assignment_history(),
        "sources": sources, "channels": [c for c in ruleset_channels(ruleset) if c != DIRECT],
        "counted": demo_event_types(),
        # The filter's choices: the known event types, and the one asked for if the rollup has none of it yet.
        "event_types": sorted({*known_values("event_type_name"), *([event_type] if event_type else [])}),
        "base_query": urlencode(base), "selection_query": urlencode({**base, **selection}),
        "narrowing_query": urlencode({**base, **narrowing}), "bulk_limit": selectors.BULK_ASSIGN_LIMIT,
        **extra,
    }


def _int(value: str) -> int:
    if not (value.isascii() and value.isdigit()):
        raise ValueError(f"{value[:40]!r} is not an id")
    return int(value)


def _signature(data: dict) -> str:
    """What a preview showed: a confirm applies only these values (edited fields are previewed again first)."""
    return "|".join(data.get(k) or "" for k in ("source", "medium", "campaign", "result_channel"))


def _backlog_answer(request) -> HttpResponse:
    """After an assignment or revert: POST-redirect-GET without JavaScript; the refreshed card for htmx."""
    if not request.htmx:
        return redirect(request.get_full_path())
    return _render(request, "dashboard/direct.html", "dashboard/_backlog.html", _backlog_context(request))


def _assign(request):
    if not request.user.has_perm("attribution.assign_attribution"):
        raise PermissionDenied
    if request.POST.get("revert") or request.POST.get("revert_batch"):
        try:
            if request.POST.get("revert_batch"):
                batch = request.POST["revert_batch"]
                if not re.fullmatch(r"[0-9a-f]{32}", batch):
                    raise ValueError(f"{batch[:40]!r} is not a bulk assignment")
                n = services.manual_attribution_revert_batch(batch=batch, user=request.user)
                messages.success(request, f"Bulk assignment reverted: {n} booking{'s' if n != 1 else ''}.")
            else:
                services.manual_attribution_revert(manual_id=_int(request.POST["revert"]), user=request.user)
                messages.success(request, "Assignment reverted.")
        except ValueError as exc:
            messages.error(request, f"Not reverted: {exc}.")
        return _backlog_answer(request)
    bulk = "answer" in request.POST  # "They said": every booking of the selection with this answer
    answer = request.POST.get("answer", "")[:255]
    ids = [int(i) for i in request.POST.getlist("booking") if i.isascii() and i.isdigit() and len(i) < 19]
    if not bulk and not ids:
        messages.error(request, "Select at least one booking.")
        return _backlog_answer(request)
    form = AssignForm(request.POST, ruleset=ruleset_current(), mediums=selectors.source_mediums)
    valid = form.is_valid()
    if bulk and (not answer or "\x00" in answer):
        form.add_error(None, "Bookings whose people gave no answer can't be assigned by their answer." if not answer
                       else "That answer holds a NUL character: no booking has it.")
        answer, valid = "", False
    period = _period(request)
    start, end = period.bounds()
    filters = BacklogFilterForm(request.GET)
    filters.is_valid()
    selection = {"booked_after": start, "booked_before": end, "event_type": filters.value("event_type"),
                 "month": filters.value("month")}
    if bulk and not answer:
        moving = 0
    elif bulk:
        narrowed = selectors.direct_backlog_filters(**selection, said=answer)
        moving = min(sum(g["bookings"] for g in selectors.direct_backlog_said(**narrowed)), selectors.BULK_ASSIGN_LIMIT)
    else:  # only the chosen bookings still in the backlog: a tampered id, or one assigned since, is left alone
        ids = selectors.direct_backlog_ids(booking_ids=ids)
        moving = len(ids)
    # What the preview showed also covers which bookings and how many: a confirm for another selection (an edited
    # URL, other ids) or after the backlog changed (a booking came or went) is previewed again, never applied.
    shown = [start.isoformat(), end.isoformat(), selection["event_type"] or "", selection["month"] or "", str(moving),
             ",".join(map(str, sorted(ids))) if not bulk else answer]
    signature = "|".join([_signature(form.cleaned_data), *shown]) if valid else ""
    if valid and request.POST.get("confirm") and moving and request.POST.get("previewed") == signature:
        data = form.cleaned_data
        if bulk:
            ids = selectors.direct_backlog_ids(**selection, said=answer)
        n = services.bookings_assign_attribution(
            booking_ids=ids, source=data["source"], medium=data["medium"], campaign=data["campaign"], user=request.user,
            batch=uuid.uuid4().hex if bulk else "", backlog_only=True)
        messages.success(request, f"{n} booking{'s' if n != 1 else ''} attributed to {data['source']}"
                                  f" ({data['result_channel']}).")
        return _backlog_answer(request)
    if not valid:
        messages.error(request, f"Not assigned: {form_errors(form)}")
    preview = {"form": form, "valid": valid, "bulk": bulk, "answer": answer, "ids": ids, "moving": moving,
               "signature": signature}
    return _render(request, "dashboard/direct.html", "dashboard/_assign_preview.html",
                   _backlog_context(request, period=period, preview=preview))


@login_required
@permission_required("attribution.view_dashboard", raise_exception=True)
def hygiene(request):
    failed = None
    if request.method == "POST":
        failed = _hygiene_action(request)
        if failed is None:
            return redirect("dashboard-hygiene")
    data = selectors.hygiene()
    if request.GET.get("export") == "unassigned":
        return _csv("unassigned.csv", data["unassigned"], ["source", "medium", "bookings"])
    ruleset = ruleset_current()
    return render(request, "dashboard/hygiene.html", {
        "data": data, "reattribute": selectors.reattribute_job_banner(), "failed": failed,
        "channels": [c for c in ruleset_channels(ruleset) if c not in (DIRECT, UNASSIGNED)],
        "sources": selectors.source_choices()})


def _hygiene_action(request) -> dict | None:
    """Add an alias or a rule; None when done (the view redirects), else the failed form, shown next to its row."""
    action = request.POST.get("action")
    if action == "alias":
        if not request.user.has_perm("attribution.add_alias"):
            raise PermissionDenied
        form = AliasForm(request.POST, ruleset=ruleset_current())
        if not form.is_valid():
            missing = any(e.code == "required" for errors in form.errors.as_data().values() for e in errors)
            messages.error(request, "Both the spelling and the canonical value are needed." if missing
                           else f"Alias not added: {form_errors(form)}")
            return {"action": "alias", "key": request.POST.get("value", ""), "form": form}
        value, canonical, field = form.cleaned_data["value"], form.cleaned_data["canonical"], form.cleaned_data["field"]
        services.alias_create(field_name=field, value=value, canonical=canonical)
        _reattribute_queue(request, f"Alias {value} → {canonical} added",
                           where_source=utm_normalize(value) if field == "source" else None)
    elif action == "rule":
        if not request.user.has_perm("attribution.add_channelrule"):
            raise PermissionDenied
        form = RuleForm(request.POST, channels=ruleset_channels(ruleset_current()))
        if not form.is_valid():
            missing = any(e.code == "required" for errors in form.errors.as_data().values() for e in errors)
            messages.error(request, "A channel name and a source are needed." if missing
                           else f"Rule not added: {form_errors(form)}")
            return {"action": "rule", "key": request.POST.get("source", ""), "form": form}
        channel, source = form.cleaned_data["channel"], form.cleaned_data["source"]
        services.channel_rule_create(channel=channel, source=source, medium=form.cleaned_data["medium"])
        _reattribute_queue(request, f"Rule “{source} → {channel}” added", where_source=utm_normalize(source))
    return None


def _reattribute_queue(request, done: str, *, where_source: str | None) -> None:
    """The request only queues the job; a worker re-attributes batch by batch (progress on this page)."""
    job, created = services.reattribute_job_start(where_source=where_source, user=request.user)
    if created:
        messages.success(request, f"{done}; its bookings are being re-attributed in the background (job #{job.pk}).")
    elif job.since is None and job.where_source is None:  # a full job takes rule edits made while it runs
        messages.success(request, f"{done}; the re-attribution already running (job #{job.pk}) applies it.")
    else:
        messages.warning(request, f"{done}, but another re-attribution (job #{job.pk}, {job.scope}) is running: "
                                  "apply this change with “Re-attribute bookings” in the admin when it finishes.")


@login_required
@permission_required("attribution.view_dashboard", raise_exception=True)
def links(request):
    result, errors, saved = None, [], None
    values = {k: request.POST.get(k, "") for k in ("base_url", "source", "medium", "campaign", "content", "term")}
    if request.method == "POST":
        try:
            if request.POST.get("save"):  # "Save as tracked link": the same checks, plus a short /l/<slug>
                link, result = tracked_link_create(destination=values["base_url"], source=values["source"],
                                                   medium=values["medium"], campaign=values["campaign"],
                                                   content=values["content"], term=values["term"], owner=request.user)
                saved = short_url(link.slug)
            else:
                result = link_build(**values, ruleset=ruleset_current())
        except LinkError as exc:
            errors = exc.findings
    tracked = [{"link": link, "short_url": short_url(link.slug)} for link in tracked_link_list()]
    return render(request, "dashboard/links.html", {"values": values, "result": result, "errors": errors,
                                                    "saved": saved, "tracked": tracked})
