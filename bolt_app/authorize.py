"""Authorize an event from what the installation already stores: no `auth.test`, no SQL when warm.

Bolt's `InstallationStoreAuthorize` calls `auth.test` on Slack for every event it has not cached
per process, and makes 2-3 store lookups. Everything `auth.test` tells it (bot id, bot user id,
team, user ids) was stored at install time, so this builds the `AuthorizeResult` from the store's
one cached lookup (`installations.rotation.fresh_credentials`). Bolt's semantics are kept: the bot
token of the latest install; the requesting user's own user token when they have one, else none;
org-wide installs; rotation of tokens due within `SLACK_TOKEN_ROTATION_EXPIRATION_MINUTES`; and,
when no installation is left, the latest bot (a bot saved alone, or left by `delete_installation`).
"""

from slack_bolt.authorization import AuthorizeResult
from slack_bolt.authorization.authorize import Authorize

from installations.rotation import fresh_credentials


class StoreAuthorize(Authorize):
    def __init__(self, installation_store, logger):
        self.installation_store = installation_store
        self.logger = logger

    def __call__(self, *, context, enterprise_id, team_id, user_id, **actor_ids):
        is_enterprise_install = bool(context.is_enterprise_install)
        credentials = fresh_credentials(
            self.installation_store,
            enterprise_id=enterprise_id,
            team_id=team_id,
            user_id=user_id,
            is_enterprise_install=is_enterprise_install,
        )
        if credentials is None:
            self.logger.debug("No usable token for enterprise %s team %s", enterprise_id, team_id)
            return None
        found, mine, bot_token, user_token = credentials
        return AuthorizeResult(
            enterprise_id=found.enterprise_id,
            team_id=team_id if is_enterprise_install else found.team_id,
            team=found.team_name,
            url=getattr(found, "enterprise_url", None) if is_enterprise_install else None,  # a Bot has none
            bot_id=found.bot_id if bot_token else None,
            bot_user_id=found.bot_user_id if bot_token else None,
            bot_token=bot_token,
            bot_scopes=found.bot_scopes if bot_token else None,
            user_id=mine.user_id if user_token else None,
            user_token=user_token,
            user_scopes=mine.user_scopes if user_token else None,
        )
