"""The admin site, with per-role "View site" and landing after the admin's own log-in (project/landing.py).

Installed as the default site by `project.apps.SourcebookAdminConfig` (in INSTALLED_APPS instead of
`django.contrib.admin`), so every `admin.site.register(...)` in the apps lands here unchanged.
"""

from django.contrib import admin
from django.http import HttpResponseRedirect
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache

from project.landing import after_login_url, landing_url


class SourcebookAdminSite(admin.AdminSite):
    site_header = "Sourcebook admin"
    site_title = "Sourcebook"
    index_title = "Bookings, webhook deliveries and the HubSpot queue"
    # The left app list took ~300 px of every page: with it, the bookings list could not fit 1440 px beside its
    # filters. The breadcrumbs and the home page still lead everywhere.
    enable_nav_sidebar = False

    def each_context(self, request):
        context = super().each_context(request)
        if request.user.is_authenticated:
            context["site_url"] = landing_url(request.user)  # marketing: the dashboard; sales: their list
        return context

    @method_decorator(never_cache)
    def login(self, request, extra_context=None):
        response = super().login(request, extra_context)
        if request.method == "POST" and isinstance(response, HttpResponseRedirect) and request.user.is_authenticated:
            target = after_login_url(request.user, response.url)
            if target != response.url:
                return HttpResponseRedirect(target)
        return response
