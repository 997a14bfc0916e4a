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
    is_bot: bool = False
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
            is_bot=bool(data.get("is_bot")),
            profile=Profile.from_api_response(data.get("profile") or {}),
        )

    @property
    def email(self) -> str | None:
        return self.profile.email

    def fmt_mention(self) -> str:
        return f"<@{self.id}>"

    def to_api_response(self) -> dict:
        """The fields `from_api_response` reads, for the per-workspace cache."""
        return {
            "id": self.id, "name": self.name, "team_id": self.team_id, "deleted": self.deleted,
            "real_name": self.real_name, "tz": self.tz, "is_admin": self.is_admin, "is_owner": self.is_owner,
            "is_bot": self.is_bot, "profile": self.profile.__dict__.copy(),
        }


@dataclass(frozen=True)
class Profile:
    real_name: str = ""
    display_name: str = ""
    email: str | None = None
    title: str = ""
    image_72: str = ""

    @classmethod
    def from_api_response(cls, data: dict) -> "Profile":
        return cls(**{name: data[name] for name in cls.__dataclass_fields__ if data.get(name) is not None})
