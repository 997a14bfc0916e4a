"""Uninstalls: an operator's (revoke the workspace's tokens at Slack, then delete them here), and
Slack's `app_uninstalled` and `tokens_revoked` events (delete or clear what Slack already revoked)."""

import logging
from datetime import datetime, timezone

from slack_sdk.errors import SlackApiError

from installations import models
from installations.slack_api import web_client
from installations.stores import installation_store, workspace_ids

logger = logging.getLogger(__name__)


def uninstall_workspace(store, workspace: models.Workspace, actor: str) -> bool:
    """Returns True if Slack confirmed every revocation; local data is deleted either way."""
    tokens = set()
    for row in workspace.installations.all():
        tokens.update(filter(None, [row.bot_token, row.user_token]))
    for bot in workspace.bots.all():
        tokens.update(filter(None, [bot.bot_token]))
    revoked_everywhere = True
    for token in tokens:
        try:
            web_client(token).auth_revoke()
        except SlackApiError as error:
            # Already revoked or expired at Slack: nothing left to revoke there.
            if error.response.get("error") not in ("invalid_auth", "token_revoked", "token_expired", "account_inactive"):
                revoked_everywhere = False
        except Exception as error:
            logger.warning("auth.revoke failed for %s: %s", workspace, type(error).__name__)
            revoked_everywhere = False
    store.delete_all(enterprise_id=workspace.enterprise_id or None, team_id=workspace.team_id or None)
    detail = "revoked at Slack and deleted" if revoked_everywhere else "deleted here; Slack could not confirm revocation"
    models.InstallationEvent.record(workspace, models.InstallationEvent.UNINSTALLED, actor=actor, detail=detail)
    return revoked_everywhere


SLACK_EVENTS = ("app_uninstalled", "tokens_revoked")


def apply_slack_event(body: dict, workspace: dict) -> None:
    """Apply an `app_uninstalled` or `tokens_revoked` event (`body` as Slack sent it) to the
    workspace it came from (`enterprise_id`, `team_id`, `is_enterprise_install`), with its audit entry.

    Idempotent: a second delivery finds nothing left to change. Events arrive late and out of order
    (bolt-js #673, #1558): only installs made before the event are touched.
    """
    event = body["event"]
    enterprise_id, team_id = workspace_ids(
        workspace.get("enterprise_id"), workspace.get("team_id"), workspace.get("is_enterprise_install")
    )
    event_time = body.get("event_time")
    # event_time is whole seconds: anything installed within that second predates the event.
    happened_at = datetime.fromtimestamp(int(event_time) + 1, tz=timezone.utc) if event_time else None
    scope = dict(enterprise_id=enterprise_id, team_id=team_id, installed_before=happened_at)
    if event["type"] == "app_uninstalled":
        deleted = installation_store().delete_all(**scope)
        kind, detail = models.InstallationEvent.UNINSTALLED, f"app_uninstalled event; {deleted} rows deleted"
    else:
        tokens = event.get("tokens") or {}
        user_ids, bot = tokens.get("oauth") or [], bool(tokens.get("bot"))
        changed = installation_store().revoke_tokens(user_ids=user_ids, bot=bot, **scope)
        revoked = ", ".join(user_ids + (["bot"] if bot else []))
        kind, detail = models.InstallationEvent.REVOKED, f"tokens_revoked event ({revoked}); {changed} rows changed"
    found = models.Workspace.objects.of(installation_store().client_id, enterprise_id, team_id).first()
    models.InstallationEvent.record(found, kind, actor="slack", detail=detail)
