"""The one place that builds Slack Web API clients: every call goes to `SLACK_API_URL`."""

from django.conf import settings
from slack_sdk import WebClient

from installations import metrics


def web_client(token=None) -> WebClient:
    # Each call counted by method and outcome; a 429 waited out (Retry-After) once, and counted.
    return metrics.CountedWebClient(
        token=token, base_url=settings.SLACK_API_URL, timeout=10, retry_handlers=metrics.retry_handlers()
    )


def bot_credentials(enterprise_id=None, team_id=None, is_enterprise_install=False):
    """The workspace's latest `Installation` (or, when none is left, its latest `Bot`) with a
    usable bot token, refreshed first when within the rotation window; None when the workspace has
    no usable bot token (not installed, uninstalled, or needs reinstall)."""
    from installations.rotation import fresh_credentials  # rotation calls Slack with web_client
    from installations.stores import installation_store

    credentials = fresh_credentials(
        installation_store(), enterprise_id=enterprise_id, team_id=team_id, is_enterprise_install=is_enterprise_install
    )
    return credentials.found if credentials is not None and credentials.bot_token is not None else None


def client_for_workspace(enterprise_id=None, team_id=None, is_enterprise_install=False) -> WebClient:
    """A ready bot-token client for code outside listeners (jobs, admin actions, scripts).

    Raises `LookupError` when the workspace has no usable bot token (see `bot_credentials`).
    """
    found = bot_credentials(enterprise_id, team_id, is_enterprise_install)
    if found is None:
        raise LookupError(f"No usable bot token for enterprise {enterprise_id} team {team_id}")
    return web_client(found.bot_token)
