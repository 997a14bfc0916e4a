"""`Channel`: a conversation (public or private channel, DM) as Slack describes it (Slack Machine's
`machine.models.channel.Channel`)."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Channel:
    id: str
    name: str | None = None
    created: int = 0
    creator: str | None = None
    is_archived: bool = False
    is_general: bool = False
    is_channel: bool = False
    is_group: bool = False
    is_im: bool = False
    is_mpim: bool = False
    is_private: bool = False
    user: str | None = None  # the other person of a DM
    topic: str = ""
    purpose: str = ""
    is_member: bool = False
    is_shared: bool = False
    num_members: int | None = None
    name_normalized: str | None = None

    @classmethod
    def from_api_response(cls, data: dict) -> "Channel":
        return cls(
            id=data["id"],
            name=data.get("name"),
            created=int(data.get("created") or 0),
            creator=data.get("creator"),
            is_archived=bool(data.get("is_archived")),
            is_general=bool(data.get("is_general")),
            is_channel=bool(data.get("is_channel")),
            is_group=bool(data.get("is_group")),
            is_im=bool(data.get("is_im")),
            is_mpim=bool(data.get("is_mpim")),
            is_private=bool(data.get("is_private")),
            user=data.get("user"),
            topic=(data.get("topic") or {}).get("value", ""),
            purpose=(data.get("purpose") or {}).get("value", ""),
            is_member=bool(data.get("is_member")),
            is_shared=bool(data.get("is_shared")),
            num_members=data.get("num_members"),
            name_normalized=data.get("name_normalized") or (data.get("name") or "").lower() or None,
        )

    @property
    def identifier(self) -> str:
        return self.name or self.id
