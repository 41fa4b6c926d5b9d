from django.urls import path

from journeys import apis, dashboard_views, demo_views, views

urlpatterns = [
    path("sourcebook.js", views.snippet, name="journeys-snippet"),
    path("collect/", views.collect, name="journeys-collect"),
    path("collect", views.collect),  # a site that forgets the slash must not get a redirect (beacons don't follow)
    path("l/<slug:slug>", views.tracked_link, name="journeys-link"),
    path("api/links/", apis.TrackedLinkCreateApi.as_view(), name="api-links"),
    path("api/journeys/", apis.JourneyGetApi.as_view(), name="api-journeys"),
    path("demo-site/", demo_views.demo_page, name="journeys-demo-site"),
    path("demo-site/pricing/", demo_views.demo_page, {"page": "pricing"}, name="journeys-demo-pricing"),
    path("dashboard/people/", dashboard_views.person, name="dashboard-person"),
]
