"""The group's audit log: ``record`` is called by every coordinator action, in the action's
own transaction (so an action that fails or rolls back leaves no entry, and one that is
committed always has its entry); ``AuditService`` lets members read it.

``by`` is the coordinator who acted, or None for the server operator on the command line.
Summaries are what every member reads: callers write them from ids, names of accounts and
servers, and plain words, never from intake records, contact details, passwords, tokens,
login links, report comments or who reported. As a last guard, ``record`` blanks anything
in a summary that looks like an e-mail address, a phone number or a link with a secret.
"""

from __future__ import annotations

import json
import re
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from fediaid.domain.audit import (
    DETAIL_MAX,
    SUMMARY_MAX,
    AuditAction,
    AuditEntry,
    actor_label,
    clip,
)
from fediaid.domain.roles import Permission
from fediaid.domain.users import User
from fediaid.errors import Forbidden, Unauthenticated
from fediaid.i18n import N_, Listed, Message, to_json
from fediaid.services.core import Core, Service
from fediaid.storage import audit as repo

PAGE = 50
_EMAIL = re.compile(r"(?<![@\w.+-])[\w.+-]+@[\w-]+(\.[\w-]+)+")  # not @name@server
_PHONE = re.compile(r"\+?\d[\d ()-]{5,}\d")
_LINK = re.compile(r"\S*/(login|oauth|authorize|token)\S*", re.IGNORECASE)
PRIVATE = "[private]"


def redact(text: str) -> str:
    """Blank what looks like contact details or a secret link."""
    text = _LINK.sub(PRIVATE, text)
    text = _EMAIL.sub(PRIVATE, text)
    return _PHONE.sub(lambda m: PRIVATE if sum(c.isdigit() for c in m.group(0)) >= 7
                      else m.group(0), text)


def redact_words(words: Any) -> Any:
    """``redact`` inside marked words: each value (the words around them are ours)."""
    if isinstance(words, Message):
        return Message(words.msgid, {k: redact_words(v) for k, v in words.params.items()})
    if isinstance(words, Listed):
        return Listed([redact_words(item) for item in words], words.sep)
    return redact(words) if isinstance(words, str) else words


async def record(conn: AsyncConnection, by: User | None, action: AuditAction, *,
                 target_kind: str, target_id: object = None, summary: str,
                 detail: str | None = None) -> int:
    """Append one entry in ``conn``'s transaction. ``summary`` continues a sentence that
    starts with who acted: "opened the intake record of need #12"; marked words (``N_``)
    are kept as such too, so the log reads in each reader's language."""
    words = redact_words(summary) if isinstance(summary, Message) else None
    return await repo.append(
        conn, actor_user_id=by.id if by else None,
        actor_label=actor_label(by.role if by else None, by.username if by else None),
        action=action.value, target_kind=target_kind,
        target_id=None if target_id is None else str(target_id),
        summary=clip(redact(str(summary)), SUMMARY_MAX),
        detail=clip(detail, DETAIL_MAX) if detail else None,
        summary_words=json.dumps(to_json(words), ensure_ascii=False)
        if words is not None else None)


class AuditService(Service):
    def __init__(self, core: Core) -> None:
        super().__init__(core)

    async def page(self, user: User | None, *, before_id: int | None = None,
                   limit: int = PAGE) -> list[AuditEntry]:
        """Members read the log, newest first; only coordinators see the private details."""
        if user is None:
            raise Unauthenticated(N_("Please log in to read the group's log."))
        if not user.may(Permission.READ_AUDIT):
            raise Forbidden(N_("Only members of the group can read its log."))
        limit = max(1, min(limit, 100))
        async with self.db.read() as conn:
            return await repo.page(conn, before_id=before_id, limit=limit,
                                   with_detail=user.is_coordinator)
