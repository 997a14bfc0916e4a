"""Identifiers of the bench's sandbox workspaces, people and channels, derived from an index.

The runner creates them and the load generator addresses them, so both derive them here rather
than passing a list of 100k ids between processes.
"""

USERS_PER_WORKSPACE = 3


def team_id(index):
    return f"TX{index:07d}"


def channel_id(index):
    return f"CX{index:07d}"


def user_id(index, person):
    return f"UX{index:07d}{person:02d}"
