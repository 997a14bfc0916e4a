"""Scope drift: plugins declare the bot scopes they need; a workspace installed before a scope was
added lacks it until it reinstalls.

Such a workspace skips that plugin's methods (no call is made that Slack would refuse), and the
first time per process the gap is logged with the scope and recorded for the admin. A call Slack
refuses with `missing_scope` is recorded the same way. The next install clears the records.
"""

import logging
import threading

from django.conf import settings
from django.db import IntegrityError, transaction

from installations.models import Workspace
from plugins import context
from plugins.models import MissingScope

logger = logging.getLogger("slackhub.plugins")
# (storage key, install time, plugin, scope) logged and recorded by this process: a new install of the
# workspace is a new key, so what it still lacks is recorded again.
_noted: set = set()
_lock = threading.Lock()


def lacking(workspace: context.WorkspaceContext, wanted) -> list[str]:
    granted = set(workspace.bot_scopes or ())
    return sorted(scope for scope in wanted if scope not in granted)


def note(workspace: context.WorkspaceContext, plugin: str, scopes, reason: str) -> None:
    """Log and record, once per process, that `workspace` lacks `scopes` for `plugin`."""
    new = []
    with _lock:
        for scope in scopes:
            key = (workspace.storage_key, workspace.installed_at, plugin, scope)
            if key not in _noted:
                _noted.add(key)
                new.append(scope)
    if not new:
        return
    logger.warning(
        "plugin %s %s in workspace %s: it needs %s; the workspace must reinstall the app to grant it",
        plugin, reason, workspace.team_id or workspace.enterprise_id, ", ".join(new),
    )
    row = Workspace.objects.of(settings.SLACK_CLIENT_ID, *context.workspace_ids_of(workspace)).first()
    for scope in new:
        if row is not None:
            try:
                with transaction.atomic():
                    MissingScope.objects.get_or_create(workspace=row, scope=scope, plugin=plugin)
            except IntegrityError:
                pass


def refused(workspace: context.WorkspaceContext, needed: str) -> None:
    note(workspace, workspace.plugin, [scope for scope in needed.split(",") if scope], "was refused a call (missing_scope)")


def cleared(workspace_row) -> None:
    """A reinstall or an uninstall: forget what the workspace lacked (its next events re-check)."""
    MissingScope.objects.filter(workspace=workspace_row).delete()


def requested() -> list[str]:
    """The bot scopes to request at install: `SLACK_SCOPES` plus every loaded plugin's."""
    from plugins.loader import registry

    return sorted(set(settings.SLACK_SCOPES) | registry().scopes)


def reinstall_url() -> str:
    return f"{settings.SERVICE_URL.rstrip('/')}/slack/install"
