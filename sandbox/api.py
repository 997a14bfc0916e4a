"""The Slack Web API methods the service calls, answered the way Slack answers them.

Each method checks its token's scopes as Slack does: without one of the scopes a method needs, the
answer is `missing_scope` with `needed` (the scope to add) and `provided` (what the token has).
"""

import base64
import binascii
import hmac
import json
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import JsonResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from sandbox.ids import APP_ID, bot_id, bot_user_id, dm_channel_id, new_ts, random_part, scheduled_message_id
from sandbox.models import ApiCall, AuthorizationCode, Channel, Message, Reaction, Token, User, Workspace

METHODS = {}
# Slack refuses chat.scheduleMessage more than 120 days ahead.
SCHEDULE_HORIZON = timedelta(days=120)


class ApiError(Exception):
    def __init__(self, error, **fields):
        super().__init__(error)
        self.error = error
        self.fields = fields


def api_method(name):
    return lambda handler: METHODS.setdefault(name, handler)


@csrf_exempt
def call_method(request, method):
    handler = METHODS.get(method)
    call = ApiCall(method=method[:60])
    try:
        if handler is None:
            raise ApiError("unknown_method")
        params = read_params(request)
        call.grant_type = str(params.get("grant_type", ""))[:30]
        with transaction.atomic():
            body = {"ok": True, **handler(request, params, call)}
    except ApiError as error:
        body = {"ok": False, "error": error.error, **error.fields}
    call.ok, call.error = body["ok"], body.get("error", "")
    call.save()
    return JsonResponse(body, status=200 if handler else 404)


def read_params(request):
    """Slack takes query, form or JSON arguments alike (slack_sdk sends chat.postMessage as JSON)."""
    params = request.GET.dict()
    if request.content_type == "application/json":
        try:
            params.update(json.loads(request.body or b"{}"))
        except ValueError:
            raise ApiError("invalid_json")
    else:
        params.update(request.POST.dict())
    return params


def authenticate(request, params, call, *scopes) -> Token:
    """The call's token; with `scopes`, it must hold one of them (the first is the one Slack names)."""
    header = request.headers.get("Authorization", "")
    value = header.removeprefix("Bearer ") if header.startswith("Bearer ") else params.get("token", "")
    if not value:
        raise ApiError("not_authed")
    token = Token.objects.select_related("workspace__enterprise", "enterprise", "user").filter(token=value).first()
    if token is None or token.revoked:
        raise ApiError("invalid_auth")
    call.team_id = token.team_id
    if token.expires_at and token.expires_at <= timezone.now():
        raise ApiError("token_expired")
    require_scope(token, *scopes)
    return token


def require_scope(token, *scopes):
    granted = set(filter(None, token.scopes.split(",")))
    if scopes and not granted.intersection(scopes):
        raise ApiError("missing_scope", needed=scopes[0], provided=token.scopes)


def client_credentials(request, params):
    """oauth.v2.access takes the client id and secret as HTTP Basic auth or as arguments."""
    header = request.headers.get("Authorization", "")
    if header.startswith("Basic "):
        try:
            client_id, _, secret = base64.b64decode(header.removeprefix("Basic ")).decode().partition(":")
            return client_id, secret
        except ValueError:
            return "", ""
    return params.get("client_id", ""), params.get("client_secret", "")


def issue_token(kind, grant, scopes, rotating):
    prefix = "xoxb" if kind == Token.BOT else "xoxp"
    fields = {"token": f"{prefix}-{random_part(12)}-{random_part(24)}"}
    if rotating:
        fields = {
            "token": f"xoxe.{prefix}-1-{random_part(48)}",
            "refresh_token": f"xoxe-1-{random_part(48)}",
            "expires_at": timezone.now() + timedelta(seconds=settings.SANDBOX_TOKEN_EXPIRES_IN),
        }
    return Token.objects.create(
        kind=kind, workspace=grant.workspace, enterprise=grant.enterprise, user=grant.user, scopes=scopes, **fields
    )


def token_fields(token):
    fields = {"access_token": token.token}
    if token.refresh_token:
        fields.update(refresh_token=token.refresh_token, expires_in=settings.SANDBOX_TOKEN_EXPIRES_IN)
    return fields


