"""Offers and needs on the wire: what each change sends, and to whom (written in the
caller's transaction, like every other federation side effect).

- A member's post: ``Create(Note)`` from the member to the member's followers and to the
  servers of the group's followers; the group then shares it in both forms peers need:
  ``Announce(Create(Note))`` (FEP-1b12) and ``Announce(Note)`` (what Mastodon shows).
- An anonymous or proxy post: ``Create(Note)`` from the group itself.
- Edits and closing: ``Update(Note)`` to the same audience. Deletion (retention, or
  narrowing to members-only): ``Delete`` to every inbox that received anything about it.
- Members-only posts and posts held for approval never leave the instance.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from fediaid.domain.posts import Post
from fediaid.storage.responses import Conversation, Message, Response

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from fediaid.domain.actors import Actor
    from fediaid.services.runtime import Runtime

log = logging.getLogger(__name__)


class PostFederation:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    async def created(self, conn: AsyncConnection, post: Post) -> None:
        log.debug("post %s created (federation pending the wire format)", post.uri)

    async def updated(self, conn: AsyncConnection, post: Post, *, previous: Post) -> None:
        log.debug("post %s updated", post.uri)

    async def deleted(self, conn: AsyncConnection, post: Post) -> None:
        log.debug("post %s deleted", post.uri)

    async def responded(self, conn: AsyncConnection, post: Post, response: Response,
                        responder: Actor) -> None:
        log.debug("response %s to %s", response.uri, post.uri)

    async def answered(self, conn: AsyncConnection, post: Post, response: Response, *,
                       accepted: bool) -> None:
        log.debug("response %s %s", response.uri, "accepted" if accepted else "declined")

    async def message_sent(self, conn: AsyncConnection, post: Post, conv: Conversation,
                           message: Message) -> None:
        log.debug("message %s in conversation %s", message.uri, conv.id)
