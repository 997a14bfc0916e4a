"""Messages as Slack's client shows them: mrkdwn and Block Kit as HTML.

Slack's markup: `<@U123>` mentions, `<#C123|name>` channel links, `<!here>`, `<https://x|label>`
links, `*bold*`, `_italic_`, `~strike~`, `` `code` ``, ``` ```blocks``` ```, `> quotes` and
`:emoji:`. Text arrives with `&`, `<` and `>` escaped as entities (Slack's rule for message text).
"""

import html
import re
from datetime import datetime
from datetime import timezone as dt_timezone

from django.urls import reverse
from django.utils.html import escape, format_html, format_html_join
from django.utils.safestring import mark_safe

# The emoji people and bots use most; anything else stays `:name:` as Slack shows an unknown one.
EMOJI = {
    "wave": "👋", "smile": "😄", "slightly_smiling_face": "🙂", "grinning": "😀", "joy": "😂", "wink": "😉",
    "thumbsup": "👍", "+1": "👍", "thumbsdown": "👎", "-1": "👎", "ok_hand": "👌", "clap": "👏", "pray": "🙏",
    "raised_hands": "🙌", "muscle": "💪", "eyes": "👀", "thinking_face": "🤔", "tada": "🎉", "rocket": "🚀",
    "fire": "🔥", "sparkles": "✨", "star": "⭐", "heart": "❤️", "white_check_mark": "✅", "heavy_check_mark": "✔️",
    "x": "❌", "warning": "⚠️", "no_entry": "⛔", "question": "❓", "exclamation": "❗", "bulb": "💡",
    "memo": "📝", "calendar": "📅", "clock1": "🕐", "hourglass": "⌛", "alarm_clock": "⏰", "bell": "🔔",
    "lock": "🔒", "key": "🔑", "link": "🔗", "pushpin": "📌", "robot_face": "🤖", "coffee": "☕",
    "table_tennis_paddle_and_ball": "🏓", "ping_pong": "🏓", "bow": "🙇", "sweat_smile": "😅", "cry": "😢",
    "heavy_plus_sign": "➕", "point_right": "👉", "100": "💯", "beers": "🍻", "cake": "🍰", "sunny": "☀️",
    "information_source": "ℹ️", "arrow_right": "➡️", "books": "📚", "package": "📦", "gear": "⚙️",
}

_SPECIAL = re.compile(r"<([^<>\n]+)>")
_CODE_BLOCK = re.compile(r"```\n?(.*?)```", re.S)
_CODE = re.compile(r"`([^`\n]+)`")
_BOLD = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]*?\S)\*(?![\w*])")
_ITALIC = re.compile(r"(?<![\w_])_(?=\S)([^_\n]*?\S)_(?![\w_])")
_STRIKE = re.compile(r"(?<![\w~])~(?=\S)([^~\n]*?\S)~(?![\w~])")
_EMOJI = re.compile(r":([a-z0-9_+\-]+):")


class Names:
    """How ids read in one workspace: people's and the bot's names, channel names and their links."""

    def __init__(self, people: dict, channels: dict, channel_url=None):
        self.people, self.channels, self.channel_url = people, channels, channel_url or (lambda channel_id: "#")

    @classmethod
    def of(cls, workspace, app_name, person_id=""):
        from sandbox.models import Channel  # noqa: avoid a cycle at import (models imports nothing of this)

        people = {user.user_id: user.name for user in workspace.users.all()}
        people[workspace.app_identity()[1]] = app_name
        channels = {c.channel_id: c.name for c in Channel.objects.filter(workspace=workspace, im_user=None)}

        def channel_url(channel_id):
            url = reverse("sandbox:channel", args=[workspace.team_id, channel_id])
            return f"{url}?as={person_id}" if person_id else url

        return cls(people, channels, channel_url)


