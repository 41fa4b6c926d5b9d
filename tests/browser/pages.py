"""What the browser tests share: the demo site behind the live server, and logging in on its form."""

from django.contrib.auth.models import Group, User
from django.core.management import call_command

PASSWORD = "browser-pw-123"
ROLES = {"marketing": "Marketing", "sales": "Sales", "boss": "Admin"}


def demo_site(live_server, *, count: int = 160, users=("marketing",), superuser: str = "") -> str:
    """The default rules and roles, `count` demo bookings sent through the webhook, and users by role (their
    name says the role: `ROLES`). Transactional tests truncate tables, seeded rules included: seed again."""
    from attribution.services import defaults_install

    defaults_install()
    call_command("setup_roles", verbosity=0)
    if count:
        call_command("seed_demo", "--count", str(count), verbosity=0)
    for name in users:
        user = User.objects.create_user(name, password=PASSWORD, is_staff=True)
        user.groups.add(Group.objects.get(name=ROLES[name]))
    if superuser:
        User.objects.create_superuser(superuser, password=PASSWORD)
    return live_server.url


def log_in(page, site: str, username: str):
    page.goto(f"{site}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()
    return page


def login(browser, site: str, username: str, *, width: int = 1280):
    """A new page at `width` px, logged in."""
    return log_in(browser.new_page(viewport={"width": width, "height": 900}), site, username)
