"""What the app does in Slack. `register(app)` puts every request Bolt has checked and authorized
(events, uninstall and revocation included, commands, block actions) on the broker, then acks it.

No Bolt listener is registered: listeners run on Bolt's in-memory thread pool after the ack, and
whatever waits there is lost when the process goes (a deploy). A worker runs `plugins.tasks.handle_event`
instead: the plugins' handlers, or `installations.uninstall.apply_slack_event`.
"""

import logging

from slack_bolt.middleware import Middleware
from slack_bolt.response import BoltResponse

from bolt_app.dedupe import delivery_key
from installations import metrics
from plugins.tasks import enqueue

logger = logging.getLogger(__name__)
SUGGESTIONS = ("block_suggestion", "dialog_suggestion")  # an external select asking for its options


class ToPlugins(Middleware):
    """Bolt global middleware (the only one after Bolt's own): every request goes to a worker.

    It runs in the request's own thread, so the work is in the broker (or, with the broker down,
    queued in this process) before Slack gets its 200: an acked event survives a deploy. Bolt's
    listeners would run on its in-memory thread pool after the ack instead (thread_runner.py).
    """

    def process(self, *, req, resp, next):
        body = req.body
        if body.get("type") in SUGGESTIONS:  # answered in the ack or not at all; no plugin API offers options
            return BoltResponse(status=200, body={"options": []})
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


def register(app):
    app.use(ToPlugins())