def mrkdwn(text, names: Names):
    """Slack's mrkdwn as safe HTML."""
    pieces = []  # rendered fragments, spliced back in after the inline formatting

    def keep(fragment):
        pieces.append(fragment)
        return f"\x00{len(pieces) - 1}\x00"

    def code_block(match):
        return keep(format_html("<pre class=\"code\">{}</pre>", html.unescape(match.group(1))))

    def special(match):
        return keep(_special(match.group(1), names))

    text = _CODE_BLOCK.sub(code_block, text or "")
    text = _SPECIAL.sub(special, text)
    text = _CODE.sub(lambda m: keep(format_html("<code>{}</code>", html.unescape(m.group(1)))), text)
    text = str(escape(html.unescape(text)))
    text = _BOLD.sub(r"<strong>\1</strong>", text)
    text = _ITALIC.sub(r"<em>\1</em>", text)
    text = _STRIKE.sub(r"<del>\1</del>", text)
    text = _EMOJI.sub(lambda m: _emoji(m.group(1)), text)
    lines = []
    for line in text.split("\n"):
        if line.startswith("&gt; ") or line == "&gt;":
            line = f"<blockquote>{line[5:]}</blockquote>"
        lines.append(line)
    text = "<br>".join(lines).replace("</blockquote><br><blockquote>", "<br>")
    text = re.sub(r"\x00(\d+)\x00", lambda m: str(pieces[int(m.group(1))]), text)
    return mark_safe(text)


def _emoji(name):
    if name in EMOJI:
        return f'<span class="emoji" role="img" aria-label="{name}">{EMOJI[name]}</span>'
    return f":{name}:"


def _special(inner, names):
    target, _, label = inner.partition("|")
    if target.startswith("@"):
        who = names.people.get(target[1:]) or label or target[1:]
        return format_html('<span class="mention">@{}</span>', who)
    if target.startswith("#"):
        name = names.channels.get(target[1:]) or label or target[1:]
        return format_html('<a class="channel-link" href="{}">#{}</a>', names.channel_url(target[1:]), name)
    if target.startswith("!"):
        keyword = target[1:].split("^")[0]
        if keyword in ("here", "channel", "everyone"):
            return format_html('<span class="mention">@{}</span>', keyword)
        return escape(html.unescape(label or keyword))
    if re.match(r"(https?://|mailto:)", target):
        return format_html('<a href="{}" rel="noopener noreferrer">{}</a>', html.unescape(target),
                           html.unescape(label or target))
    return escape(html.unescape(inner))


def text_object(obj, names):
    """A Block Kit text object: mrkdwn, or plain_text (whose :emoji: Slack still shows when `emoji`)."""
    if not isinstance(obj, dict):
        return ""
    if obj.get("type") == "mrkdwn":
        return mrkdwn(obj.get("text", ""), names)
    text = escape(obj.get("text", ""))
    return mark_safe(_EMOJI.sub(lambda m: _emoji(m.group(1)), str(text)) if obj.get("emoji", True) else text)


def plain(obj):
    return obj.get("text", "") if isinstance(obj, dict) else ""


