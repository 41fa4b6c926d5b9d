from django.apps import AppConfig


class ProjectConfig(AppConfig):
    """The project package as an app: only to register the start-up guards (project/checks.py)."""

    name = "project"
    label = "sourcebook_project"
    verbose_name = "Sourcebook"

    def ready(self):
        from project import checks  # noqa: F401 - registers the system checks
