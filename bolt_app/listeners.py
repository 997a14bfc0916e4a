"""What the app does in Slack. `register(app)` wires Bolt's listeners: uninstall and revocation
here, everything else (messages, mentions, commands, block actions, any event) to the plugins."""

import logging
import re
from datetime import datetime, timezone

from installations import models
from installations.stores import installation_store, workspace_ids
from plugins.dispatch import handle as deliver

logger = logging.getLogger(__name__)
ANYTHING = re.compile(".*")


def to_plugins(ack, body, context):
    """Every other event, command and block action: acknowledged, then handed to the plugins."""
    ack()
    deliver(body, workspace_of(context))


def workspace_of(context) -> dict:
    """The ids `plugins.dispatch.handle` authorizes from (plain JSON, for a task message)."""
    return {
        "enterprise_id": context.enterprise_id,
        "team_id": context.team_id,
        "is_enterprise_install": bool(context.is_enterprise_install),
        "user_id": context.user_id,
    }


def _event_scope(body, context):
    """The workspace an uninstall/revocation event is about, and when it happened.

    Org-wide installs are keyed by enterprise alone. Events arrive late and out of order (bolt-js
    #673, #1558): only installs made before the event are touched.
    """
    enterprise_id, team_id = workspace_ids(context.enterprise_id, context.team_id, context.is_enterprise_install)
    event_time = body.get("event_time")
    # event_time is whole seconds: anything installed within that second predates the event.
    happened_at = datetime.fromtimestamp(int(event_time) + 1, tz=timezone.utc) if event_time else None
    return dict(enterprise_id=enterprise_id, team_id=team_id, installed_before=happened_at)


def _audit(scope, kind, detail):
    workspace = models.Workspace.objects.of(_store().client_id, scope["enterprise_id"], scope["team_id"]).first()
    if workspace is not None:
        models.InstallationEvent.objects.create(workspace=workspace, kind=kind, actor="slack", detail=detail)


def _store():
    return installation_store()


def app_uninstalled(body, context):
    scope = _event_scope(body, context)
    deleted = _store().delete_all(**scope)
    _audit(scope, models.InstallationEvent.UNINSTALLED, f"app_uninstalled event; {deleted} rows deleted")


def tokens_revoked(event, body, context):
    scope = _event_scope(body, context)
    tokens = event.get("tokens") or {}
    user_ids, bot = tokens.get("oauth") or [], bool(tokens.get("bot"))
    changed = _store().revoke_tokens(user_ids=user_ids, bot=bot, **scope)
    revoked = ", ".join(user_ids + (["bot"] if bot else []))
    _audit(scope, models.InstallationEvent.REVOKED, f"tokens_revoked event ({revoked}); {changed} rows changed")


def register(app):
    app.event("app_uninstalled")(app_uninstalled)
    app.event("tokens_revoked")(tokens_revoked)
    # Bolt runs the first listener that matches, so these catch what the two above do not.
    app.event(ANYTHING)(to_plugins)
    app.command(ANYTHING)(to_plugins)
    app.action(ANYTHING)(to_plugins)
