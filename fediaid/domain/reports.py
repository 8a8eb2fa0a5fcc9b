"""Reports and takedowns: the values, and what the people involved are told, in plain words.

Pure: no I/O. The service is ``fediaid/services/reports.py``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

from fediaid.i18n import N_, Message, recognise

MAX_COMMENT = 1000  # Mastodon's limit for a report's comment
MAX_REASON = 1000


class Category(enum.StrEnum):
    """Mastodon's report categories."""

    SPAM = "spam"
    LEGAL = "legal"
    VIOLATION = "violation"  # breaks the group's rules
    OTHER = "other"


CATEGORY_WORDS: dict[Category, str] = {
    Category.SPAM: N_("Spam, or advertising"),
    Category.LEGAL: N_("Something illegal"),
    Category.VIOLATION: N_("It breaks the group's rules"),
    Category.OTHER: N_("Something else (for example: it puts someone in danger, it shares a "
                       "home address, it is hateful)"),
}


class ReportState(enum.StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


class Action(enum.StrEnum):
    """What a coordinator did about a report."""

    DISMISS = "dismiss"
    HIDE_POST = "hide_post"
    REMOVE_POST = "remove_post"
    LIMIT = "limit"  # a local account: its new posts are members-only
    SUSPEND = "suspend"  # a local account: cannot log in, post or use apps
    SUSPEND_REMOTE = "suspend_remote"  # a remote account: its activities are refused
    BLOCK_DOMAIN = "block_domain"  # the remote account's whole server

    @property
    def local_only(self) -> bool:
        return self in (Action.LIMIT, Action.SUSPEND)

    @property
    def remote_only(self) -> bool:
        return self in (Action.SUSPEND_REMOTE, Action.BLOCK_DOMAIN)


class TakedownAction(enum.StrEnum):
    HIDE = "hide"  # kept; seen only by coordinators and the author
    REMOVE = "remove"  # deleted here and everywhere it was sent


# What the reporter is told (marked words). The words are stored with the report, in
# English; ``said_outcome`` finds the marked words again, so pages say them in the
# reader's language.
OUTCOME_WORDS: dict[Action, str] = {
    Action.DISMISS: N_("A coordinator looked at your report and decided to take no action."),
    Action.HIDE_POST: N_("A coordinator hid the post you reported: only its author and the "
                         "coordinators can see it now."),
    Action.REMOVE_POST: N_("A coordinator removed the post you reported."),
    Action.LIMIT: N_("A coordinator limited the account you reported: what it posts from "
                     "now on is seen only by members of the group."),
    Action.SUSPEND: N_("A coordinator suspended the account you reported: it can no longer "
                       "log in, post or use apps."),
    Action.SUSPEND_REMOTE: N_("A coordinator blocked the account you reported: nothing it "
                              "sends reaches this group any more."),
    Action.BLOCK_DOMAIN: N_("A coordinator blocked the server of the account you reported "
                            "({domain}): nothing from there reaches this group any more."),
}
BLOCKED_SERVER = N_("A coordinator blocked the server of the account you reported: nothing "
                    "from there reaches this group any more.")
ADDED_WORDS = N_("{outcome} They added: {note}")


def outcome_words(action: Action, *, domain: str | None = None, note: str = "") -> str:
    """What the reporter is told, with the coordinator's own words if they added some."""
    if action is Action.BLOCK_DOMAIN:
        said = Message(OUTCOME_WORDS[action], {"domain": domain}) if domain else BLOCKED_SERVER
    else:
        said = OUTCOME_WORDS[action]
    return Message(ADDED_WORDS, {"outcome": said, "note": note}) if note else said


def said_outcome(stored: str) -> str:
    """Stored outcome words as the marked words they were made from (English words that
    are not found again stay as they are)."""
    known = (*OUTCOME_WORDS.values(), BLOCKED_SERVER)
    found = recognise(stored, (ADDED_WORDS,))
    if isinstance(found, Message):
        said = recognise(str(found.params["outcome"]), known)
        if not isinstance(said, Message) and said in known:
            said = Message(said, {})  # marked words inside other words
        return Message(ADDED_WORDS, {"outcome": said, "note": found.params["note"]})
    return recognise(stored, known)


def takedown_words(action: TakedownAction, reason: str) -> str:
    """What the author is told, on the post and in their notices."""
    if action is TakedownAction.HIDE:
        return N_("A coordinator hid your post: {reason}", reason=reason)
    return N_("A coordinator removed your post: {reason}", reason=reason)


@dataclass(frozen=True)
class ReportItem:
    object_uri: str
    status_id: int | None
    post_id: int | None


@dataclass(frozen=True)
class Report:
    id: int
    reporter_user_id: int | None
    reporter_domain: str | None  # a report from another server (Flag)
    target_actor_id: int
    category: Category
    comment: str
    rule_ids: tuple[str, ...]
    forward: bool
    forwarded_at: datetime | None
    state: ReportState
    action: Action | None
    outcome: str | None  # the words the reporter was given
    resolved_by_user_id: int | None
    created_at: datetime
    resolved_at: datetime | None
    items: tuple[ReportItem, ...] = field(default_factory=tuple)

    @property
    def is_open(self) -> bool:
        return self.state is ReportState.OPEN


@dataclass(frozen=True)
class Takedown:
    id: int
    object_uri: str
    post_id: int | None
    status_id: int | None
    author_user_id: int | None
    kind: str  # need | offer | note
    posted_at: datetime | None
    action: TakedownAction
    reason: str
    created_at: datetime

    @property
    def words(self) -> str:
        return takedown_words(self.action, self.reason)
