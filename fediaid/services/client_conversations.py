"""Direct-message threads as Mastodon's conversations (``/api/v1/conversations``).

A thread is the direct statuses (not offers or needs) sharing ``statuses.conversation``
that the account wrote or received, answers to offers and needs included (their thread is
the post's URI). Its id in the API is the id of its oldest status; the list is ordered and
paged by its newest status, as Mastodon does. Read and removed marks are per account
(``conversation_marks``): removing hides the thread for this account only, until a newer
status arrives. Participants are authors and people addressed by name, never the hidden
recipients that stand for the real creator of an anonymous post.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from fediaid.domain.paging import Page
from fediaid.errors import NotFound
from fediaid.services.core import Core, Service
from fediaid.storage import blocks as blocks_repo
from fediaid.storage import client_misc as repo

if TYPE_CHECKING:
    from fediaid.domain.users import User


@dataclass(frozen=True)
class ClientConversation:
    id: int
    unread: bool
    account_ids: list[int]  # the other participants
    last_status_id: int


class ClientConversations(Service):
    def __init__(self, core: Core) -> None:
        super().__init__(core)

    async def page(self, user: User, page: Page) -> list[ClientConversation]:
        async with self.db.read() as conn:
            threads = await repo.threads(conn, user_id=user.id, actor_id=user.actor_id,
                                         page=page)
            people = await repo.participants(conn, user.actor_id, [t.key for t in threads])
            relations = await blocks_repo.relations(conn, user.actor_id)
        # Threads with someone in a block with this account are left out (services/blocks).
        blocked = set(relations.blocking) | set(relations.blocked_by)
        return [ClientConversation(t.first_id, t.unread, people.get(t.key, []), t.last_id)
                for t in threads if not blocked.intersection(people.get(t.key, []))]

    async def _thread(self, user: User, conversation_id: int) -> repo.Thread:
        async with self.db.read() as conn:
            thread = await repo.thread_by_id(conn, user_id=user.id, actor_id=user.actor_id,
                                             first_id=conversation_id)
        if thread is None:
            raise NotFound("Record not found")
        return thread

    async def read(self, user: User, conversation_id: int) -> ClientConversation:
        """Mark the thread read up to its newest status."""
        thread = await self._thread(user, conversation_id)
        async with self.db.write() as conn:
            await repo.mark_thread(conn, user_id=user.id, thread=thread)
            people = await repo.participants(conn, user.actor_id, [thread.key])
        return ClientConversation(thread.first_id, False, people.get(thread.key, []),
                                  thread.last_id)

    async def remove(self, user: User, conversation_id: int) -> None:
        """Hide the thread from this account's list (a newer status shows it again)."""
        thread = await self._thread(user, conversation_id)
        async with self.db.write() as conn:
            await repo.mark_thread(conn, user_id=user.id, thread=thread, hidden=True)
