"""Statuses as Mastodon apps see them, and how Mastodon's four visibilities map onto
fediaid's levels. Pure: no I/O.

A status is a member's or remote account's note, an offer or need (``post_id`` set: the
post's own rules decide, see ``visibility.can_view``), or a boost (``reblog_of_id`` set: the
boosted status decides).

Mastodon visibility -> fediaid level (docs/mastodon-api.md):

- ``public``   -> public, listed (public and tag timelines, federated with as:Public)
- ``unlisted`` -> public, not listed (anyone with the link; kept out of public timelines)
- ``private``  -> network: the members here and of linked groups (fediaid has no
  "my followers only" level for members; the group's network is the circle people share with)
- ``direct``   -> direct: the people mentioned, and the author
- ``local`` (Akkoma's name; also accepted as ``members``) -> members: members here only,
  never federated

Remote statuses keep what their server said: followers-only ones get the ``followers``
level (the author's followers here, and the people mentioned).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import datetime

from fediaid.errors import Invalid


class Level(enum.StrEnum):
    PUBLIC = "public"
    NETWORK = "network"
    MEMBERS = "members"
    DIRECT = "direct"
    FOLLOWERS = "followers"  # remote statuses only


MASTODON_VISIBILITIES = ("public", "unlisted", "private", "direct")


def from_mastodon(value: str | None, *, default: Level = Level.PUBLIC) -> tuple[Level, bool]:
    """(level, listed) for a Mastodon ``visibility`` parameter."""
    if value is None or value == "":
        return default, True
    table = {
        "public": (Level.PUBLIC, True),
        "unlisted": (Level.PUBLIC, False),
        "private": (Level.NETWORK, True),
        "direct": (Level.DIRECT, True),
        "local": (Level.MEMBERS, True),
        "members": (Level.MEMBERS, True),
    }
    try:
        return table[value]
    except KeyError:
        raise Invalid("Validation failed: Visibility is not included in the list",
                      field="visibility") from None


def to_mastodon(level: Level | str, listed: bool = True) -> str:
    level = Level(level)
    if level is Level.PUBLIC:
        return "public" if listed else "unlisted"
    if level is Level.DIRECT:
        return "direct"
    return "private"


def federates(level: Level) -> bool:
    return level is not Level.MEMBERS


@dataclass(frozen=True)
class Status:
    id: int
    uri: str
    account_id: int
    account_uri: str
    user_id: int | None  # the local author (None for remote statuses and for posts)
    post_id: int | None
    reblog_of_id: int | None
    in_reply_to_id: int | None
    in_reply_to_uri: str | None
    in_reply_to_account_id: int | None
    conversation: str | None
    level: Level
    listed: bool
    local: bool
    content: str
    text: str | None
    spoiler_text: str
    sensitive: bool
    language: str | None
    url: str | None
    created_at: datetime
    edited_at: datetime | None
    recipients: frozenset[str] = frozenset()  # actor URIs addressed or mentioned
    mentioned_ids: tuple[int, ...] = ()  # the mentioned ones among them, by actor id
    hidden: bool = False  # a note hidden by a coordinator (an offer or need: its post's)

    @property
    def visibility(self) -> str:
        """Mastodon's name for this status's visibility."""
        return to_mastodon(self.level, self.listed)


_TAG = re.compile(r"(?:^|[^\w&/#])#(\w{1,100})", re.UNICODE)
_MENTION = re.compile(r"(?:^|[^\w@/])@([a-zA-Z0-9_.-]{1,64})(?:@([a-zA-Z0-9.-]+(?::\d+)?))?")


def hashtags(text: str) -> list[str]:
    """Hashtags in what someone typed, lower case, without ``#``, in order, once each."""
    return list(dict.fromkeys(m.group(1).lower() for m in _TAG.finditer(text)
                              if not m.group(1).isdigit()))


def mentions(text: str) -> list[tuple[str, str | None]]:
    """``@name`` and ``@name@host`` mentions: (name, host or None), once each."""
    out: list[tuple[str, str | None]] = []
    for m in _MENTION.finditer(text):
        name = m.group(1).rstrip(".")
        host = m.group(2).rstrip(".") if m.group(2) else None
        if (name, host) not in out:
            out.append((name, host))
    return out


@dataclass(frozen=True)
class StatusDraft:
    """A status someone asks to post, as the client API's parameters said it (parsed in
    ``api/mastodon/params.py``); the service applies the rules."""

    text: str = ""
    media_ids: tuple[int, ...] = ()
    spoiler_text: str = ""
    sensitive: bool = False
    language: str | None = None
    visibility: str | None = None  # Mastodon's word, mapped by from_mastodon
    in_reply_to_id: int | None = None
    poll: bool = False  # asked for a poll (not supported: refused)
    scheduled: bool = False  # asked to schedule it (not supported: refused)


@dataclass(frozen=True)
class StatusChange:
    """An edit of one's own note: what is not given stays as it is."""

    text: str | None = None
    spoiler_text: str | None = None
    sensitive: bool = False