def installed_on_fields(grant):
    team, org = grant.workspace, grant.org
    return {
        "team": {"id": team.team_id, "name": team.name} if team else None,
        "enterprise": {"id": org.enterprise_id, "name": org.name} if org else None,
        "is_enterprise_install": grant.is_enterprise_install,
    }


# --- OAuth and auth ---------------------------------------------------------------------------


@api_method("oauth.v2.access")
def oauth_v2_access(request, params, call):
    client_id, client_secret = client_credentials(request, params)
    if client_id != settings.SLACK_CLIENT_ID:
        raise ApiError("invalid_client_id")
    if not hmac.compare_digest(client_secret.encode(), settings.SLACK_CLIENT_SECRET.encode()):
        raise ApiError("bad_client_secret")
    if params.get("grant_type") == "refresh_token":
        return refresh_token_grant(params, call)
    return code_grant(request, params, call)


def code_grant(request, params, call):
    grant = AuthorizationCode.objects.select_related("workspace__enterprise", "enterprise", "user").filter(
        code=params.get("code", ""), client_id=settings.SLACK_CLIENT_ID, expires_at__gt=timezone.now()
    ).first()
    if grant is None:
        raise ApiError("invalid_code")
    call.team_id = grant.team_id
    if grant.redirect_uri and params.get("redirect_uri") != grant.redirect_uri:
        raise ApiError("bad_redirect_uri")
    # A conditional update, so two concurrent exchanges cannot both use the code.
    if not AuthorizationCode.objects.filter(pk=grant.pk, used_at=None).update(used_at=timezone.now()):
        raise ApiError("invalid_code")
    rotating = settings.SANDBOX_TOKEN_ROTATION
    body = {"app_id": APP_ID, "authed_user": {"id": grant.user_id}, **installed_on_fields(grant)}
    if grant.bot_scopes:
        bot = issue_token(Token.BOT, grant, grant.bot_scopes, rotating)
        body.update(scope=grant.bot_scopes, token_type="bot", bot_user_id=bot_user_id(grant.team_id), **token_fields(bot))
    if grant.user_scopes:
        user = issue_token(Token.USER, grant, grant.user_scopes, rotating)
        body["authed_user"].update(scope=grant.user_scopes, token_type="user", **token_fields(user))
    if "incoming-webhook" in grant.bot_scopes.split(",") and grant.workspace:
        channel = grant.workspace.channels.filter(im_user=None).first()
        body["incoming_webhook"] = {
            "channel": f"#{channel.name}",
            "channel_id": channel.channel_id,
            "configuration_url": f"{grant.workspace.url}services/{bot_id(grant.team_id)}",
            "url": request.build_absolute_uri(reverse("sandbox:incoming_webhook", args=[grant.team_id, channel.channel_id])),
        }
    return body


def refresh_token_grant(params, call):
    old = Token.objects.select_related("workspace__enterprise", "enterprise", "user").filter(
        refresh_token=params.get("refresh_token") or None, revoked=False
    ).first()
    if old is None:
        raise ApiError("invalid_refresh_token")
    call.team_id = old.team_id
    # Refresh tokens are single use; the conditional update keeps a concurrent second use out.
    if not Token.objects.filter(pk=old.pk, refresh_token_used=False).update(refresh_token_used=True):
        raise ApiError("invalid_refresh_token")
    new = issue_token(old.kind, old, old.scopes, rotating=True)
    owner = {"bot_user_id": bot_user_id(new.team_id)} if new.kind == Token.BOT else {"user_id": new.user_id}
    return {"app_id": APP_ID, "scope": new.scopes, "token_type": new.kind, **token_fields(new), **owner, **installed_on_fields(new)}


@api_method("auth.test")
def auth_test(request, params, call):
    token = authenticate(request, params, call)
    body = {
        "url": token.installed_on.url,
        "team": token.installed_on.name,
        "team_id": token.team_id,
        "is_enterprise_install": token.is_enterprise_install,
    }
    if token.kind == Token.BOT:
        body.update(user=settings.SLACK_APP_NAME, user_id=bot_user_id(token.team_id), bot_id=bot_id(token.team_id))
    else:
        body.update(user=token.user.name, user_id=token.user_id)
    if token.org:
        body["enterprise_id"] = token.org.enterprise_id
    return body


