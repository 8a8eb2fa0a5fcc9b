"""The group's audit log: what coordinators did, for every member to read. Pure: no I/O.

Each entry is written in the same transaction as the action (``fediaid/services/audit.py``).
Its ``summary`` is read by every member, so it never holds intake details, e-mail addresses
or phone numbers, passwords, tokens or login links, report comments or who reported;
``detail`` (for coordinators only) may hold a private reason, never those either.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from datetime import datetime

from fediaid.domain.actors import Role
from fediaid.domain.roles import ROLE_WORDS
from fediaid.i18n import N_, Message, from_json, recognise

OPERATOR = N_("the server operator (command line)")
# How the log names who acted: a role's words and a name ("coordinator ana").
ACTOR_WORDS = N_("{role} {name}")
SUMMARY_MAX = 1024
DETAIL_MAX = 2000


class AuditAction(enum.StrEnum):
    POST_APPROVED = "post_approved"  # a held post from outside the group
    POST_TURNED_AWAY = "post_turned_away"
    FOLLOW_ACCEPTED = "follow_accepted"
    FOLLOW_DECLINED = "follow_declined"
    FOLLOW_APPROVAL = "follow_approval"  # whether follows of the group wait
    POST_HIDDEN = "post_hidden"
    POST_REMOVED = "post_removed"
    REPORT_DISMISSED = "report_dismissed"
    ACCOUNT_LIMITED = "account_limited"
    ACCOUNT_SUSPENDED = "account_suspended"
    REMOTE_SUSPENDED = "remote_suspended"
    ROLE_PROPOSED = "role_proposed"
    ROLE_CHANGED = "role_changed"
    ROLE_REJECTED = "role_rejected"
    DOMAIN_RULE = "domain_rule"  # block, unblock, silence, allow ...
    ALLOW_LIST_MODE = "allow_list_mode"
    INTAKE_OPENED = "intake_opened"  # a sensitive read
    INTAKE_RECORDED = "intake_recorded"
    TEXT_SENT = "text_sent"  # a coordinator texted a neighbor (never the number or the text)
    NEIGHBOR_TOLD = "neighbor_told"  # called back about the answers to their need (hotline)
    LOGIN_LINK = "login_link"  # resetting a login
    TWO_FACTOR_RESET = "two_factor_reset"  # a lost second factor, removed by the operator
    SETTING_CHANGED = "setting_changed"
    ACCOUNT_CREATED = "account_created"
    ACCOUNT_DELETED = "account_deleted"  # by the operator or a coordinator (member_data)
    DATA_EXPORTED = "data_exported"  # a member's data, exported on their behalf
    POSTS_EXPORTED = "posts_exported"  # the group's posts as CSV (no private fields)
    INVITED = "invited"  # an invitation link made
    INVITATION_REVOKED = "invitation_revoked"
    JOINED = "joined_by_invitation"  # by the new member
    JOIN_APPROVED = "join_request_approved"
    JOIN_DECLINED = "join_request_declined"
    LINK_PROPOSED = "link_proposed"  # links with other groups (services/links.py)
    LINK_ACCEPTED = "link_accepted"
    LINK_PAUSED = "link_paused"
    LINK_RESUMED = "link_resumed"
    LINK_ENDED = "link_ended"
    ALERT_SHARED = "alert_shared"  # account alerts over links (services/alerts.py)
    ALERT_RETRACTED = "alert_retracted"
    ALERT_APPLIED = "alert_applied"
    ALERT_DISMISSED = "alert_dismissed"
    SUSPENSION_LIFTED = "suspension_lifted"


def actor_label(role: Role | None, username: str | None) -> str:
    """How the log names who acted: "coordinator ana", "admin sam", or the operator."""
    if role is None or username is None:
        return OPERATOR
    return str(Message(ACTOR_WORDS, {"role": ROLE_WORDS[role], "name": username}))


def clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class AuditEntry:
    id: int
    created_at: datetime
    actor_user_id: int | None
    actor_label: str
    action: AuditAction | str  # an action this version does not know stays readable
    target_kind: str
    target_id: str | None
    summary: str
    detail: str | None  # None for readers who are not coordinators
    summary_words: str | None = None  # the summary as marked words (JSON), when kept

    @property
    def sentence(self) -> str:
        """The entry in plain words: "Coordinator ana opened the intake record of need #12"."""
        label = self.actor_label
        return f"{label[:1].upper()}{label[1:]} {self.summary}"

    def who(self) -> str:
        """Who acted, as marked words (a reader's language names the role)."""
        if self.actor_label == OPERATOR:
            return OPERATOR
        found = recognise(self.actor_label, [ACTOR_WORDS])
        if isinstance(found, Message):
            role = str(found.params["role"])
            words = {str(w): w for w in ROLE_WORDS.values()}
            if role in words:
                return Message(ACTOR_WORDS, {"role": Message(words[role], {}),
                                             "name": found.params["name"]})
        return self.actor_label

    def what(self) -> str:
        """What was done, as marked words when they were kept, else as written."""
        if self.summary_words:
            try:
                said = from_json(json.loads(self.summary_words))
            except ValueError:
                return self.summary
            if isinstance(said, str):
                return said
        return self.summary
