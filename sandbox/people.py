"""What the sandbox's people do, as Slack delivers it to the service.

A person posts a message (kept in the sandbox's channel, so its history shows it, and sent as a
signed `message` event, plus an `app_mention` when it mentions the app's bot), runs a slash command,
or clicks a button or picks an option of a select in a message. The sandbox's pages and plugin tests
(sandbox.testing) act through these functions, so what a test sends is what a person's click sends.

Each sends only where the app is installed (Slack sends nothing to an app that is not) and returns
the HTTP status of the service's answer, or None when nothing was sent. Every request and answer is
kept as a `Delivery`, the sandbox page's log of what the app was told.
"""

import json
from urllib.parse import parse_qs

from django.conf import settings

from sandbox import events
from sandbox.ids import dm_channel_id, new_ts
from sandbox.models import Channel, Delivery, Message, Token, User, Workspace


class PersonError(ValueError):
    """The person cannot do that (not in this workspace, no such channel or button): nothing was sent."""


def events_url(service_url):
    return service_url.rstrip("/") + "/slack/events"


def person_in(team_id, user_id):
    person = User.objects.select_related("workspace__enterprise").filter(pk=user_id, workspace=team_id).first()
    if person is None:
        raise PersonError(f"{user_id} is not a person of workspace {team_id}.")
    return person


def channel_for(person, channel_id) -> Channel:
    """A channel of the person's workspace, or their DM with the app (by its D… id, or the bot's user id)."""
    if channel_id in (dm_channel_id(person.user_id), person.workspace.app_identity()[1]):
        channel, _ = Channel.objects.get_or_create(
            pk=dm_channel_id(person.user_id), defaults={"name": "", "workspace": person.workspace, "im_user": person}
        )
        return channel
    channel = Channel.objects.filter(pk=channel_id, workspace=person.workspace, im_user=None).first()
    if channel is None:
        raise PersonError(f"{channel_id} is not a channel of {person.workspace.name}.")
    return channel


def deliver(service_url, workspace, what, body: bytes, content_type) -> int | None:
    """Send one signed request; a service that cannot be reached is logged as such, not raised."""
    delivery = Delivery(workspace=workspace, what=what, url=events_url(service_url), body=readable(body, content_type))
    try:
        delivery.status, delivery.answer = events.send(delivery.url, body, content_type, settings.SLACK_SIGNING_SECRET)
    except OSError as error:
        delivery.answer = f"Could not reach the service: {error}"
    delivery.save()
    return delivery.status


def readable(body: bytes, content_type):
    """The request as the log shows it: JSON, with a form's fields (and an interaction's payload) unpacked."""
    if content_type == "application/json":
        return json.dumps(json.loads(body), indent=2)
    fields = {name: values[0] for name, values in parse_qs(body.decode()).items()}
    if "payload" in fields:
        fields["payload"] = json.loads(fields["payload"])
    return json.dumps(fields, indent=2)


def send_event(service_url, workspace, event, bot_token=None) -> int | None:
    bot = bot_token or workspace.app_bot_token()
    if bot is None:
        return None
    org_wide, _, _ = workspace.app_identity(bot)
    envelope = events.event_callback_body(
        workspace.team_id, event, enterprise_id=workspace.enterprise_id, is_enterprise_install=org_wide
    )
    return deliver(service_url, workspace, f"{event['type']} event", json.dumps(envelope).encode(), "application/json")


def post_message(service_url, team_id, user_id, channel_id, text, thread_ts=None) -> int | None:
    """`user_id` posts `text` in a channel or their DM with the app (in a thread if `thread_ts`).

    Mentioning the bot (`<@its user id>`) in a channel also sends an `app_mention`, as Slack does for an
    app subscribed to both: two events with their own event_ids. Returns the first non-200 status, else 200.
    """
    person = person_in(team_id, user_id)
    channel = channel_for(person, channel_id)
    if not text.strip():
        raise PersonError("A message needs some text.")
    if thread_ts:
        parent = Message.objects.filter(workspace=team_id, channel=channel.channel_id, ts=thread_ts).first()
        if parent is None:
            raise PersonError(f"No message {thread_ts} in that channel to reply to.")
        thread_ts = parent.thread_ts or parent.ts
    ts = new_ts()
    Message.objects.create(workspace=person.workspace, channel=channel.channel_id, user=person.user_id, text=text,
                           thread_ts=thread_ts or "", ts=ts)
    channel_type = "im" if channel.is_im else "channel"
    statuses = [send_event(service_url, person.workspace, events.message(
        team_id, user_id, channel.channel_id, text, channel_type=channel_type, thread_ts=thread_ts, ts=ts))]
    _, bot_user, _ = person.workspace.app_identity()
    if not channel.is_im and f"<@{bot_user}>" in text:
        statuses.append(send_event(service_url, person.workspace, events.app_mention(
            team_id, user_id, channel.channel_id, text, ts=ts, thread_ts=thread_ts)))
    return next((status for status in statuses if status != 200), statuses[0])


