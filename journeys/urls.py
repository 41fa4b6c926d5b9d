from django.urls import path

from journeys import apis, views

urlpatterns = [
    path("sourcebook.js", views.snippet, name="journeys-snippet"),
    path("collect/", views.collect, name="journeys-collect"),
    path("collect", views.collect),  # a site that forgets the slash must not get a redirect (beacons don't follow)
    path("l/<slug:slug>", views.tracked_link, name="journeys-link"),
    path("api/links/", apis.TrackedLinkCreateApi.as_view(), name="api-links"),
    path("api/journeys/", apis.JourneyGetApi.as_view(), name="api-journeys"),
]
