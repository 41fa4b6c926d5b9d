from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from project import views
from project.health import healthz, healthz_details
from project.metrics import metrics_view
from django.contrib.auth.decorators import login_required
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView


urlpatterns = [
    path("", views.home, name="home"),  # each role's own page (project/landing.py)
    path("dashboard/", include("attribution.dashboard_urls")),
    path("accounts/login/", views.RoleLoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(next_page="/accounts/login/"), name="logout"),
    path("admin/", admin.site.urls),
    path("", include("bookings.urls")),
    path("", include("attribution.urls")),
    path("", include("journeys.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # Logged-in users only (SPECTACULAR_SETTINGS["SERVE_PERMISSIONS"]); the docs send a visitor to the
    # login page. The split view serves Swagger UI's init script as a file: no inline script for the CSP.
    path("api/docs/", login_required(SpectacularSwaggerSplitView.as_view(url_name="schema")), name="api-docs"),
    path("healthz", healthz, name="healthz"),
    path("healthz/details", healthz_details, name="healthz-details"),
    path("metrics", metrics_view, name="metrics"),
]
