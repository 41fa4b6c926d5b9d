"""The start page and the log-in page: both send each role to its own page (project/landing.py)."""

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect

from project.landing import after_login_url, landing_url


@login_required
def home(request):
    return redirect(landing_url(request.user))


class RoleLoginView(auth_views.LoginView):
    def get_success_url(self):
        return after_login_url(self.request.user, self.get_redirect_url())
