"""Web Push subscriptions of the Mastodon client API: which alerts and policies exist, when
a notification may be pushed, and the words of a push (Mastodon's own, so an app shows
what it would show for a Mastodon account).

Pure: no I/O, no crypto (fediaid/federation/webpush.py encrypts; services/push.py sends).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping

#: Mastodon 4.x's alert names (``data[alerts][...]``), in the order the entity lists them.
ALERTS = ("mention", "status", "reblog", "follow", "follow_request", "favourite", "poll",
          "update", "admin.sign_up", "admin.report")

#: Characters of a push's body (Mastodon: ``truncate(..., length: 140)``).
BODY_LENGTH = 140


class Policy(enum.StrEnum):
    """Whose notifications are pushed (``data[policy]``)."""

    ALL = "all"
    FOLLOWED = "followed"  # accounts the member follows
    FOLLOWER = "follower"  # accounts that follow the member
    NONE = "none"

    @classmethod
    def parse(cls, value: object) -> Policy | None:
        for member in cls:
            if member.value == value:
                return member
        return None


def alerts_from(chosen: Mapping[str, bool]) -> frozenset[str]:
    """The enabled alerts among Mastodon's names (unknown names are ignored, as Mastodon's
    strong parameters drop them)."""
    return frozenset(name for name in ALERTS if chosen.get(name))


def alerts_text(alerts: Iterable[str]) -> str:
    """How the enabled alerts are stored: comma-separated, in ``ALERTS`` order."""
    enabled = set(alerts)
    return ",".join(name for name in ALERTS if name in enabled)


def alerts_parse(stored: str) -> frozenset[str]:
    return frozenset(name for name in stored.split(",") if name in ALERTS)


def alerts_entity(alerts: frozenset[str]) -> dict[str, bool]:
    """The ``alerts`` object of the WebPushSubscription entity: every name, true or false."""
    return {name: name in alerts for name in ALERTS}


def wanted(alerts: frozenset[str], policy: Policy, notification_type: str) -> bool:
    """Whether a notification of this type is queued for the subscription at all (the
    policy's follow checks come when it is sent)."""
    return policy is not Policy.NONE and notification_type in alerts


def policy_allows(policy: Policy, *, sender_follows_member: bool,
                  member_follows_sender: bool) -> bool:
    """Mastodon's ``Web::PushSubscription#policy_allows_notification?``."""
    if policy is Policy.ALL:
        return True
    if policy is Policy.FOLLOWED:
        return member_follows_sender
    if policy is Policy.FOLLOWER:
        return sender_follows_member
    return False


_TITLES = {
    "mention": "You were mentioned by {name}",
    "status": "{name} just posted",
    "reblog": "{name} boosted your post",
    "follow": "{name} is now following you",
    "follow_request": "Pending follower: {name}",
    "favourite": "{name} favorited your post",
    "poll": "A poll you voted in has ended",
    "update": "{name} edited a post",
    "admin.sign_up": "{name} signed up",
    "admin.report": "New report on {name}",
}


def title(notification_type: str, name: str) -> str:
    """Mastodon's English ``notification_mailer.<type>.subject``."""
    return _TITLES.get(notification_type, "New notification from {name}").format(name=name)


def body(text: str, limit: int = BODY_LENGTH) -> str:
    """Plain text cut to ``limit`` characters, as Rails' ``truncate`` (ending in "...")."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    return text[:limit - 3].rstrip() + "..."
