"""`User`: a person of a workspace, as Slack's `users.info`/`users.list` describe them (Slack
Machine's `machine.models.user.User`)."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class User:
    id: str
    name: str = ""
    team_id: str | None = None
    deleted: bool = False
    real_name: str | None = None
    tz: str | None = None
    is_admin: bool = False
    is_owner: bool = False
    is_primary_owner: bool = False
    is_restricted: bool = False
    is_ultra_restricted: bool = False
    is_bot: bool = False
    is_app_user: bool = False
    tz_label: str | None = None
    tz_offset: int | None = None
    locale: str | None = None
    profile: "Profile" = field(default_factory=lambda: Profile(), compare=False, hash=False)

    @classmethod
    def from_api_response(cls, data: dict) -> "User":
        return cls(
            id=data["id"],
            name=data.get("name", ""),
            team_id=data.get("team_id"),
            deleted=bool(data.get("deleted")),
            real_name=data.get("real_name") or (data.get("profile") or {}).get("real_name"),
            tz=data.get("tz"),
            is_admin=bool(data.get("is_admin")),
            is_owner=bool(data.get("is_owner")),
            is_primary_owner=bool(data.get("is_primary_owner")),
            is_restricted=bool(data.get("is_restricted")),
            is_ultra_restricted=bool(data.get("is_ultra_restricted")),
            is_bot=bool(data.get("is_bot")),
            is_app_user=bool(data.get("is_app_user")),
            tz_label=data.get("tz_label"),
            tz_offset=data.get("tz_offset"),
            locale=data.get("locale"),
            profile=Profile.from_api_response(data.get("profile") or {}),
        )

    @property
    def email(self) -> str | None:
        return self.profile.email

    def fmt_mention(self) -> str:
        return f"<@{self.id}>"



@dataclass(frozen=True)
class Profile:
    real_name: str = ""
    display_name: str = ""
    real_name_normalized: str = ""
    display_name_normalized: str = ""
    email: str | None = None
    title: str = ""
    phone: str = ""
    status_text: str = ""
    status_emoji: str = ""
    team: str | None = None
    image_24: str = ""
    image_32: str = ""
    image_48: str = ""
    image_72: str = ""
    image_192: str = ""
    image_512: str = ""

    @classmethod
    def from_api_response(cls, data: dict) -> "Profile":
        return cls(**{name: data[name] for name in cls.__dataclass_fields__ if data.get(name) is not None})
