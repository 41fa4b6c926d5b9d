"""Report and attribution APIs. Thin: parse input, call a selector/service, serialize."""

from datetime import datetime, time

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from attribution import money, selectors, spend
from attribution.links import LinkError, link_build
from attribution.ruleset import ruleset_current
from attribution.periods import EARLIEST, LATEST
from project.permissions import HasPerm
from project.renderers import ReportCSVRenderer

DASHBOARD = [HasPerm("attribution.view_dashboard")]

REPORT_RENDERERS = [JSONRenderer, BrowsableAPIRenderer, ReportCSVRenderer]
SPEND_METRICS = ("cost", "roas")  # attribution.spend: uploaded spend, by channel/source/medium/campaign only
METRICS = (*money.METRICS, *SPEND_METRICS)


class DateOrDateTimeField(serializers.Field):
    """Accepts 2026-06-01 (start of that day in TIME_ZONE) or a full ISO 8601 timestamp."""

    def to_internal_value(self, data):
        from django.utils.dateparse import parse_date, parse_datetime

        try:
            parsed = parse_datetime(str(data))
            if parsed is None:
                day = parse_date(str(data))
                if day is None:
                    raise ValueError
                parsed = datetime.combine(day, time.min)
        except ValueError:
            raise serializers.ValidationError("Use YYYY-MM-DD or an ISO 8601 timestamp.")
        if not EARLIEST.year <= parsed.year <= LATEST.year:  # 0001 or 9999 overflow the time zone arithmetic
            raise serializers.ValidationError(f"Use a date between {EARLIEST.year} and {LATEST.year}.")
        if timezone.is_naive(parsed):
            parsed = timezone.make_aware(parsed)
        return parsed

    def to_representation(self, value):
        return value.isoformat()


class ReportFilterSerializer(serializers.Serializer):
    booked_after = DateOrDateTimeField(required=False)
    booked_before = DateOrDateTimeField(required=False)
    status = serializers.ChoiceField(choices=["active", "canceled"], required=False)
    event_type = serializers.CharField(required=False)
    channel = serializers.CharField(required=False)
    source = serializers.CharField(required=False)
    medium = serializers.CharField(required=False)
    campaign = serializers.CharField(required=False)


class ModelReportSerializer(ReportFilterSerializer):
    model = serializers.ChoiceField(choices=list(selectors.MODELS), default="booking")


FILTER_PARAMETERS = [
    OpenApiParameter("booked_after", str, description="YYYY-MM-DD or ISO timestamp (inclusive)"),
    OpenApiParameter("booked_before", str, description="YYYY-MM-DD or ISO timestamp (exclusive)"),
    OpenApiParameter("status", str, enum=["active", "canceled"]),
    OpenApiParameter("event_type", str),
    OpenApiParameter("channel", str), OpenApiParameter("source", str),
    OpenApiParameter("medium", str), OpenApiParameter("campaign", str),
]
MODEL_PARAMETER = [
    OpenApiParameter("model", str, enum=list(selectors.MODELS),
                     description="attribution model: the booking's own (default), its journey's first touch, or its "
                                 "last non-direct touch; totals are the same under every model"),
]


class BreakdownReportApi(APIView):
    """Bookings by channel → source → medium → campaign; a rescheduled booking counts once."""

    permission_classes = DASHBOARD

    renderer_classes = REPORT_RENDERERS

    class InputSerializer(ModelReportSerializer):
        group_by = serializers.CharField(required=False, default="channel")
        metric = serializers.ChoiceField(choices=list(METRICS), required=False)

        def validate_group_by(self, value):
            fields = [f.strip() for f in value.split(",") if f.strip()]
            unknown = [f for f in fields if f not in selectors.GROUP_FIELDS]
            if not fields or unknown:
                raise serializers.ValidationError(f"Choose from {', '.join(selectors.GROUP_FIELDS)}.")
            return fields

        def validate(self, attrs):
            if attrs.get("metric") in SPEND_METRICS:
                other = [g for g in attrs.get("group_by", ["channel"]) if g not in spend.SPEND_GROUPS]
                if other:
                    raise serializers.ValidationError({"group_by": f"Spend is uploaded per channel, source, medium and "
                                                                   f"campaign: {', '.join(other)} can't be used with "
                                                                   f"metric={attrs['metric']}."})
            return attrs

    class RowSerializer(serializers.Serializer):
        bookings = serializers.IntegerField()
        canceled = serializers.IntegerField()
        no_show = serializers.IntegerField()
        share = serializers.FloatField()

    @extend_schema_serializer(component_name="BreakdownReport")
    class OutputSerializer(serializers.Serializer):
        rows = serializers.ListField(child=serializers.DictField())
        total = serializers.JSONField(help_text="an integer; with metric=pipeline|revenue|cost a decimal string, or "
                                                 "an object per currency code when currencies are mixed without "
                                                 "rates; with metric=roas won revenue ÷ cost as a decimal string "
                                                 "(null without cost or when currencies can't be brought together)")

    @extend_schema(
        parameters=[OpenApiParameter("group_by", str, description="comma list of " + ", ".join(selectors.GROUP_FIELDS)),
                    OpenApiParameter("metric", str, enum=list(METRICS), description=(
                        "what rows and `total` measure: bookings, held meetings, credited HubSpot deals, pipeline "
                        "(their amounts, any state), won deals, revenue (won amounts), cost (uploaded spend), roas "
                        "(won revenue ÷ cost). Money is a decimal string; in several currencies without HubSpot "
                        "exchange rates, an object per currency code. cost and roas group by channel, source, "
                        "medium, campaign only, and add `days_without_spend` and `missing_days` ([first, last] "
                        "ranges): days with no spend data, which are not zero cost.")),
                    *FILTER_PARAMETERS, *MODEL_PARAMETER],
        responses=OutputSerializer,
    )
    def get(self, request):
        params = self.InputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        metric = params.validated_data.pop("metric", None)
        if metric in SPEND_METRICS:
            group_by = params.validated_data.get("group_by", ["channel"])
            self.csv_columns = [*group_by, "cost", *(["revenue", "roas"] if metric == "roas" else [])]
            build = spend.cost_breakdown if metric == "cost" else spend.roas_breakdown
            report = build(**params.validated_data)
            if getattr(request, "accepted_renderer", None) and request.accepted_renderer.format == "csv":
                report["rows"] = spend.rows_flat(report, ("cost", "revenue"))
            return Response(report)
        if metric:
            group_by = params.validated_data.get("group_by", ["channel"])
            self.csv_columns = [*group_by, metric, *(["deals"] if metric in money.AMOUNT_METRICS else [])]
            report = money.metric_breakdown(metric=metric, **params.validated_data)
            if getattr(request, "accepted_renderer", None) and request.accepted_renderer.format == "csv":
                report["rows"] = money.rows_flat(report, metric)  # one column per currency, never a dict in a cell
            return Response(report)
        self.csv_columns = [*params.validated_data.get("group_by", ["channel"]), *selectors.COUNT_COLUMNS, "share"]
        return Response(selectors.breakdown(**params.validated_data))


