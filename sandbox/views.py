"""The sandbox's pages: Slack's install consent screen, and a place to try the installed app."""

import json
from datetime import timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from sandbox import events
from sandbox.forms import ConsentForm
from sandbox.ids import bot_user_id, new_ts, random_part
from sandbox.models import AuthorizationCode, Message, Token, User, Workspace

CODE_LIFETIME = timedelta(minutes=10)


def index(request):
    workspaces = Workspace.objects.select_related("enterprise").prefetch_related("users")
    cards = [{"workspace": w, "bot_token": w.app_bot_token(), "messages": w.messages.all()[:20]} for w in workspaces]
    return render(request, "sandbox/index.html", {"cards": cards, "app_name": settings.SLACK_APP_NAME})


@require_http_methods(["GET", "POST"])
def authorize(request):
    # The form posts back to this same URL, so the app's parameters stay in the query string.
    query = request.GET
    if query.get("client_id") != settings.SLACK_CLIENT_ID:
        return error_page(request, "Unknown client_id: no app with this client id exists in the sandbox.")
    given_redirect_uri = query.get("redirect_uri", "")
    if given_redirect_uri and settings.SLACK_REDIRECT_URI and given_redirect_uri != settings.SLACK_REDIRECT_URI:
        return error_page(request, "redirect_uri does not match the app's redirect URL (SLACK_REDIRECT_URI).")
    bot_scopes, user_scopes = scope_list(query.get("scope")), scope_list(query.get("user_scope"))
    if not bot_scopes and not user_scopes:
        return error_page(request, "The app asked for no scopes.")
    redirect_uri = given_redirect_uri or settings.SLACK_REDIRECT_URI or request.build_absolute_uri("/slack/oauth_redirect")
    state = query.get("state", "")
    if request.POST.get("decision") == "cancel":
        return redirect_back(redirect_uri, error="access_denied", state=state)
    form = ConsentForm(request.POST or None, initial={"target": query.get("team")})
    if form.is_valid():
        grant = AuthorizationCode.objects.create(
            code=f"{random_part(12)}.{random_part(32)}",
            client_id=settings.SLACK_CLIENT_ID,
            workspace=form.cleaned_data["workspace"],
            enterprise=form.cleaned_data["enterprise"],
            user=form.cleaned_data["user"],
            bot_scopes=",".join(bot_scopes),
            user_scopes=",".join(user_scopes),
            redirect_uri=given_redirect_uri,
            expires_at=timezone.now() + CODE_LIFETIME,
        )
        return redirect_back(redirect_uri, code=grant.code, state=state)
    context = {"form": form, "app_name": settings.SLACK_APP_NAME, "bot_scopes": bot_scopes, "user_scopes": user_scopes}
    return render(request, "sandbox/authorize.html", context, status=400 if form.errors else 200)


def scope_list(value):
    return [scope.strip() for scope in (value or "").split(",") if scope.strip()]


def redirect_back(redirect_uri, **params):
    separator = "&" if "?" in redirect_uri else "?"
    return HttpResponseRedirect(redirect_uri + separator + urlencode(params))


def error_page(request, error):
    return render(request, "sandbox/error.html", {"error": error}, status=400)


def installation(workspace):
    """(is_enterprise_install, the bot's user id) as events for this workspace report them."""
    bot = workspace.app_bot_token()
    org_wide = bool(bot and bot.is_enterprise_install)
    return org_wide, bot_user_id(workspace.enterprise_id if org_wide else workspace.team_id)


def deliver(request, what, body, content_type):
    """Send a signed request to the service as Slack would, and tell the person what it answered."""
    url = request.build_absolute_uri("/slack/events")
    try:
        status, text = events.send(url, body, content_type, settings.SLACK_SIGNING_SECRET)
    except OSError as error:
        messages.error(request, f"Could not send {what} to {url}: {error}")
        return
    answer = f" {text.strip()[:300]!r}" if text.strip() else ""
    level = messages.SUCCESS if status == 200 else messages.ERROR
    messages.add_message(request, level, f"Sent {what} to {url}; the service answered HTTP {status}{answer}.")


def deliver_event(request, workspace, event, org_wide):
    envelope = events.event_callback_body(
        workspace.team_id, event, enterprise_id=workspace.enterprise_id, is_enterprise_install=org_wide
    )
    deliver(request, f"a signed {event['type']} event", json.dumps(envelope).encode(), "application/json")


