"""Authorize an event from what the installation already stores: no `auth.test`, no SQL when warm.

Bolt's `InstallationStoreAuthorize` calls `auth.test` on Slack for every event it has not cached
per process, and makes 2-3 store lookups. Everything `auth.test` tells it (bot id, bot user id,
team, user ids) was stored at install time, so this builds the `AuthorizeResult` from the store's
one cached lookup. Bolt's semantics are kept: the bot token of the latest install; the requesting
user's own user token when they have one, else none; org-wide installs; rotation of tokens due
within `SLACK_TOKEN_ROTATION_EXPIRATION_MINUTES`; and, when no installation gives a token, the
latest bot (`find_bot`: a bot saved alone, or left by `delete_installation`).
"""

import time

from slack_bolt.authorization import AuthorizeResult
from slack_bolt.authorization.authorize import Authorize

from installations.rotation import installation_is_due, refresh_due_tokens, refreshed_if_due


def _usable(token, expires_at):
    return token if token and (expires_at is None or expires_at > time.time()) else None


class StoreAuthorize(Authorize):
    def __init__(self, installation_store, logger):
        self.installation_store = installation_store
        self.logger = logger

    def __call__(self, *, context, enterprise_id, team_id, user_id, **actor_ids):
        is_enterprise_install = bool(context.is_enterprise_install)
        latest, mine = self._find(enterprise_id, team_id, user_id, is_enterprise_install)
        if latest is None:
            return self._from_bot(enterprise_id, team_id, is_enterprise_install)
        bot_token = _usable(latest.bot_token, latest.bot_token_expires_at)
        user_token = _usable(mine.user_token, mine.user_token_expires_at) if mine else None
        if bot_token is None and user_token is None:
            return None
        return AuthorizeResult(
            enterprise_id=latest.enterprise_id,
            team_id=team_id if is_enterprise_install else latest.team_id,
            team=latest.team_name,
            url=latest.enterprise_url if is_enterprise_install else None,
            bot_id=latest.bot_id if bot_token else None,
            bot_user_id=latest.bot_user_id if bot_token else None,
            bot_token=bot_token,
            bot_scopes=latest.bot_scopes if bot_token else None,
            user_id=mine.user_id if user_token else None,
            user_token=user_token,
            user_scopes=mine.user_scopes if user_token else None,
        )

    def _from_bot(self, enterprise_id, team_id, is_enterprise_install):
        """Bolt's fallback when no installation exists: the latest bot (the store's `find_installation`
        already lends an installation without a bot token the latest bot's)."""
        bot = refreshed_if_due(
            self.installation_store,
            self.installation_store.find_bot(
                enterprise_id=enterprise_id, team_id=team_id, is_enterprise_install=is_enterprise_install
            ),
        )
        bot_token = _usable(bot.bot_token, bot.bot_token_expires_at) if bot else None
        if bot_token is None:
            self.logger.debug("No installation or bot for enterprise %s team %s", enterprise_id, team_id)
            return None
        return AuthorizeResult(
            enterprise_id=bot.enterprise_id,
            team_id=team_id if is_enterprise_install else bot.team_id,
            team=bot.team_name,
            bot_id=bot.bot_id,
            bot_user_id=bot.bot_user_id,
            bot_token=bot_token,
            bot_scopes=bot.bot_scopes,
        )

    def _find(self, enterprise_id, team_id, user_id, is_enterprise_install):
        ids = dict(enterprise_id=enterprise_id, team_id=team_id, is_enterprise_install=is_enterprise_install)
        latest, mine = self.installation_store.find_authorization(user_id=user_id, **ids)
        if latest is not None and (installation_is_due(latest) or (mine and installation_is_due(mine))):
            target = mine if mine and installation_is_due(mine) else latest
            if refresh_due_tokens(self.installation_store, target, user_id=user_id):
                latest, mine = self.installation_store.find_authorization(user_id=user_id, **ids)
        return latest, mine
