import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand

DEMO_USERS = [("admin", "Admin", True), ("marketing", "Marketing", False), ("sales", "Sales", False)]


class Command(BaseCommand):
    help = "Create one demo login per role; passwords are random, printed, and kept in .demo-credentials (git-ignored)."

    def add_arguments(self, parser):
        parser.add_argument("--file", default=str(Path(settings.BASE_DIR) / ".demo-credentials"))

    def handle(self, *args, file, **options):
        path = Path(file)
        known = dict(line.split(" ", 1) for line in path.read_text().splitlines() if " " in line) if path.exists() else {}
        for username, role, superuser in DEMO_USERS:
            user = User.objects.filter(username=username).first()
            if user is None:
                password = secrets.token_urlsafe(9)
                user = User.objects.create_user(username, f"{username}@sourcebook.example", password,
                                                is_staff=True, is_superuser=superuser)
                known[username] = password
            user.groups.add(Group.objects.get(name=role))
        path.write_text("".join(f"{u} {p}\n" for u, p in known.items()))
        path.chmod(0o600)
        for username, role, _ in DEMO_USERS:
            self.stdout.write(f"  {role:<10} login: {username:<10} password: {known.get(username, '(set earlier; manage.py changepassword ' + username + ')')}")
