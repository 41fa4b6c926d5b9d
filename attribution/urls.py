from django.urls import path

from attribution import apis

urlpatterns = [
    path("api/reports/breakdown/", apis.BreakdownReportApi.as_view(), name="api-report-breakdown"),
    path("api/reports/timeseries/", apis.TimeseriesReportApi.as_view(), name="api-report-timeseries"),
    path("api/reports/hygiene/", apis.HygieneReportApi.as_view(), name="api-report-hygiene"),
    path("api/contacts/attribution/", apis.ContactAttributionApi.as_view(), name="api-contact-attribution"),
    path("api/links/build/", apis.LinkBuildApi.as_view(), name="api-link-build"),
]
