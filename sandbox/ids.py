"""Identifiers shaped like Slack's, as the sandbox makes them."""

import secrets
import threading
import time

APP_ID = "A0SANDBOX1"

_ts_lock = threading.Lock()
_last_ts = [0.0]


def bot_user_id(team_or_enterprise_id):
    """The app's bot user in a workspace (or, after an org-wide install, in the whole org)."""
    return "UB" + team_or_enterprise_id[1:]


def bot_id(team_or_enterprise_id):
    return "B" + team_or_enterprise_id[1:]


def dm_channel_id(user_id):
    """The id of the DM between the app's bot and a person (one per person, like Slack's `D…` ids)."""
    return "D" + user_id[1:]


def scheduled_message_id():
    return "Q" + secrets.token_hex(5).upper()


def random_part(length=24):
    return secrets.token_hex(length // 2)


def new_ts():
    """A message timestamp, which Slack also uses as the message's id: unique, and increasing so that
    sorting by it is sorting by time (two messages in one microsecond get consecutive ones)."""
    with _ts_lock:
        now = max(time.time(), _last_ts[0] + 0.000001)
        _last_ts[0] = now
    return f"{now:.6f}"
