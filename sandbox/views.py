"""The sandbox's pages: Slack's install consent screen, and a small Slack to use the installed app in.

The Slack-like page (`channel`) is rendered here, message list included; its script only polls
`live` for the same fragments and sends the forms without a reload, so it works without JavaScript.
"""

import hashlib
import json
import re
from datetime import timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpResponse, HttpResponseRedirect, JsonResponse
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from sandbox import people, render as slack_render
from sandbox.forms import ConsentForm
from sandbox.ids import dm_channel_id, new_ts, random_part
from sandbox.models import ApiCall, AuthorizationCode, Channel, Message, Workspace

CODE_LIFETIME = timedelta(minutes=10)
LOG_LENGTH = 15


def index(request):
    workspace = Workspace.objects.first()
    if workspace is None:
        return error_page(request, "The sandbox has no workspaces: run `python manage.py migrate`.")
    return redirect("sandbox:workspace", workspace.team_id)


def workspace_home(request, team_id):
    workspace = get_object_or_404(Workspace, pk=team_id)
    channel = workspace.channels.filter(im_user=None).first()
    url = reverse("sandbox:channel", args=[team_id, channel.channel_id])
    return HttpResponseRedirect(f"{url}?{urlencode({'as': request.GET['as']})}" if request.GET.get("as") else url)


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
    form = ConsentForm(request.POST or None, target=request.POST.get("target") or query.get("target") or query.get("team"))
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
    context = {"form": form, "app_name": settings.SLACK_APP_NAME, "bot_scopes": bot_scopes, "user_scopes": user_scopes,
               "people_by_target": form.people,
               "app_params": [(k, v) for k, v in query.items() if k not in ("target", "user", "team", "csrfmiddlewaretoken")]}
    return render(request, "sandbox/authorize.html", context, status=400 if form.errors else 200)


def scope_list(value):
    return [scope.strip() for scope in (value or "").split(",") if scope.strip()]


def redirect_back(redirect_uri, **params):
    separator = "&" if "?" in redirect_uri else "?"
    return HttpResponseRedirect(redirect_uri + separator + urlencode(params))


def error_page(request, error):
    return render(request, "sandbox/error.html", {"error": error}, status=400)


# --- The Slack-like page ------------------------------------------------------------------------


class Place:
    """What one page shows: a workspace, a channel (or the person's DM with the app), the person acting,
    the open thread; read from the URL, so every link and form keeps them."""

    def __init__(self, request, team_id, channel_id):
        self.request = request
        self.workspace = get_object_or_404(Workspace.objects.select_related("enterprise"), pk=team_id)
        self.people = list(self.workspace.users.order_by("user_id"))
        wanted = request.POST.get("as") or request.GET.get("as")
        # The person is one of this workspace's people, whatever the URL says.
        self.person = next((p for p in self.people if p.user_id == wanted), self.people[0] if self.people else None)
        if self.person is None:
            raise Http404("This workspace has no people.")
        self.bot_token = self.workspace.app_bot_token()
        self.installed = self.bot_token is not None
        _, self.bot_user, _ = self.workspace.app_identity(self.bot_token)
        if channel_id == "dm":
            channel_id = dm_channel_id(self.person.user_id)
            self.channel = Channel.objects.filter(pk=channel_id).first() or Channel(
                channel_id=channel_id, name="", workspace=self.workspace, im_user=self.person)
        else:
            self.channel = get_object_or_404(Channel, pk=channel_id, workspace=self.workspace, im_user=None)
        self.thread_ts = request.POST.get("thread_ts") or request.GET.get("thread", "")
        self.app_name = settings.SLACK_APP_NAME
        self.names = slack_render.Names.of(self.workspace, self.app_name, self.person.user_id)

    @property
    def title(self):
        return f"{self.app_name} (DM)" if self.channel.is_im else f"#{self.channel.name}"

    @property
    def slug(self):
        return "dm" if self.channel.is_im else self.channel.channel_id

    def url(self, name="sandbox:channel", **query):
        query = {"as": self.person.user_id, **query}
        url = reverse(name, args=[self.workspace.team_id, self.slug] if name != "sandbox:click" else [self.workspace.team_id])
        return f"{url}?{urlencode({k: v for k, v in query.items() if v})}"