class TimeseriesReportApi(APIView):
    """Bookings per day/week/month and group, for the stacked chart."""

    permission_classes = DASHBOARD

    renderer_classes = REPORT_RENDERERS

    class InputSerializer(ModelReportSerializer):
        interval = serializers.ChoiceField(choices=list(selectors.INTERVALS), default="day")
        group_by = serializers.ChoiceField(choices=list(selectors.GROUP_FIELDS), default="channel")

    @extend_schema_serializer(component_name="TimeseriesReport")
    class OutputSerializer(serializers.Serializer):
        interval = serializers.CharField()
        group_by = serializers.CharField()
        rows = serializers.ListField(child=serializers.DictField())
        total = serializers.IntegerField()

    @extend_schema(
        parameters=[OpenApiParameter("interval", str, enum=list(selectors.INTERVALS)),
                    OpenApiParameter("group_by", str, enum=list(selectors.GROUP_FIELDS)), *FILTER_PARAMETERS,
                    *MODEL_PARAMETER],
        responses=OutputSerializer,
    )
    def get(self, request):
        params = self.InputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        self.csv_columns = ["period", params.validated_data.get("group_by", "channel"), *selectors.COUNT_COLUMNS]
        return Response(selectors.timeseries(**params.validated_data))


class HygieneReportApi(APIView):
    """Unassigned values, banned values, spelling collisions and the (direct) backlog."""

    permission_classes = DASHBOARD

    @extend_schema_serializer(component_name="HygieneReport")
    class OutputSerializer(serializers.Serializer):
        unassigned = serializers.ListField(child=serializers.DictField())
        banned = serializers.ListField(child=serializers.DictField())
        collisions = serializers.ListField(child=serializers.DictField())
        direct_backlog = serializers.ListField(child=serializers.DictField())

    @extend_schema(parameters=FILTER_PARAMETERS[:4], responses=OutputSerializer)
    def get(self, request):
        params = ReportFilterSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        return Response(selectors.hygiene(**params.validated_data))


class ContactAttributionApi(APIView):
    """First- and last-touch attribution for one email."""

    permission_classes = DASHBOARD

    class InputSerializer(serializers.Serializer):
        email = serializers.EmailField()

    @extend_schema_serializer(component_name="ContactAttribution")
    class OutputSerializer(serializers.Serializer):
        email = serializers.EmailField()
        first_touch = serializers.DictField()
        last_touch = serializers.DictField()
        bookings_count = serializers.IntegerField()
        self_reported_source = serializers.CharField()

    @extend_schema(parameters=[OpenApiParameter("email", str, required=True)], responses=OutputSerializer)
    def get(self, request):
        params = self.InputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        data = selectors.contact_attribution(email=params.validated_data["email"])
        if data is None:
            return Response({"detail": "No bookings for this email."}, status=404)
        return Response(data)


# --- links (lint / build) -----------------------------------------------------------------------


class LinkBuildApi(APIView):
    """Build a tagged booking link; refuse values that break the UTM convention, saying why."""

    permission_classes = DASHBOARD

    class InputSerializer(serializers.Serializer):
        base_url = serializers.CharField()
        source = serializers.CharField(allow_blank=True)
        medium = serializers.CharField(allow_blank=True)
        campaign = serializers.CharField(allow_blank=True)
        content = serializers.CharField(required=False, allow_blank=True, default="")
        term = serializers.CharField(required=False, allow_blank=True, default="")

    @extend_schema_serializer(component_name="BuiltLink")
    class OutputSerializer(serializers.Serializer):
        url = serializers.CharField()

    @extend_schema(request=InputSerializer, responses={200: OutputSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            url = link_build(**data.validated_data, ruleset=ruleset_current())
        except LinkError as exc:
            return Response({"errors": [{"field": f.parameter.removeprefix("utm_"), "code": f.code, "message": f.message}
                                        for f in exc.findings]}, status=400)
        return Response({"url": url})