@api_method("auth.revoke")
def auth_revoke(request, params, call):
    token = authenticate(request, params, call)
    Token.objects.filter(pk=token.pk).update(revoked=True)
    return {"revoked": True}


@api_method("api.test")
def api_test(request, params, call):
    if params.get("error"):
        raise ApiError(params["error"])
    return {"args": {name: value for name, value in params.items() if name != "token"}}


# --- Where things are -------------------------------------------------------------------------


def find_channel(token, channel_id) -> Channel:
    """A channel the token's workspace(s) have: its id, `#name`, or a person's id (their DM with the bot)."""
    channel_id = str(channel_id or "")
    workspaces = token.workspaces()
    if channel_id.startswith("#"):
        channel = Channel.objects.filter(name=channel_id[1:], im_user=None, workspace__in=workspaces).first()
    else:
        channel = Channel.objects.filter(pk=channel_id, workspace__in=workspaces).first()
    if channel is None:
        person = User.objects.filter(pk=channel_id, workspace__in=workspaces).first()
        channel = dm_channel(person) if person else None
    if channel is None:
        raise ApiError("channel_not_found")
    return channel


def dm_channel(person: User) -> Channel:
    channel, _ = Channel.objects.get_or_create(
        pk=dm_channel_id(person.user_id), defaults={"name": "", "workspace_id": person.workspace_id, "im_user": person}
    )
    return channel


def find_message(channel, ts) -> Message:
    message = Message.objects.filter(
        workspace=channel.workspace_id, channel=channel.channel_id, ts=str(ts or ""), deleted_at=None
    ).exclude(kind=Message.SCHEDULED).first()
    if message is None:
        raise ApiError("message_not_found")
    return message


def author(token) -> dict:
    """Who posts with this token: the app's bot, or the token's person."""
    if token.kind == Token.BOT:
        return {"user": bot_user_id(token.team_id), "bot_id": bot_id(token.team_id)}
    return {"user": token.user_id, "bot_id": ""}


def json_param(params, name):
    """Blocks and attachments come as JSON lists, or as JSON text in a form."""
    value = params.get(name)
    if value in (None, ""):
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ApiError(f"invalid_{name}")
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise ApiError(f"invalid_{name}")
    if name == "blocks" and not all(isinstance(block.get("type"), str) for block in value):
        raise ApiError("invalid_blocks")
    return value


def content(params) -> dict:
    text, blocks, attachments = params.get("text") or "", json_param(params, "blocks"), json_param(params, "attachments")
    if not (text or blocks or attachments):
        raise ApiError("no_text")
    return {"text": str(text), "blocks": with_ids(blocks), "attachments": attachments}


def with_ids(blocks):
    """Slack gives every block a block_id, and every interactive element an action_id, left unset."""
    for block in blocks:
        block.setdefault("block_id", random_part(4))
        elements = block.get("elements", []) if block["type"] == "actions" else [block.get("accessory")]
        for element in elements:
            if isinstance(element, dict) and element.get("type") not in (None, "image"):
                element.setdefault("action_id", random_part(4))
    return blocks


def thread_of(channel, params) -> str:
    thread_ts = str(params.get("thread_ts") or "")
    if thread_ts:
        # Slack threads a reply under the thread's parent, even when given a reply's ts.
        parent = find_message(channel, thread_ts)
        thread_ts = parent.thread_ts or parent.ts
    return thread_ts


# --- chat.* ----------------------------------------------------------------------------------


@api_method("chat.postMessage")
def chat_post_message(request, params, call):
    token = authenticate(request, params, call, "chat:write")
    channel = find_channel(token, params.get("channel"))
    message = Message.objects.create(
        workspace_id=channel.workspace_id, channel=channel.channel_id, thread_ts=thread_of(channel, params),
        ts=new_ts(), **author(token), **content(params),
    )
    return {"channel": message.channel, "ts": message.ts, "message": message.as_slack(new=True)}


@api_method("chat.postEphemeral")
def chat_post_ephemeral(request, params, call):
    token = authenticate(request, params, call, "chat:write")
    channel = find_channel(token, params.get("channel"))
    if not channel.workspace.users.filter(pk=params.get("user", "")).exists():
        raise ApiError("user_not_in_channel")
    message = Message.objects.create(
        workspace_id=channel.workspace_id, channel=channel.channel_id, kind=Message.EPHEMERAL,
        ephemeral_user=params["user"], thread_ts=thread_of(channel, params), ts=new_ts(), **author(token), **content(params),
    )
    return {"message_ts": message.ts}