def visible_messages(place):
    """The channel's messages as the acting person sees them (others' ephemeral ones left out)."""
    Message.objects.deliver_due()
    messages = Message.objects.filter(workspace=place.workspace, channel=place.channel.channel_id).visible()
    mine = [m for m in messages.prefetch_related("reactions").order_by("ts", "id")
            if m.kind != Message.EPHEMERAL or m.ephemeral_user == place.person.user_id]
    return mine


def message_view(place, message, csrf_input, replies=()):
    author = place.names.people.get(message.user) or message.user or place.app_name
    if message.is_deleted:
        body = mark_safe('<p class="deleted">This message was deleted.</p>')
    else:
        renderer = slack_render.BlockRenderer(place.names, message, place.person.user_id, csrf_input,
                                              place.url("sandbox:click"))
        body = renderer.blocks(message.blocks) if message.blocks else slack_render.mrkdwn(message.text, place.names)
        if message.attachments:
            body = format_html("{}{}", body, slack_render.attachments(message.attachments, place.names))
    reactions = {}
    for reaction in message.reactions.all():
        reactions.setdefault(reaction.name, []).append(place.names.people.get(reaction.user, reaction.user))
    return {
        "message": message, "author": author, "is_app": bool(message.bot_id), "body": body,
        "time": slack_render.ts_time(message.ts), "dom_id": "m-" + message.ts.replace(".", "-"),
        "reactions": [(slack_render._emoji(name), name, who) for name, who in reactions.items()],
        "reply_count": len(replies), "last_reply": replies[-1] if replies else None,
    }


def regions(place):
    """The parts of the page that change: header, messages, thread, app panel. Rendered the same for the
    first load and for each poll."""
    request = place.request
    csrf_input = format_html('<input type="hidden" name="csrfmiddlewaretoken" value="{}">', get_token(request))
    messages = visible_messages(place)
    replies = {}
    for message in messages:
        if message.thread_ts and message.thread_ts != message.ts:
            replies.setdefault(message.thread_ts, []).append(message)
    top = [message_view(place, m, csrf_input, replies.get(m.ts, ())) for m in messages
           if not m.thread_ts or m.thread_ts == m.ts]
    thread = None
    if place.thread_ts:
        parent = next((m for m in messages if m.ts == place.thread_ts), None)
        if parent is not None:
            thread = [message_view(place, m, csrf_input) for m in [parent, *replies.get(parent.ts, [])]]
    scheduled = Message.objects.filter(workspace=place.workspace, channel=place.channel.channel_id,
                                       kind=Message.SCHEDULED).order_by("post_at")
    context = {
        "place": place, "messages": top, "thread": thread, "scheduled": scheduled,
        "pinned": [m for m in top if m["message"].pinned_by and not m["message"].is_deleted],
        "topic": slack_render.mrkdwn(place.channel.topic, place.names) if place.channel.topic else "",
        "deliveries": place.workspace.deliveries.all()[:LOG_LENGTH],
        "api_calls": ApiCall.objects.filter(team_id__in=[place.workspace.team_id, place.workspace.enterprise_id or "-"])[:LOG_LENGTH],
    }
    names = ["header", "messages", "thread", "app"]
    return {name: render_to_string(f"sandbox/_{name}.html", context, request) for name in names}


def channel(request, team_id, channel_id):
    place = Place(request, team_id, channel_id)
    parts = regions(place)
    workspaces = Workspace.objects.select_related("enterprise")
    channels = place.workspace.channels.filter(im_user=None)
    context = {"place": place, "regions": parts, "version": version_of(parts), "workspaces": workspaces,
               "channels": channels}
    return render(request, "sandbox/channel.html", context)


@require_GET
def live(request, team_id, channel_id):
    """The changing parts of a page, for its script: 204 when nothing changed since `v`."""
    parts = regions(Place(request, team_id, channel_id))
    version = version_of(parts)
    if request.GET.get("v") == version:
        return HttpResponse(status=204)
    return JsonResponse({"version": version, "regions": parts})


def version_of(parts):
    # The CSRF token differs per render; leave it out so an unchanged page hashes the same.
    text = re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", json.dumps(parts, sort_keys=True))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def answer(request, place, notice="", error=""):
    """After a form: JSON for the page's script, else back to the page (303) with the notice."""
    if request.headers.get("X-Requested-With") == "fetch":
        return JsonResponse({"notice": notice, "error": error}, status=400 if error else 200)
    if error:
        messages.error(request, error)
    if notice:
        messages.info(request, notice)
    return HttpResponseRedirect(place.url(thread=place.thread_ts), status=303)


