"""The one place that builds Slack Web API clients: every call goes to `SLACK_API_URL`."""

from django.conf import settings
from slack_sdk import WebClient


def web_client(token=None) -> WebClient:
    return WebClient(token=token, base_url=settings.SLACK_API_URL, timeout=10)


def client_for_workspace(enterprise_id=None, team_id=None, is_enterprise_install=False) -> WebClient:
    """A ready bot-token client for code outside listeners (jobs, admin actions, scripts).

    Refreshes the bot token first when it is within the rotation window. Raises `LookupError` when
    the workspace has no usable bot token (not installed, uninstalled, or needs reinstall).
    """
    from bolt_app.app import get_store
    from installations.rotation import refresh_if_due

    store = get_store()
    installation = store.find_installation(
        enterprise_id=enterprise_id, team_id=team_id, is_enterprise_install=is_enterprise_install
    )
    if installation is not None:
        installation = refresh_if_due(store, installation) or installation
    if installation is None or not installation.bot_token:
        raise LookupError(f"No usable bot token for enterprise {enterprise_id} team {team_id}")
    return web_client(installation.bot_token)