class BlockRenderer:
    """Block Kit as HTML; an interactive element is a small form that sends a real, signed click."""

    def __init__(self, names, message, person_id, csrf_input, click_url):
        self.names, self.message, self.person_id = names, message, person_id
        self.csrf_input, self.click_url = csrf_input, click_url

    def blocks(self, blocks):
        return format_html_join("", "{}", ((self.block(block),) for block in blocks if isinstance(block, dict)))

    def block(self, block):
        kind = block.get("type")
        if kind == "section":
            fields = format_html_join("", '<div class="bk-field">{}</div>',
                                      ((text_object(f, self.names),) for f in block.get("fields") or []))
            accessory = self.element(block.get("accessory"), block.get("block_id")) if block.get("accessory") else ""
            return format_html(
                '<div class="bk-section"><div class="bk-section-text">{}{}</div>{}</div>',
                text_object(block.get("text"), self.names),
                format_html('<div class="bk-fields">{}</div>', fields) if fields else "", accessory,
            )
        if kind == "divider":
            return mark_safe('<hr class="bk-divider">')
        if kind == "header":
            return format_html('<p class="bk-header">{}</p>', text_object(block.get("text"), self.names))
        if kind == "context":
            return format_html('<div class="bk-context">{}</div>', format_html_join(
                " ", "{}", ((self.context_element(e),) for e in block.get("elements") or [])))
        if kind == "image":
            title = plain(block.get("title"))
            return format_html('<figure class="bk-image"><img src="{}" alt="{}">{}</figure>', block.get("image_url", ""),
                               block.get("alt_text", ""), format_html("<figcaption>{}</figcaption>", title) if title else "")
        if kind == "actions":
            return format_html('<div class="bk-actions">{}</div>', format_html_join(
                "", "{}", ((self.element(e, block.get("block_id")),) for e in block.get("elements") or [])))
        if kind == "rich_text":
            return format_html('<div class="bk-text">{}</div>', mrkdwn(self.message.text, self.names))
        return format_html('<p class="bk-unsupported">[a {} block: the sandbox does not draw it]</p>', kind)

    def context_element(self, element):
        if isinstance(element, dict) and element.get("type") == "image":
            return format_html('<img class="bk-context-image" src="{}" alt="{}">', element.get("image_url", ""),
                               element.get("alt_text", ""))
        return text_object(element, self.names)

    def element(self, element, block_id):
        if not isinstance(element, dict):
            return ""
        kind = element.get("type")
        if kind == "image":
            return format_html('<img class="bk-accessory-image" src="{}" alt="{}">', element.get("image_url", ""),
                               element.get("alt_text", ""))
        action_id = element.get("action_id", "")
        dom_id = f"a-{self.message.ts.replace('.', '-')}-{re.sub(r'[^A-Za-z0-9_-]', '_', action_id)}"
        hidden = format_html(
            '{}<input type="hidden" name="as" value="{}"><input type="hidden" name="message_ts" value="{}">'
            '<input type="hidden" name="action_id" value="{}">',
            self.csrf_input, self.person_id, self.message.ts, action_id,
        )
        if kind == "button":
            style = element.get("style", "")
            return format_html(
                '<form class="bk-form" method="post" action="{}" data-live>{}<button id="{}" class="bk-button {}" '
                'type="submit" name="value" value="{}">{}</button></form>',
                self.click_url, hidden, dom_id, f"bk-{style}" if style else "", element.get("value", ""),
                text_object(element.get("text"), self.names),
            )
        if kind in ("static_select", "overflow", "radio_buttons"):
            options = element.get("options") or [o for g in element.get("option_groups") or [] for o in g.get("options", [])]
            label = plain(element.get("placeholder")) or "Choose an option"
            choices = format_html_join("", '<option value="{}">{}</option>', ((o.get("value", ""), plain(o.get("text"))) for o in options))
            return format_html(
                '<form class="bk-form" method="post" action="{}" data-live>{}<label class="visually-hidden" for="{}">{}</label>'
                '<select id="{}" name="value">{}</select><button class="bk-button" type="submit">Choose</button></form>',
                self.click_url, hidden, dom_id, label, dom_id, choices,
            )
        return format_html('<span class="bk-unsupported">[{}]</span>', kind)


def attachments(items, names):
    """Legacy attachments: a coloured bar with pretext, title, text and fields."""
    rendered = []
    for item in items:
        if not isinstance(item, dict):
            continue
        title = item.get("title", "")
        if title and item.get("title_link"):
            title = format_html('<a href="{}">{}</a>', item["title_link"], title)
        fields = format_html_join("", '<div class="bk-field"><strong>{}</strong><br>{}</div>',
                                  ((f.get("title", ""), mrkdwn(f.get("value", ""), names)) for f in item.get("fields") or []))
        rendered.append(format_html(
            '<div class="attachment">{}{}{}{}</div>',
            format_html("<p>{}</p>", mrkdwn(item["pretext"], names)) if item.get("pretext") else "",
            format_html("<p><strong>{}</strong></p>", title) if title else "",
            format_html("<p>{}</p>", mrkdwn(item.get("text") or item.get("fallback", ""), names)),
            format_html('<div class="bk-fields">{}</div>', fields) if fields else "",
        ))
    return format_html_join("", "{}", ((r,) for r in rendered))


def ts_time(ts):
    try:
        return datetime.fromtimestamp(float(ts), tz=dt_timezone.utc)
    except (TypeError, ValueError):
        return None