@require_POST
def mention(request, team_id):
    workspace = get_object_or_404(Workspace, pk=team_id)
    user = get_object_or_404(User, pk=request.POST.get("user", ""), workspace=workspace)
    org_wide, bot_user = installation(workspace)
    text = f"<@{bot_user}> {request.POST.get('text', '')}".strip()
    event = events.app_mention(team_id, user.user_id, workspace.channels.first().channel_id, text)
    deliver_event(request, workspace, event, org_wide)
    return redirect("sandbox:index")


@require_POST
def slash_command(request, team_id):
    workspace = get_object_or_404(Workspace, pk=team_id)
    user = get_object_or_404(User, pk=request.POST.get("user", ""), workspace=workspace)
    org_wide, _ = installation(workspace)
    channel_id = workspace.channels.first().channel_id
    response_url = request.build_absolute_uri(reverse("sandbox:response_url", args=[team_id, channel_id, user.user_id]))
    body = events.slash_command_body(
        team_id, user.user_id, channel_id, "/hello", request.POST.get("text", ""),
        enterprise_id=workspace.enterprise_id, is_enterprise_install=org_wide, response_url=response_url,
    )
    deliver(request, "a signed /hello command", body, "application/x-www-form-urlencoded")
    return redirect("sandbox:index")


@require_POST
def uninstall(request, team_id):
    workspace = get_object_or_404(Workspace, pk=team_id)
    bot = workspace.app_bot_token()
    if bot is None:
        messages.info(request, f"The app is not installed on {workspace.name}.")
        return redirect("sandbox:index")
    org_wide, bot_user = installation(workspace)
    tokens = Token.objects.filter(revoked=False, workspace=bot.workspace, enterprise=bot.enterprise)
    user_ids = sorted(set(tokens.filter(kind=Token.USER).values_list("user_id", flat=True)))
    tokens.update(revoked=True)
    deliver_event(request, workspace, events.app_uninstalled(), org_wide)
    deliver_event(request, workspace, events.tokens_revoked(user_ids, [bot_user]), org_wide)
    return redirect("sandbox:index")


def truthy(value):
    return value in (True, 1, "1", "true", "True")


@csrf_exempt
@require_POST
def post_to_channel(request, team_id, channel_id, user_id="", message_ts=""):
    """Incoming webhooks, and the response_url of slash commands and clicks.

    What is posted there is ephemeral to the person unless `response_type` is in_channel; a click's
    response_url can also replace (`replace_original`) or delete (`delete_original`) the clicked message.
    """
    workspace = get_object_or_404(Workspace, pk=team_id)
    try:
        payload = json.loads(request.body)
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        return HttpResponse("invalid_payload", status=400)
    original = None
    if message_ts:
        original = Message.objects.filter(workspace=workspace, channel=channel_id, ts=message_ts, deleted_at=None).first()
    if truthy(payload.get("delete_original")):
        if original is None:
            return HttpResponse("message_not_found", status=404)
        original.deleted_at = timezone.now()
        original.save(update_fields=["deleted_at"])
        return HttpResponse("ok")
    blocks, attachments = payload.get("blocks") or [], payload.get("attachments") or []
    if not (payload.get("text") or blocks or attachments) or not isinstance(blocks, list) or not isinstance(attachments, list):
        return HttpResponse("no_text", status=400)
    fields = {"text": str(payload.get("text") or ""), "blocks": blocks, "attachments": attachments}
    if truthy(payload.get("replace_original")):
        if original is None:
            return HttpResponse("message_not_found", status=404)
        Message.objects.filter(pk=original.pk).update(**fields)
        return HttpResponse("ok")
    ephemeral = bool(user_id) and payload.get("response_type") != "in_channel"
    _, bot_user, bot = workspace.app_identity()
    Message.objects.create(
        workspace=workspace, channel=channel_id, ts=new_ts(), user=bot_user, bot_id=bot,
        thread_ts=str(payload.get("thread_ts") or ""), **fields,
        kind=Message.EPHEMERAL if ephemeral else Message.MESSAGE, ephemeral_user=user_id if ephemeral else "",
    )
    return HttpResponse("ok")
