from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig


class ProjectConfig(AppConfig):
    """The project package as an app: only to register the start-up guards (project/checks.py)."""

    name = "project"
    label = "sourcebook_project"
    verbose_name = "Sourcebook"

    def ready(self):
        from project import checks  # noqa: F401 - registers the system checks


class SourcebookAdminConfig(AdminConfig):
    """`django.contrib.admin` with our site (project/admin_site.py) as the default `admin.site`."""

    default_site = "project.admin_site.SourcebookAdminSite"
