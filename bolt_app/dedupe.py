"""What identifies one delivery of a Slack request.

Slack redelivers what it thinks went unanswered (`X-Slack-Retry-Num`: after 3 s, a timeout or a 5xx),
and anyone holding a signed request can replay it within the 5 minutes its timestamp is good for.
Each is acked, but only the first delivery of an event (by `event_id`) or an interaction (by its own
id) is processed: the worker claims the key before it runs the work (`plugins.claims.claimed`), so a
request whose enqueue failed is not taken for delivered.
"""

# Interactions that carry a trigger_id, fresh for each click, submission or command.
_TRIGGERED = ("block_actions", "view_submission", "shortcut", "message_action", "interactive_message",
              "dialog_submission", "workflow_step_edit")


def delivery_key(body: dict) -> "str | None":
    """What identifies one delivery of `body` (a request bolt_app.payloads accepted); None: a request
    that may be repeated (url_verification, options requests, which only read)."""
    kind = body.get("type")
    if kind == "event_callback":
        return f"event:{body['event_id']}"
    if kind is None and "command" in body:
        kind = "command"
    if kind in _TRIGGERED or kind == "command":
        if body.get("trigger_id"):
            return f"{kind}:{body['trigger_id']}"
        if kind == "block_actions":  # from a message in a context that gives no trigger
            message_ts = (body.get("container") or {}).get("message_ts")
            return f"block_actions:{message_ts}:{body['actions'][0].get('action_ts')}"
    if kind == "view_closed" and body["view"].get("id"):
        return f"view_closed:{body['view']['id']}"
    return None
