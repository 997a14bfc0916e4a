"""Identifiers shaped like Slack's, as the sandbox makes them."""

import secrets
import time

APP_ID = "A0SANDBOX1"


def bot_user_id(team_or_enterprise_id):
    """The app's bot user in a workspace (or, after an org-wide install, in the whole org)."""
    return "UB" + team_or_enterprise_id[1:]


def bot_id(team_or_enterprise_id):
    return "B" + team_or_enterprise_id[1:]


def random_part(length=24):
    return secrets.token_hex(length // 2)


def new_ts():
    """A message timestamp, which Slack also uses as the message's id."""
    return f"{time.time():.6f}"
