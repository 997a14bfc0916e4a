"""Slack Machine's `machine.plugins.admin_utils`: what `unauthorized-access` listeners receive."""

from enum import Enum


class RoleCombinator(Enum):
    ANY = "Any"
    ALL = "All"
