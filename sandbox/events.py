"""Requests as Slack sends them to the service: signed Events API envelopes and slash commands.

The sandbox pages and the project's tests both build their requests here, so what a test sends is
exactly what a person clicking in the sandbox sends.
"""

import hashlib
import hmac
import time
import urllib.error
import urllib.request
import uuid
from urllib.parse import urlencode


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


def app_mention(team_id, user_id, channel_id, text) -> dict:
    ts = new_ts()
    return {
        "type": "app_mention",
        "client_msg_id": str(uuid.uuid4()),
        "text": text,
        "user": user_id,
        "ts": ts,
        "team": team_id,
        "channel": channel_id,
        "event_ts": ts,
    }


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
        "response_url": response_url or f"https://hooks.slack.com/commands/{team_id}/{random_part(12)}/{random_part(24)}",
        "trigger_id": f"{int(time.time())}.{random_part(12)}",
    }
    if enterprise_id:
        fields["enterprise_id"] = enterprise_id
    return urlencode(fields).encode()


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
