"""What the app does in Slack. `register(app)` wires every listener; new features add a function
here (or, as they grow, a module of their own registered the same way)."""

import logging
from datetime import datetime, timezone

from slack_sdk.errors import SlackApiError

from installations import models
from installations.stores import workspace_ids

logger = logging.getLogger(__name__)


def answer_mention(event, say):
    say(text=f"Hi <@{event['user']}>! I'm here. Try `/hello` too.", thread_ts=event.get("thread_ts"))


def hello(ack, command, client):
    ack()
    try:
        client.chat_postEphemeral(
            channel=command["channel_id"], user=command["user_id"], text=f"Hello, <@{command['user_id']}>! :wave:"
        )
    except SlackApiError as error:
        # Raising after ack() would make Bolt drop the ack and answer 404 (thread_runner.py).
        logger.warning("/hello could not answer: %s", error.response.get("error"))


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
    from bolt_app.app import get_store  # bolt_app.app imports this module

    return get_store()


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
    app.event("app_mention")(answer_mention)
    app.command("/hello")(hello)
    app.event("app_uninstalled")(app_uninstalled)
    app.event("tokens_revoked")(tokens_revoked)
