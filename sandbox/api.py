"""The Slack Web API methods the service calls, answered the way Slack answers them."""

import base64
import hmac
import json
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.http import JsonResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from sandbox.ids import APP_ID, bot_id, bot_user_id, new_ts, random_part
from sandbox.models import ApiCall, AuthorizationCode, Channel, Message, Token, User

METHODS = {}


class ApiError(Exception):
    def __init__(self, error):
        super().__init__(error)
        self.error = error


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
        body = {"ok": False, "error": error.error}
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


def authenticate(request, params, call) -> Token:
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
    return token


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
        channel = grant.workspace.channels.first()
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


def store_message(token, params, **ephemeral):
    workspaces = token.workspaces()
    channel_id = params.get("channel", "")
    # A user id as the channel means a DM with that user.
    place = (Channel.objects.filter(pk=channel_id, workspace__in=workspaces).first()
             or User.objects.filter(pk=channel_id, workspace__in=workspaces).first())
    if place is None:
        raise ApiError("channel_not_found")
    if ephemeral and not place.workspace.users.filter(pk=ephemeral["ephemeral_user"]).exists():
        raise ApiError("user_not_in_channel")
    if not (params.get("text") or params.get("blocks") or params.get("attachments")):
        raise ApiError("no_text")
    return Message.objects.create(
        workspace=place.workspace, channel=channel_id, text=params.get("text") or "[blocks]",
        thread_ts=params.get("thread_ts") or "", ts=new_ts(), **ephemeral,
    )


@api_method("chat.postMessage")
def chat_post_message(request, params, call):
    token = authenticate(request, params, call)
    message = store_message(token, params)
    posted = {"type": "message", "text": params.get("text") or "", "ts": message.ts}
    if token.kind == Token.BOT:
        posted.update(user=bot_user_id(token.team_id), bot_id=bot_id(token.team_id))
    else:
        posted["user"] = token.user_id
    return {"channel": message.channel, "ts": message.ts, "message": posted}


@api_method("chat.postEphemeral")
def chat_post_ephemeral(request, params, call):
    token = authenticate(request, params, call)
    message = store_message(token, params, kind=Message.EPHEMERAL, ephemeral_user=params.get("user", ""))
    return {"message_ts": message.ts}


@api_method("users.info")
def users_info(request, params, call):
    token = authenticate(request, params, call)
    user = User.objects.filter(pk=params.get("user", ""), workspace__in=token.workspaces()).first()
    if user is None:
        raise ApiError("user_not_found")
    return {"user": {"id": user.user_id, "team_id": user.workspace_id, "name": user.name.split()[0].lower(),
                     "real_name": user.name, "deleted": False, "is_bot": False, "profile": {"real_name": user.name}}}


@api_method("conversations.list")
def conversations_list(request, params, call):
    token = authenticate(request, params, call)
    channels = Channel.objects.filter(workspace__in=token.workspaces())
    if params.get("team_id"):
        channels = channels.filter(workspace=params["team_id"])
    listed = [{"id": c.channel_id, "name": c.name, "context_team_id": c.workspace_id, "is_channel": True,
               "is_private": False, "is_archived": False} for c in channels]
    return {"channels": listed, "response_metadata": {"next_cursor": ""}}
