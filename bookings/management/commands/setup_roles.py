from django.contrib.auth.models import Group, Permission
from django.core.management.base import BaseCommand

# Marketing owns attribution; Sales reads bookings; Admin does everything (superusers aside).
ROLES = {
    "Marketing": [
        "attribution.view_dashboard", "attribution.assign_attribution",
        "attribution.add_channelrule", "attribution.change_channelrule", "attribution.delete_channelrule", "attribution.view_channelrule",
        "attribution.add_alias", "attribution.change_alias", "attribution.delete_alias", "attribution.view_alias",
        "attribution.add_bannedvalue", "attribution.change_bannedvalue", "attribution.delete_bannedvalue", "attribution.view_bannedvalue",
        "attribution.add_sourcecategory", "attribution.change_sourcecategory", "attribution.view_sourcecategory",
        "attribution.add_spend", "attribution.view_spend", "attribution.delete_spend",  # upload (import) spend CSVs
        "attribution.view_spendimport", "attribution.delete_spendimport",  # see and undo uploads
        "bookings.view_booking",
        "alerts.view_destination", "alerts.view_notification",  # where alerts and the digest go, and what was sent
        "alerts.view_alertstate", "alerts.change_alertstate",  # the alerts' state; silence one (a campaign stopped on purpose)
    ],
    "Sales": ["bookings.view_booking"],
    "Admin": ["*"],
}


def role_permissions(codes: list[str]):
    if codes == ["*"]:
        return Permission.objects.filter(content_type__app_label__in=["attribution", "bookings", "hubspot_sync", "alerts", "auth", "authtoken"])
    pairs = [code.split(".", 1) for code in codes]
    found = [Permission.objects.get(content_type__app_label=app, codename=codename) for app, codename in pairs]
    return found


class Command(BaseCommand):
    help = "Create or update the Marketing, Sales and Admin groups (safe to run again)."

    def handle(self, *args, **options):
        for name, codes in ROLES.items():
            group, created = Group.objects.get_or_create(name=name)
            perms = list(role_permissions(codes))
            group.permissions.set(perms)
            self.stdout.write(f"{'created' if created else 'updated'} group {name} ({len(perms)} permissions)")
