"""Authentication backends."""

from axes.backends import AxesStandaloneBackend


class AxesRequestBackend(AxesStandaloneBackend):
    """django-axes for every login over HTTP (admin, dashboard): those always pass `request`.

    `authenticate()` without a request comes from code, never from a visitor (Django's test client
    `login()`, a shell): there is no client to throttle, so it is left to the next backend instead of
    raising axes' `AxesBackendRequestParameterRequired`.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)
