"""`roles`: give, take and list roles in this workspace (admins only, except listing)."""

from plugins import roles
from plugins.base import MachineBasePlugin
from plugins.decorators import require_any_role, respond_to


class RolesPlugin(MachineBasePlugin):
    """Roles"""

    @respond_to(r"^grant role (?P<role>[\w-]+) to <@(?P<user_id>[A-Z0-9]+)(?:\|[^>]*)?>$")
    @require_any_role(["admin"])
    def grant(self, msg, role, user_id):
        """grant role <role> to @person: give a role (admins)"""
        if roles.grant(user_id, role, granted_by=msg.sender.id):
            msg.say(f"{self.at(user_id)} now has role `{role}`.")
        else:
            msg.say(f"{self.at(user_id)} already has role `{role}`.")

    @respond_to(r"^revoke role (?P<role>[\w-]+) from <@(?P<user_id>[A-Z0-9]+)(?:\|[^>]*)?>$")
    @require_any_role(["admin"])
    def revoke(self, msg, role, user_id):
        """revoke role <role> from @person: take a role away (admins)"""
        if roles.revoke(user_id, role):
            msg.say(f"{self.at(user_id)} no longer has role `{role}`.")
        else:
            msg.say(f"{self.at(user_id)} didn't have role `{role}`.")

    @respond_to(r"^who has role (?P<role>[\w-]+)\??$")
    def who_has(self, msg, role):
        """who has role <role>: who was given a role"""
        holders = roles.holders(role)
        if role == roles.ADMIN:
            msg.say("Admins are whoever installed the app and the workspace's admins"
                    + (f", and {', '.join(self.at(user) for user in holders)}." if holders else "."))
        elif holders:
            msg.say(f"Role `{role}`: {', '.join(self.at(user) for user in holders)}.")
        else:
            msg.say(f"Nobody has role `{role}`.")
