"""Actors: the group, its members, the instance actor, and remote actors we know of."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import datetime

from fediaid.i18n import N_


class ActorType(enum.StrEnum):
    PERSON = "Person"
    GROUP = "Group"
    APPLICATION = "Application"
    SERVICE = "Service"
    ORGANIZATION = "Organization"

    @classmethod
    def parse(cls, value: object) -> ActorType | None:
        for member in cls:
            if member.value == value:
                return member
        return None


class Role(enum.StrEnum):
    MEMBER = "member"
    COORDINATOR = "coordinator"
    ADMIN = "admin"  # a coordinator who also changes instance settings and roles


USERNAME_RE = re.compile(r"^[a-z0-9_]{1,30}$")
INSTANCE_ACTOR_USERNAME = "instance.actor"


def validate_username(name: str) -> str | None:
    """Return a plain-words problem with ``name`` as a local username, or None if it is fine."""
    if not USERNAME_RE.fullmatch(name):
        return N_("Use 1 to 30 lowercase letters, digits or underscores.")
    return None


@dataclass(frozen=True)
class Actor:
    """Any actor, local or remote, as the rest of the application sees it."""

    id: int
    uri: str
    type: ActorType
    username: str | None
    domain: str
    local: bool
    name: str | None
    summary: str | None
    inbox: str | None
    shared_inbox: str | None
    outbox: str | None
    followers_url: str | None
    following_url: str | None
    url: str | None
    key_id: str | None
    public_key_pem: str | None
    icon_url: str | None  # the avatar
    manually_approves_followers: bool
    created_at: datetime
    header_url: str | None = None  # the profile header image (local actors only, for now)
    # A deleted local account: the row stays as a tombstone that reserves the name
    # (fediaid/services/member_data.py); it is served as 410 Gone, never as an actor.
    deleted: bool = False

    @property
    def discoverable(self) -> bool:
        """Mastodon's ``discoverable`` (may be suggested and listed in directories), the one
        answer for the actor document and the client API: the group wants to be found; a
        member's profile stays out of other servers' directories and suggestions (asking
        neighbors for help should not make one findable); the instance actor is no account.
        Remote actors: False (we do not keep what their server said)."""
        return self.local and self.type is ActorType.GROUP

    @property
    def indexable(self) -> bool:
        """Mastodon's ``indexable`` (public posts may appear in other servers' full-text
        search): the group's public posts, yes; members' posts, no. Same source as above."""
        return self.local and self.type is ActorType.GROUP

    @property
    def handle(self) -> str:
        return f"@{self.username}@{self.domain}" if self.username else self.uri

    @property
    def delivery_inbox(self) -> str | None:
        """Where deliveries go: the shared inbox when there is one (Mastodon's
        ``preferred_inbox_url``), else the actor's own inbox."""
        return self.shared_inbox or self.inbox


@dataclass(frozen=True)
class RemoteActorData:
    """What we keep of a remote actor document after parsing (see federation.actors)."""

    uri: str
    type: ActorType
    username: str | None
    domain: str
    name: str | None
    summary: str | None
    inbox: str
    shared_inbox: str | None
    outbox: str | None
    followers_url: str | None
    following_url: str | None
    url: str | None
    key_id: str | None
    public_key_pem: str | None
    icon_url: str | None
    manually_approves_followers: bool
    header_url: str | None = None
