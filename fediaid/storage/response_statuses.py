"""Direct statuses that stand for answers to offers and needs (and for the author's
acceptance or refusal), so Mastodon apps show them as mentions and conversations.

Who really wrote an anonymous or proxy post must stay private: such a status names only the
post's public author (the group), and reaches the real creator as a *hidden* recipient
(``status_recipients.mention`` false). Hidden recipients may see the status
(``can_view_status`` reads every recipient) but are never listed as mentioned or as
participants.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from fediaid.domain.statuses import Level
from fediaid.storage import statuses as statuses_repo
from fediaid.storage.dialect import insert_ignore
from fediaid.storage.tables import status_recipients, statuses


async def insert_direct(conn: AsyncConnection, *, uri: str, account_id: int,
                        user_id: int | None, local: bool, content: str, text: str,
                        conversation: str, in_reply_to_id: int | None,
                        in_reply_to_uri: str | None, in_reply_to_account_id: int | None,
                        named_ids: Iterable[int], hidden_ids: Iterable[int] = ()
                        ) -> int | None:
    """Insert the status; None when one with this URI exists already."""
    named = list(dict.fromkeys(named_ids))
    sid = await statuses_repo.insert(
        conn, uri=uri, account_id=account_id, user_id=user_id, level=Level.DIRECT,
        listed=False, local=local, content=content, text=text, conversation=conversation,
        in_reply_to_id=in_reply_to_id, in_reply_to_uri=in_reply_to_uri,
        in_reply_to_account_id=in_reply_to_account_id, recipient_ids=named)
    if sid is None:
        return None
    hidden = [a for a in dict.fromkeys(hidden_ids) if a not in named and a != account_id]
    if hidden:
        await conn.execute(status_recipients.insert(),
                           [{"status_id": sid, "actor_id": a, "mention": False}
                            for a in hidden])
    return sid


async def add_hidden(conn: AsyncConnection, status_id: int, actor_ids: Iterable[int]) -> None:
    """Let these actors see an existing status without naming them in it."""
    rows = [{"status_id": status_id, "actor_id": a, "mention": False}
            for a in dict.fromkeys(actor_ids)]
    if rows:
        await conn.execute(insert_ignore(conn, status_recipients, ["status_id", "actor_id"]),
                           rows)


async def delete_for_post(conn: AsyncConnection, post_uri: str) -> list[int]:
    """Delete the direct statuses in a post's thread (answers, acceptances, direct replies):
    for when the post itself is deleted after its retention period. Returns their ids."""
    ids = [r[0] for r in await conn.execute(
        select(statuses.c.id).where(statuses.c.conversation == post_uri,
                                    statuses.c.visibility == Level.DIRECT.value,
                                    statuses.c.post_id.is_(None)))]
    if ids:
        await conn.execute(delete(statuses).where(statuses.c.id.in_(ids)))
    return ids
