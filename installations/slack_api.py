"""The one place that builds Slack Web API clients: every call goes to `SLACK_API_URL`."""

from django.conf import settings
from slack_sdk import WebClient

from installations import metrics


def web_client(token=None) -> WebClient:
    # Each call counted by method and outcome; a 429 waited out (Retry-After) once, and counted.
    return metrics.CountedWebClient(
        token=token, base_url=settings.SLACK_API_URL, timeout=10, retry_handlers=metrics.retry_handlers()
    )


def client_for_workspace(enterprise_id=None, team_id=None, is_enterprise_install=False) -> WebClient:
    """A ready bot-token client for code outside listeners (jobs, admin actions, scripts).

    Refreshes the bot token first when it is within the rotation window. Raises `LookupError` when
    the workspace has no usable bot token (not installed, uninstalled, or needs reinstall).
    """
    from bolt_app.app import get_store
    from installations.rotation import refreshed_if_due

    store = get_store()
    ids = dict(enterprise_id=enterprise_id, team_id=team_id, is_enterprise_install=is_enterprise_install)
    # As authorize does: the latest installation, else (Bolt's fallback) the latest bot.
    found = refreshed_if_due(store, store.find_installation(**ids) or store.find_bot(**ids))
    if found is None or not found.bot_token:
        raise LookupError(f"No usable bot token for enterprise {enterprise_id} team {team_id}")
    return web_client(found.bot_token)