@api_method("chat.update")
def chat_update(request, params, call):
    token = authenticate(request, params, call, "chat:write")
    channel = find_channel(token, params.get("channel"))
    message = find_message(channel, params.get("ts"))
    if message.user != author(token)["user"]:
        raise ApiError("cant_update_message")
    changes = content(params)
    # Slack keeps what the call leaves out: text-only updates keep the blocks only if given none.
    message.text = changes["text"] if "text" in params else message.text
    message.blocks = changes["blocks"] if "blocks" in params else message.blocks
    message.attachments = changes["attachments"] if "attachments" in params else message.attachments
    message.edited_at = timezone.now()
    message.save()
    return {"channel": channel.channel_id, "ts": message.ts, "text": message.text, "message": message.as_slack()}


@api_method("chat.delete")
def chat_delete(request, params, call):
    token = authenticate(request, params, call, "chat:write")
    channel = find_channel(token, params.get("channel"))
    message = find_message(channel, params.get("ts"))
    if message.user != author(token)["user"]:
        raise ApiError("cant_delete_message")
    message.deleted_at = timezone.now()
    message.save(update_fields=["deleted_at", "updated_at"])
    return {"channel": channel.channel_id, "ts": message.ts}


@api_method("chat.scheduleMessage")
def chat_schedule_message(request, params, call):
    token = authenticate(request, params, call, "chat:write")
    channel = find_channel(token, params.get("channel"))
    try:
        post_at = datetime.fromtimestamp(int(params.get("post_at")), tz=dt_timezone.utc)
    except (TypeError, ValueError, OverflowError, OSError):
        raise ApiError("invalid_time")
    if post_at <= timezone.now():
        raise ApiError("time_in_past")
    if post_at > timezone.now() + SCHEDULE_HORIZON:
        raise ApiError("time_too_far")
    message = Message.objects.create(
        workspace_id=channel.workspace_id, channel=channel.channel_id, kind=Message.SCHEDULED, post_at=post_at,
        scheduled_message_id=scheduled_message_id(), thread_ts=thread_of(channel, params), **author(token),
        **content(params),
    )
    posted = {**message.as_slack(new=True), "type": "delayed_message"}
    posted.pop("ts")
    return {"channel": channel.channel_id, "scheduled_message_id": message.scheduled_message_id,
            "post_at": int(post_at.timestamp()), "message": posted}


def scheduled(token):
    Message.objects.deliver_due()
    return Message.objects.filter(kind=Message.SCHEDULED, workspace__in=token.workspaces(), user=author(token)["user"])


@api_method("chat.deleteScheduledMessage")
def chat_delete_scheduled_message(request, params, call):
    token = authenticate(request, params, call, "chat:write")
    channel = find_channel(token, params.get("channel"))
    deleted, _ = scheduled(token).filter(
        channel=channel.channel_id, scheduled_message_id=str(params.get("scheduled_message_id") or "")
    ).delete()
    if not deleted:
        raise ApiError("invalid_scheduled_message_id")
    return {}


@api_method("chat.scheduledMessages.list")
def chat_scheduled_messages_list(request, params, call):
    token = authenticate(request, params, call)
    messages = scheduled(token).order_by("post_at", "id")
    if params.get("channel"):
        messages = messages.filter(channel=find_channel(token, params["channel"]).channel_id)
    page, next_cursor = paginate(params, list(messages), default_limit=100)
    listed = [{"id": m.scheduled_message_id, "channel_id": m.channel, "post_at": int(m.post_at.timestamp()),
               "date_created": int(m.created_at.timestamp()), "text": m.text} for m in page]
    return {"scheduled_messages": listed, "response_metadata": {"next_cursor": next_cursor}}


@api_method("chat.getPermalink")
def chat_get_permalink(request, params, call):
    token = authenticate(request, params, call)
    channel = find_channel(token, params.get("channel"))
    message = find_message(channel, params.get("message_ts"))
    return {"channel": channel.channel_id,
            "permalink": f"{channel.workspace.url}archives/{channel.channel_id}/p{message.ts.replace('.', '')}"}


