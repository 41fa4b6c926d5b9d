from django.urls import path

from attribution import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("direct/", views.direct_backlog, name="dashboard-direct"),
    path("hygiene/", views.hygiene, name="dashboard-hygiene"),
    path("links/", views.links, name="dashboard-links"),
]
