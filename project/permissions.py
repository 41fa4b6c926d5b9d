from rest_framework.permissions import BasePermission


def HasPerm(perm: str):  # noqa: N802 - reads like a class in permission_classes
    """DRF permission: authenticated and holding one Django permission (roles from setup_roles)."""

    class _HasPerm(BasePermission):
        message = f"Requires the {perm} permission."

        def has_permission(self, request, view):
            return bool(request.user and request.user.is_authenticated and request.user.has_perm(perm))

    _HasPerm.__name__ = f"HasPerm_{perm.replace('.', '_')}"
    return _HasPerm
