"""Roles per workspace, for `require_any_role` / `require_all_roles` and the `roles` plugin.

Whoever installed the app and the workspace's admins and owners (as Slack says) hold `admin`; any
other role is a `RoleGrant` row, given by the `roles` plugin or in the Django admin. Roles hold in one
workspace: with an org-wide install, in the workspace of the org where they were given, and Slack's
admin flag counts only for a person of the workspace the event comes from.
"""

from django.conf import settings
from django.db import IntegrityError, transaction

from installations.models import Workspace
from plugins import context
from plugins.models import RoleGrant

ADMIN = "admin"


def _workspace():
    here = context.current()
    return Workspace.objects.of(settings.SLACK_CLIENT_ID, *context.workspace_ids_of(here)).first()


def _grants():
    here = context.current()
    return RoleGrant.objects.filter(workspace=_workspace(), team_id=here.team_id or here.enterprise_id or "")


def is_admin(user_id: str) -> bool:
    here = context.current()
    if user_id and user_id == here.installer_user_id:
        return True
    person = here.user(user_id)
    # Slack's admin flag is its own workspace's: not another workspace of the org, not a Slack Connect guest's.
    same_workspace = person is not None and (person.team_id in (None, here.team_id) or not here.team_id)
    return bool(same_workspace and (person.is_admin or person.is_owner))


def roles_of(user_id: str) -> set[str]:
    granted = set(_grants().filter(user_id=user_id).values_list("role", flat=True))
    return granted | ({ADMIN} if is_admin(user_id) else set())


def grant(user_id: str, role: str, granted_by: str = "") -> bool:
    """Give `role` in this workspace; False when the person already held it."""
    here = context.current()
    try:
        with transaction.atomic():
            RoleGrant.objects.create(workspace=_workspace(), team_id=here.team_id or here.enterprise_id or "",
                                     user_id=user_id, role=role, granted_by=granted_by)
    except IntegrityError:
        return False
    return True


def revoke(user_id: str, role: str) -> bool:
    return _grants().filter(user_id=user_id, role=role).delete()[0] > 0


def holders(role: str) -> list[str]:
    """User ids holding `role` by grant here (admins by Slack's say are not listed)."""
    return list(_grants().filter(role=role).values_list("user_id", flat=True))
