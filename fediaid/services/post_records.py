"""An offer or need and the rows that stand for it elsewhere, kept in step in the caller's
transaction: its status (how the client API shows it) and, on removal, the direct statuses
of its thread. Each repository writes its own table only; this is where they meet."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from fediaid.storage import posts as posts_repo
from fediaid.storage import response_statuses
from fediaid.storage import statuses as statuses_repo


async def insert_post(conn: AsyncConnection, values: dict[str, Any], recipients: Sequence[str]
                      ) -> int:
    """A new post and its status. The creator of an anonymous or proxy post is never copied
    to the status: its user_id stays empty."""
    post_id, created_at = await posts_repo.insert(conn, values, recipients)
    await statuses_repo.insert_for_post(conn, post_id=post_id, uri=values["uri"],
                                        account_id=values["author_actor_id"],
                                        visibility=values["visibility"],
                                        local=values["local"], created_at=created_at,
                                        tags=(values["kind"], values["category"]))
    return post_id


async def update_post(conn: AsyncConnection, post_id: int, values: dict[str, Any]) -> None:
    await posts_repo.update_fields(conn, post_id, values)
    if "visibility" in values:
        await statuses_repo.set_post_visibility(conn, post_id, str(values["visibility"]))


async def remove_post(conn: AsyncConnection, post_id: int) -> None:
    """The post and everything private attached (cascade: answers, conversations, messages,
    intake record, recipients, its status), and the direct statuses of its thread (answers
    as the client API shows them)."""
    uri = await posts_repo.uri_of(conn, post_id)
    if uri is not None:
        await response_statuses.delete_for_post(conn, uri)
    await posts_repo.remove(conn, post_id)