def told(status, what):
    """Bad news from the service, in words; a normal answer needs none (Slack shows none either)."""
    if status is None:
        return ""
    if status == 0 or status >= 400:
        return f"The service answered the {what} with HTTP {status}: see “What the app was told”."
    return ""


@require_POST
def post(request, team_id, channel_id):
    """The composer: a message (mentions written @name become Slack's <@id>), or a /command."""
    place = Place(request, team_id, channel_id)
    text = request.POST.get("text", "").strip()
    if not text:
        return answer(request, place, error="Type a message first.")
    service = request.build_absolute_uri("/").rstrip("/")
    if text.startswith("/"):
        command, _, argument = text.partition(" ")
        if not place.installed:
            return answer(request, place, error=f"{command} is not a valid command here: {place.app_name} is not installed "
                                                f"in {place.workspace.name}. Install it first.")
        try:
            status = people.run_command(service, team_id, place.person.user_id, place.channel.channel_id, command, argument.strip())
        except people.PersonError as error:
            return answer(request, place, error=str(error))
        return answer(request, place, error=told(status, command))
    try:
        status = people.post_message(service, team_id, place.person.user_id, place.channel.channel_id,
                                     slack_markup(text, place), thread_ts=place.thread_ts or None)
    except people.PersonError as error:
        return answer(request, place, error=str(error))
    return answer(request, place, error=told(status, "message"))


def slack_markup(text, place):
    """What Slack's client sends for what a person typed: @name and #channel as Slack's markup."""
    handles = {place.app_name.lower(): place.bot_user} if place.installed else {}
    handles.update({p.handle: p.user_id for p in place.people})
    channels = {c.name: c.channel_id for c in place.workspace.channels.filter(im_user=None)}
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = re.sub(r"(?<![\w@])@([\w-]+(?:\.[\w-]+)*)", lambda m: f"<@{handles[m.group(1).lower()]}>" if m.group(1).lower() in handles else m.group(0), text)
    return re.sub(r"(?<![\w#&])#([\w-]+)", lambda m: f"<#{channels[m.group(1)]}|{m.group(1)}>" if m.group(1) in channels else m.group(0), text)


@require_POST
def click(request, team_id):
    message = Message.objects.filter(workspace=team_id, ts=request.POST.get("message_ts", "")).first()
    channel_id = "dm" if message is None or message.channel.startswith("D") else message.channel
    place = Place(request, team_id, channel_id)
    service = request.build_absolute_uri("/").rstrip("/")
    try:
        status = people.click(service, team_id, place.person.user_id, request.POST.get("message_ts", ""),
                              request.POST.get("action_id", ""), value=request.POST.get("value") or None)
    except people.PersonError as error:
        return answer(request, place, error=str(error))
    if status is None:
        return answer(request, place, error=f"{place.app_name} is not installed here: nothing was sent.")
    return answer(request, place, error=told(status, "click"))


@require_POST
def uninstall(request, team_id):
    place = Place(request, team_id, request.POST.get("channel") or "dm")
    status = people.uninstall(request.build_absolute_uri("/").rstrip("/"), team_id)
    if status is None:
        return answer(request, place, error=f"{place.app_name} is not installed in {place.workspace.name}.")
    return answer(request, place, notice=f"{place.app_name} was removed from {place.workspace.name}.",
                  error=told(status, "uninstall events"))


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
        original.save(update_fields=["deleted_at", "updated_at"])
        return HttpResponse("ok")
    blocks, attachments = payload.get("blocks") or [], payload.get("attachments") or []
    if not (payload.get("text") or blocks or attachments) or not isinstance(blocks, list) or not isinstance(attachments, list):
        return HttpResponse("no_text", status=400)
    fields = {"text": str(payload.get("text") or ""), "blocks": blocks, "attachments": attachments}
    if truthy(payload.get("replace_original")):
        if original is None:
            return HttpResponse("message_not_found", status=404)
        Message.objects.filter(pk=original.pk).update(**fields, updated_at=timezone.now())
        return HttpResponse("ok")
    ephemeral = bool(user_id) and payload.get("response_type") != "in_channel"
    _, bot_user, bot = workspace.app_identity()
    Message.objects.create(
        workspace=workspace, channel=channel_id, ts=new_ts(), user=bot_user, bot_id=bot,
        thread_ts=str(payload.get("thread_ts") or ""), **fields,
        kind=Message.EPHEMERAL if ephemeral else Message.MESSAGE, ephemeral_user=user_id if ephemeral else "",
    )
    return HttpResponse("ok")
