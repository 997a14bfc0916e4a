"""Requests as Slack sends them to the service: signed Events API envelopes, slash commands and
interactions (block_actions).

The sandbox pages and the project's tests both build their requests here, so what a test sends is
exactly what a person clicking in the sandbox sends.
"""

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
import uuid
from urllib.parse import urlencode

from django.conf import settings

from sandbox.ids import APP_ID, bot_user_id, new_ts, random_part

# Slack's deprecated verification token; Bolt ignores it and checks the signature instead.
VERIFICATION_TOKEN = "sandbox-verification-token"


def sign(body: bytes, secret: str, timestamp: int | None = None) -> dict:
    """Slack's signature headers for `body`, computed over its bytes (slack_sdk's signer decodes them
    as UTF-8 first, so it cannot sign the malformed bodies the tests send)."""
    timestamp = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": f"v0={digest}"}


def event_callback_body(
    team_id, event: dict, enterprise_id=None, is_enterprise_install=False, authorizations=None
) -> dict:
    if authorizations is None:
        installed_on = enterprise_id if is_enterprise_install else team_id
        authorizations = [{
            "enterprise_id": enterprise_id,
            "team_id": None if is_enterprise_install else team_id,
            "user_id": bot_user_id(installed_on),
            "is_bot": True,
            "is_enterprise_install": is_enterprise_install,
        }]
    body = {
        "token": VERIFICATION_TOKEN,
        "team_id": team_id,
        "context_team_id": team_id,
        "context_enterprise_id": enterprise_id,
        "api_app_id": APP_ID,
        "event": event,
        "type": "event_callback",
        "event_id": "Ev" + random_part(10).upper(),
        "event_time": int(time.time()),
        "authorizations": authorizations,
        "is_ext_shared_channel": False,
        "event_context": "4-" + random_part(40),
    }
    if enterprise_id:
        body["enterprise_id"] = enterprise_id
    return body


def sandbox_url() -> str:
    """The sandbox's base URL (ending in /), as the service reaches it: its Web API URL without `api/`."""
    return settings.SLACK_API_URL.rstrip("/").removesuffix("/api") + "/"


def response_url_for(team_id, channel_id, user_id, message_ts=None) -> str:
    """The sandbox's stand-in for a response_url: what is posted there lands in the sandbox's channel
    (ephemeral to `user_id` unless `response_type` is in_channel; a click's can replace its message)."""
    path = f"hooks/{team_id}/{channel_id}/{user_id}" + (f"/{message_ts}" if message_ts else "")
    return sandbox_url() + path


def _said(kind, team_id, user_id, channel_id, text, ts=None, thread_ts=None, **more) -> dict:
    """A person's words as an event of `kind` (`message` or `app_mention`), as Slack shapes them."""
    ts = ts or new_ts()
    event = {
        "type": kind,
        "client_msg_id": str(uuid.uuid4()),
        "text": text,
        "user": user_id,
        "ts": ts,
        "team": team_id,
        "channel": channel_id,
        "event_ts": ts,
        **more,
    }
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


def app_mention(team_id, user_id, channel_id, text, ts=None, thread_ts=None) -> dict:
    return _said("app_mention", team_id, user_id, channel_id, text, ts, thread_ts)


def message(team_id, user_id, channel_id, text, channel_type="channel", thread_ts=None, ts=None) -> dict:
    """A person's `message` event (`channel_type` "im" for a DM with the app, "channel" otherwise)."""
    return _said("message", team_id, user_id, channel_id, text, ts, thread_ts, channel_type=channel_type)


def message_changed(team_id, channel_id, message: dict, previous_message: dict, channel_type="channel") -> dict:
    """An edit: Slack's `message_changed` subtype carries the new message and the previous one; the
    event's own ts is the edit's, the message keeps its ts and gets `edited`."""
    ts = new_ts()
    edited = {**message, "edited": message.get("edited") or {"user": message.get("user"), "ts": ts}}
    edited.setdefault("team", team_id)
    return {
        "type": "message",
        "subtype": "message_changed",
        "message": edited,
        "previous_message": previous_message,
        "channel": channel_id,
        "hidden": True,
        "ts": ts,
        "event_ts": ts,
        "channel_type": channel_type,
    }


