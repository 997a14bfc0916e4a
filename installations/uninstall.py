"""An operator's uninstall: revoke the workspace's tokens at Slack, then delete them here."""

import logging

from slack_sdk.errors import SlackApiError

from installations import models
from installations.slack_api import web_client

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