# --- reactions, pins, topic ------------------------------------------------------------------


@api_method("reactions.add")
def reactions_add(request, params, call):
    token = authenticate(request, params, call, "reactions:write")
    message = find_message(find_channel(token, params.get("channel")), params.get("timestamp"))
    name = str(params.get("name") or "").strip(":")
    if not name:
        raise ApiError("invalid_name")
    try:
        with transaction.atomic():
            Reaction.objects.create(message=message, name=name, user=author(token)["user"])
    except IntegrityError:
        raise ApiError("already_reacted")
    return {}


@api_method("reactions.remove")
def reactions_remove(request, params, call):
    token = authenticate(request, params, call, "reactions:write")
    message = find_message(find_channel(token, params.get("channel")), params.get("timestamp"))
    deleted, _ = message.reactions.filter(name=str(params.get("name") or "").strip(":"), user=author(token)["user"]).delete()
    if not deleted:
        raise ApiError("no_reaction")
    return {}


@api_method("pins.add")
def pins_add(request, params, call):
    token = authenticate(request, params, call, "pins:write")
    message = find_message(find_channel(token, params.get("channel")), params.get("timestamp"))
    if message.pinned_by:
        raise ApiError("already_pinned")
    message.pinned_by = author(token)["user"]
    message.save(update_fields=["pinned_by", "updated_at"])
    return {}


@api_method("pins.remove")
def pins_remove(request, params, call):
    token = authenticate(request, params, call, "pins:write")
    message = find_message(find_channel(token, params.get("channel")), params.get("timestamp"))
    if not message.pinned_by:
        raise ApiError("no_pin")
    message.pinned_by = ""
    message.save(update_fields=["pinned_by", "updated_at"])
    return {}


@api_method("conversations.setTopic")
def conversations_set_topic(request, params, call):
    # Bots may hold the granular channels:write.topic or the broader channels:manage.
    token = authenticate(request, params, call, "channels:write.topic", "channels:manage")
    channel = find_channel(token, params.get("channel"))
    if channel.is_im:
        raise ApiError("method_not_supported_for_channel_type")
    topic = str(params.get("topic") or "")
    if len(topic) > 250:
        raise ApiError("too_long")
    channel.topic = topic
    channel.save(update_fields=["topic"])
    return {"channel": channel_json(channel, author(token)["user"])}


# --- conversations.* -------------------------------------------------------------------------


def channel_json(channel, viewer=None) -> dict:
    created = 1_600_000_000
    if channel.is_im:
        return {"id": channel.channel_id, "created": created, "is_im": True, "is_org_shared": False,
                "user": channel.im_user_id, "is_user_deleted": False, "context_team_id": channel.workspace_id}
    topic = {"value": channel.topic, "creator": viewer or "", "last_set": created if channel.topic else 0}
    return {
        "id": channel.channel_id, "name": channel.name, "name_normalized": channel.name, "created": created,
        "is_channel": True, "is_group": False, "is_im": False, "is_mpim": False, "is_private": False,
        "is_archived": False, "is_general": channel.name == "general", "is_shared": False, "is_org_shared": False,
        "is_member": True, "context_team_id": channel.workspace_id, "topic": topic,
        "purpose": {"value": "", "creator": "", "last_set": 0}, "num_members": channel.workspace.users.count(),
    }


def paginate(params, items, default_limit):
    """Slack's cursor pagination: an opaque `cursor`, `limit` items, and the next cursor ('' at the end)."""
    try:
        limit = int(params.get("limit") or default_limit) or default_limit
        offset = int(base64.b64decode(params["cursor"]).decode().removeprefix("offset:")) if params.get("cursor") else 0
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ApiError("invalid_cursor")
    limit = max(1, min(limit, 1000))
    page = items[offset:offset + limit]
    more = offset + limit < len(items)
    return page, base64.b64encode(f"offset:{offset + limit}".encode()).decode() if more else ""


def channel_scope(channel):
    return ("im:read",) if channel.is_im else ("channels:read",)


@api_method("conversations.info")
def conversations_info(request, params, call):
    token = authenticate(request, params, call)
    channel = find_channel(token, params.get("channel"))
    require_scope(token, *channel_scope(channel))
    return {"channel": channel_json(channel)}