def run_command(service_url, team_id, user_id, channel_id, command, text="") -> int | None:
    """`user_id` types `/command text` in a channel (or their DM with the app)."""
    person = person_in(team_id, user_id)
    channel = channel_for(person, channel_id)
    if not command.startswith("/") or len(command) < 2 or " " in command:
        raise PersonError("A slash command is a / followed by its name, like /hello.")
    bot = person.workspace.app_bot_token()
    if bot is None:
        return None
    org_wide, _, _ = person.workspace.app_identity(bot)
    body = events.slash_command_body(
        team_id, user_id, channel.channel_id, command, text, enterprise_id=person.workspace.enterprise_id,
        is_enterprise_install=org_wide,
    )
    status = deliver(service_url, person.workspace, f"{command} command", body, "application/x-www-form-urlencoded")
    if status == 200:
        show_command_answer(person, channel, person.workspace.deliveries.first().answer)
    return status


def show_command_answer(person, channel, answer):
    """Slack shows the body of a command's 200 answer (ack("text") or ack(blocks=...)) as a message
    from the app: ephemeral to the person unless response_type is in_channel."""
    if not answer.strip():
        return
    try:
        reply = json.loads(answer)
    except ValueError:
        reply = {"text": answer}
    if not isinstance(reply, dict) or not (reply.get("text") or reply.get("blocks")):
        return
    ephemeral = reply.get("response_type") != "in_channel"
    _, bot_user, bot = person.workspace.app_identity()
    Message.objects.create(
        workspace=person.workspace, channel=channel.channel_id, user=bot_user, bot_id=bot, ts=new_ts(),
        text=str(reply.get("text") or ""), blocks=reply.get("blocks") if isinstance(reply.get("blocks"), list) else [],
        kind=Message.EPHEMERAL if ephemeral else Message.MESSAGE, ephemeral_user=person.user_id if ephemeral else "",
    )


def find_element(message, action_id):
    for block in message.blocks:
        elements = block.get("elements", []) if block.get("type") == "actions" else [block.get("accessory")]
        for element in elements:
            if isinstance(element, dict) and element.get("action_id") == action_id:
                return block.get("block_id"), element
    raise PersonError(f"No button or select with action_id {action_id!r} in that message.")


def chosen_action(block_id, element, value):
    """The action as Slack reports a click on `element` (for a select: the option whose value is `value`)."""
    action = {"type": element.get("type"), "action_id": element["action_id"], "block_id": block_id}
    if element.get("type") == "button":
        action.update(text=element.get("text"), value=element.get("value"))
        if element.get("style"):
            action["style"] = element["style"]
        return action
    options = [option for group in element.get("option_groups", []) for option in group.get("options", [])]
    options = element.get("options") or options
    if options:
        chosen = next((option for option in options if option.get("value") == value), None if value else options[0])
        if chosen is None:
            raise PersonError(f"No option with value {value!r} in {element['action_id']!r}.")
        action["selected_option"] = chosen
        if element.get("placeholder"):
            action["placeholder"] = element["placeholder"]
        return action
    action["value"] = value
    return action


def click(service_url, team_id, user_id, message_ts, action_id, value=None) -> int | None:
    """`user_id` clicks the button (or picks `value` in the select) `action_id` of the message `message_ts`."""
    person = person_in(team_id, user_id)
    message = Message.objects.filter(workspace=team_id, ts=message_ts, deleted_at=None).exclude(
        kind=Message.SCHEDULED).first()
    if message is None or (message.kind == Message.EPHEMERAL and message.ephemeral_user != user_id):
        raise PersonError(f"No message {message_ts} that {person.name} can see.")
    block_id, element = find_element(message, action_id)
    bot = person.workspace.app_bot_token()
    if bot is None:
        return None
    org_wide, _, _ = person.workspace.app_identity(bot)
    body = events.block_actions_body(
        team_id, user_id, message.channel, message.as_slack(), chosen_action(block_id, element, value),
        enterprise_id=person.workspace.enterprise_id, is_enterprise_install=org_wide,
        is_ephemeral=message.kind == Message.EPHEMERAL,
    )
    return deliver(service_url, person.workspace, f"block_actions ({action_id})", body, "application/x-www-form-urlencoded")


def uninstall(service_url, team_id) -> int | None:
    """An admin removes the app: its tokens stop working, and Slack sends `app_uninstalled` then
    `tokens_revoked`. For an org-wide install, the app leaves the whole org."""
    workspace = Workspace.objects.filter(pk=team_id).first()
    bot = workspace.app_bot_token() if workspace else None
    if bot is None:
        return None
    org_wide, bot_user, _ = workspace.app_identity(bot)
    tokens = Token.objects.filter(revoked=False, workspace=bot.workspace, enterprise=bot.enterprise)
    user_ids = sorted(set(tokens.filter(kind=Token.USER).values_list("user_id", flat=True)))
    tokens.update(revoked=True)
    statuses = [send_event(service_url, workspace, events.app_uninstalled(), bot_token=bot),
                send_event(service_url, workspace, events.tokens_revoked(user_ids, [bot_user]), bot_token=bot)]
    return next((status for status in statuses if status != 200), statuses[0])
