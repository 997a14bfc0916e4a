"""The "Add to Slack" link, with every parameter encoded.

slack_sdk's `AuthorizeUrlGenerator` pastes its values into the URL as they are, and Bolt hands it the
`team` of `/slack/install?team=...` unchecked: `team=T1%26redirect_uri%3Dhttps%3A%2F%2Fevil.example`
gave a link carrying an attacker's `redirect_uri` (and `scope`, `user_scope` or a fragment the same
way). Here `team` must look like a Slack workspace or org id, or it is left out (Slack then asks
which workspace), and every value is encoded.
"""

import re
from typing import Optional
from urllib.parse import urlencode

from slack_sdk.oauth import AuthorizeUrlGenerator

TEAM_ID = re.compile(r"[TE][A-Z0-9]{2,20}")


class EncodedAuthorizeUrlGenerator(AuthorizeUrlGenerator):
    @classmethod
    def like(cls, generator: AuthorizeUrlGenerator) -> "EncodedAuthorizeUrlGenerator":
        """This generator with the settings of `generator` (the one Bolt's OAuthSettings built)."""
        return cls(
            client_id=generator.client_id,
            redirect_uri=generator.redirect_uri,
            scopes=generator.scopes,
            user_scopes=generator.user_scopes,
            authorization_url=generator.authorization_url,
        )

    def generate(self, state: str, team: Optional[str] = None) -> str:
        params = {
            "state": state,
            "client_id": self.client_id,
            "scope": ",".join(self.scopes or []),
            "user_scope": ",".join(self.user_scopes or []),
        }
        if self.redirect_uri is not None:
            params["redirect_uri"] = self.redirect_uri
        if team is not None and TEAM_ID.fullmatch(team):
            params["team"] = team
        # Commas, colons and slashes are plain characters inside a query value: kept readable.
        return f"{self.authorization_url}?{urlencode(params, safe=',:/')}"