@api_method("conversations.list")
def conversations_list(request, params, call):
    types = set(str(params.get("types") or "public_channel").split(","))
    needed = [scope for kind, scope in [("public_channel", "channels:read"), ("im", "im:read")] if kind in types]
    token = authenticate(request, params, call, *(needed or ["channels:read"]))
    for scope in needed:
        require_scope(token, scope)
    channels = Channel.objects.filter(workspace__in=token.workspaces()).select_related("workspace")
    if "im" not in types:
        channels = channels.filter(im_user=None)
    if "public_channel" not in types:
        channels = channels.exclude(im_user=None)
    if params.get("team_id"):
        channels = channels.filter(workspace=params["team_id"])
    page, next_cursor = paginate(params, list(channels), default_limit=100)
    return {"channels": [channel_json(c) for c in page], "response_metadata": {"next_cursor": next_cursor}}


@api_method("conversations.members")
def conversations_members(request, params, call):
    token = authenticate(request, params, call)
    channel = find_channel(token, params.get("channel"))
    require_scope(token, *channel_scope(channel))
    if channel.is_im:
        members = [channel.im_user_id, bot_user_id(token.team_id)]
    else:
        members = [*channel.workspace.users.values_list("user_id", flat=True), bot_user_id(token.team_id)]
    page, next_cursor = paginate(params, members, default_limit=100)
    return {"members": page, "response_metadata": {"next_cursor": next_cursor}}


@api_method("conversations.open")
def conversations_open(request, params, call):
    token = authenticate(request, params, call, "im:write")
    users = [user for user in str(params.get("users") or "").split(",") if user]
    if params.get("channel"):
        channel = find_channel(token, params["channel"])
    elif len(users) == 1:
        person = User.objects.filter(pk=users[0], workspace__in=token.workspaces()).first()
        if person is None:
            raise ApiError("user_not_found")
        existed = Channel.objects.filter(pk=dm_channel_id(person.user_id)).exists()
        channel = dm_channel(person)
        return {"no_op": existed, "already_open": existed, "channel": channel_json(channel) if params.get("return_im") else {"id": channel.channel_id}}
    elif users:
        raise ApiError("not_supported", detail="The sandbox has no group DMs.")
    else:
        raise ApiError("users_list_not_supplied")
    return {"channel": channel_json(channel) if params.get("return_im") else {"id": channel.channel_id}}


def history_of(token, channel, messages):
    require_scope(token, "im:history" if channel.is_im else "channels:history")
    Message.objects.deliver_due()
    return messages.filter(kind=Message.MESSAGE, deleted_at=None).prefetch_related("reactions")


@api_method("conversations.history")
def conversations_history(request, params, call):
    token = authenticate(request, params, call)
    channel = find_channel(token, params.get("channel"))
    messages = history_of(token, channel, Message.objects.filter(workspace=channel.workspace_id, channel=channel.channel_id))
    # Newest first; thread replies stay in their thread.
    messages = messages.order_by("-ts")
    top_level = [m for m in messages if not m.thread_ts or m.thread_ts == m.ts]
    page, next_cursor = paginate(params, top_level, default_limit=100)
    return {"messages": [m.as_slack() for m in page], "has_more": bool(next_cursor),
            "response_metadata": {"next_cursor": next_cursor}}


@api_method("conversations.replies")
def conversations_replies(request, params, call):
    token = authenticate(request, params, call)
    channel = find_channel(token, params.get("channel"))
    parent = find_message(channel, params.get("ts"))
    thread_ts = parent.thread_ts or parent.ts
    messages = history_of(token, channel, Message.objects.filter(workspace=channel.workspace_id, channel=channel.channel_id))
    thread = [m for m in messages.order_by("ts") if m.ts == thread_ts or m.thread_ts == thread_ts]
    page, next_cursor = paginate(params, thread, default_limit=100)
    return {"messages": [m.as_slack() for m in page], "has_more": bool(next_cursor),
            "response_metadata": {"next_cursor": next_cursor}}


# --- users, bots, team -----------------------------------------------------------------------