def bot_message(team_id, bot_id, channel_id, text, legacy=False, ts=None) -> dict:
    """A message posted by a bot, as the Events API delivers it.

    An app's own posts (with its bot token) arrive with `bot_id`, `app_id` and the bot's user id and no
    subtype; `legacy=True` gives the `bot_message` subtype that incoming webhooks and classic bots get
    (no `user`).
    """
    ts = ts or new_ts()
    event = {"type": "message", "text": text, "ts": ts, "bot_id": bot_id, "team": team_id,
             "channel": channel_id, "event_ts": ts, "channel_type": "im" if channel_id.startswith("D") else "channel"}
    if legacy:
        event.update(subtype="bot_message", username=settings.SLACK_APP_NAME)
    else:
        event.update(user="U" + bot_id, app_id=APP_ID,
                     bot_profile={"id": bot_id, "app_id": APP_ID, "name": settings.SLACK_APP_NAME, "team_id": team_id})
    return event


def app_uninstalled() -> dict:
    return {"type": "app_uninstalled", "event_ts": new_ts()}


def tokens_revoked(user_ids=(), bot_user_ids=()) -> dict:
    return {"type": "tokens_revoked", "tokens": {"oauth": list(user_ids), "bot": list(bot_user_ids)}, "event_ts": new_ts()}


def slash_command_body(
    team_id, user_id, channel_id, command, text, enterprise_id=None, is_enterprise_install=False, response_url=None
) -> bytes:
    fields = {
        "token": VERIFICATION_TOKEN,
        "team_id": team_id,
        "channel_id": channel_id,
        "user_id": user_id,
        "command": command,
        "text": text,
        "api_app_id": APP_ID,
        "is_enterprise_install": "true" if is_enterprise_install else "false",
        "response_url": response_url or response_url_for(team_id, channel_id, user_id),
        "trigger_id": f"{int(time.time())}.{random_part(12)}",
    }
    if enterprise_id:
        fields["enterprise_id"] = enterprise_id
    return urlencode(fields).encode()


def block_actions_body(
    team_id, user_id, channel_id, message: dict, action: dict, response_url=None, enterprise_id=None,
    is_enterprise_install=False, is_ephemeral=False,
) -> bytes:
    """A click on a Block Kit element of `message`, as Slack posts it: a form with one `payload` field.

    `action` is the element as the message has it (with its `block_id`); Slack adds `action_ts`, and
    for a select the chosen option arrives as `selected_option`. Slack leaves `message` out of the
    payload when the message is ephemeral.
    """
    ts = message.get("ts", "")
    payload = {
        "type": "block_actions",
        "user": {"id": user_id, "username": user_id.lower(), "name": user_id.lower(), "team_id": team_id},
        "api_app_id": APP_ID,
        "token": VERIFICATION_TOKEN,
        "container": {"type": "message", "message_ts": ts, "channel_id": channel_id, "is_ephemeral": is_ephemeral},
        "trigger_id": f"{int(time.time())}.{random_part(12)}",
        "team": {"id": team_id, "domain": team_id.lower()},
        "enterprise": {"id": enterprise_id, "name": enterprise_id} if enterprise_id else None,
        "is_enterprise_install": is_enterprise_install,
        "channel": {"id": channel_id, "name": channel_id},
        "state": {"values": {}},
        "response_url": response_url or response_url_for(team_id, channel_id, user_id, ts),
        "actions": [{**action, "action_ts": new_ts()}],
    }
    if not is_ephemeral:
        payload["message"] = message
    return interaction_body(payload)


def interaction_body(payload: dict) -> bytes:
    """An interaction (a click, a submission, an options request) as Slack posts it: a form with one
    JSON `payload` field."""
    return urlencode({"payload": json.dumps(payload)}).encode()


def send(url, body: bytes, content_type, secret) -> tuple[int, str]:
    """POST a signed request to the service; an HTTP error status is an answer, not an exception."""
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": content_type, **sign(body, secret)})
    # No proxies: Slack reaches the service directly, and a proxy from the environment cannot reach localhost.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
