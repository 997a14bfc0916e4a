"""What the app does in Slack. `register(app)` wires Bolt's listeners: uninstall and revocation
here, everything else (messages, mentions, commands, block actions, any event) to the plugins."""

import logging
from datetime import datetime, timezone

from slack_bolt.middleware import Middleware
from slack_bolt.response import BoltResponse

from bolt_app.dedupe import delivery_key
from installations import metrics, models
from installations.stores import installation_store, workspace_ids
from plugins.tasks import enqueue

logger = logging.getLogger(__name__)
OWN_EVENTS = ("app_uninstalled", "tokens_revoked")  # handled here, on Bolt's listeners
SUGGESTIONS = ("block_suggestion", "dialog_suggestion")  # an external select asking for its options


class ToPlugins(Middleware):
    """Bolt global middleware (last): every request but uninstall and revocation goes to the plugins.

    It runs in the request's own thread, so the work is in the broker (or, with the broker down,
    queued in this process) before Slack gets its 200: an acked event survives a deploy. Bolt's
    listeners would run on its in-memory thread pool after the ack instead (thread_runner.py).
    """

    def process(self, *, req, resp, next):
        body = req.body
        if body.get("type") in SUGGESTIONS:  # answered in the ack or not at all; no plugin API offers options
            return BoltResponse(status=200, body={"options": []})
        if (body.get("event") or {}).get("type") in OWN_EVENTS:
            metrics.count_slack_request(body, "listener")
            return next()
        # Slack's deprecated verification token stays out of the broker (and out of its failure logs).
        work = {name: value for name, value in body.items() if name != "token"}
        try:
            enqueue(work, workspace_of(req.context, body), key=delivery_key(body))
        except Exception:
            metrics.count_slack_request(body, "error")
            raise
        metrics.count_slack_request(body, "queued")
        return BoltResponse(status=200, body="")


def workspace_of(context, body) -> dict:
    """The ids `plugins.dispatch.handle` authorizes from (plain JSON, for a task message).

    With an org-wide install Bolt's context has no team (events name it in `authorizations`, which
    an org-wide install leaves empty); the workspace of the org the request came from is in the body,
    and plugins need it (roles hold per workspace).
    """
    team_id = context.team_id
    if not team_id and context.is_enterprise_install:
        team_id = (body.get("team_id") or (body.get("event") or {}).get("team")
                   or (body.get("user") or {}).get("team_id") or None)
    return {
        "enterprise_id": context.enterprise_id,
        "team_id": team_id if isinstance(team_id, str) else None,
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
    workspace = models.Workspace.objects.of(installation_store().client_id, scope["enterprise_id"], scope["team_id"]).first()
    models.InstallationEvent.record(workspace, kind, actor="slack", detail=detail)


def app_uninstalled(body, context):
    scope = _event_scope(body, context)
    deleted = installation_store().delete_all(**scope)
    _audit(scope, models.InstallationEvent.UNINSTALLED, f"app_uninstalled event; {deleted} rows deleted")


def tokens_revoked(event, body, context):
    scope = _event_scope(body, context)
    tokens = event.get("tokens") or {}
    user_ids, bot = tokens.get("oauth") or [], bool(tokens.get("bot"))
    changed = installation_store().revoke_tokens(user_ids=user_ids, bot=bot, **scope)
    revoked = ", ".join(user_ids + (["bot"] if bot else []))
    _audit(scope, models.InstallationEvent.REVOKED, f"tokens_revoked event ({revoked}); {changed} rows changed")


def register(app):
    app.use(ToPlugins())
    app.event("app_uninstalled")(app_uninstalled)
    app.event("tokens_revoked")(tokens_revoked)