def user_json(user, with_email=False) -> dict:
    profile = {
        "real_name": user.name, "real_name_normalized": user.name, "display_name": user.handle,
        "display_name_normalized": user.handle, "first_name": user.handle.capitalize(), "last_name": "",
        "team": user.workspace_id, "status_text": "", "status_emoji": "", "status_expiration": 0,
        "avatar_hash": user.user_id.lower(), "image_24": "", "image_32": "", "image_48": "", "image_72": "",
        "image_192": "", "image_512": "",
    }
    if with_email:
        profile["email"] = user.email_address
    return {
        "id": user.user_id, "team_id": user.workspace_id, "name": user.handle, "deleted": False, "color": "9f69e7",
        "real_name": user.name, "tz": "Europe/London", "tz_label": "Greenwich Mean Time", "tz_offset": 0,
        "profile": profile, "is_admin": user.is_admin, "is_owner": user.is_admin, "is_primary_owner": False,
        "is_restricted": False, "is_ultra_restricted": False, "is_bot": False, "is_app_user": False,
        "updated": 1_600_000_000, "is_email_confirmed": True, "who_can_share_contact_card": "EVERYONE",
    }


def bot_user_json(team_id) -> dict:
    name = settings.SLACK_APP_NAME
    return {
        "id": bot_user_id(team_id), "team_id": team_id, "name": name.lower(), "deleted": False, "real_name": name,
        "tz": "Europe/London", "tz_label": "Greenwich Mean Time", "tz_offset": 0, "is_admin": False, "is_owner": False,
        "is_primary_owner": False, "is_restricted": False, "is_ultra_restricted": False, "is_bot": True,
        "is_app_user": False, "updated": 1_600_000_000,
        "profile": {"real_name": name, "display_name": "", "bot_id": bot_id(team_id), "api_app_id": APP_ID,
                    "always_active": True, "team": team_id, "avatar_hash": "", "status_text": "", "status_emoji": ""},
    }


def can_read_email(token):
    return "users:read.email" in token.scopes.split(",")


@api_method("users.info")
def users_info(request, params, call):
    token = authenticate(request, params, call, "users:read")
    if params.get("user") == bot_user_id(token.team_id):
        return {"user": bot_user_json(token.team_id)}
    user = User.objects.select_related("workspace").filter(pk=params.get("user", ""), workspace__in=token.workspaces()).first()
    if user is None:
        raise ApiError("user_not_found")
    return {"user": user_json(user, can_read_email(token))}


@api_method("users.list")
def users_list(request, params, call):
    token = authenticate(request, params, call, "users:read")
    people = User.objects.filter(workspace__in=token.workspaces()).select_related("workspace")
    if params.get("team_id"):
        people = people.filter(workspace=params["team_id"])
    members = [user_json(user, can_read_email(token)) for user in people] + [bot_user_json(token.team_id)]
    page, next_cursor = paginate(params, members, default_limit=1000)
    return {"members": page, "cache_ts": int(timezone.now().timestamp()), "response_metadata": {"next_cursor": next_cursor}}


@api_method("users.lookupByEmail")
def users_lookup_by_email(request, params, call):
    token = authenticate(request, params, call, "users:read.email")
    email = str(params.get("email") or "").strip().lower()
    for user in User.objects.filter(workspace__in=token.workspaces()).select_related("workspace"):
        if user.email_address.lower() == email:
            return {"user": user_json(user, with_email=True)}
    raise ApiError("users_not_found")


@api_method("bots.info")
def bots_info(request, params, call):
    token = authenticate(request, params, call, "users:read")
    wanted = params.get("bot") or bot_id(token.team_id)
    if wanted != bot_id(token.team_id):
        raise ApiError("bot_not_found")
    return {"bot": {"id": wanted, "deleted": False, "name": settings.SLACK_APP_NAME, "updated": 1_600_000_000,
                    "app_id": APP_ID, "user_id": bot_user_id(token.team_id), "icons": {}}}


@api_method("team.info")
def team_info(request, params, call):
    token = authenticate(request, params, call, "team:read")
    team = token.installed_on if not params.get("team") else (
        Workspace.objects.filter(pk=params["team"], pk__in=token.workspaces().values("pk")).first())
    if team is None:
        raise ApiError("team_not_found")
    org = token.org
    return {"team": {"id": team.pk, "name": team.name, "domain": team.domain, "email_domain": f"{team.domain}.example",
                     "url": team.url, "icon": {"image_default": True},
                     "enterprise_id": org.enterprise_id if org else None, "enterprise_name": org.name if org else None}}
