"""Plain posts by the group (announcements). Offers and needs build on the same path."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from fediaid.errors import Invalid, NotFound
from fediaid.federation import render
from fediaid.services.core import Core, Service
from fediaid.services.outbox import follower_inboxes
from fediaid.services.retention import forget_object
from fediaid.storage import objects as objects_repo
from fediaid.storage.types import utcnow

if TYPE_CHECKING:
    from fediaid.services.outbox import Outbox

MAX_CHARS = 5000


def text_to_html(text: str) -> str:
    paragraphs = [p.strip() for p in text.replace("\r\n", "\n").split("\n\n") if p.strip()]
    return "".join(
        "<p>" + "<br>".join(html.escape(line) for line in p.split("\n")) + "</p>"
        for p in paragraphs
    )


class NoteService(Service):
    def __init__(self, core: Core, *, outbox: Outbox) -> None:
        super().__init__(core)
        self.outbox = outbox

    async def post_as_group(self, text: str, *, public: bool = True) -> str:
        """The group publishes a note to its followers; returns the note's URI."""
        text = text.strip()
        if not text:
            raise Invalid("Write something first.", field="text")
        if len(text) > MAX_CHARS:
            raise Invalid(f"Keep it under {MAX_CHARS} characters.", field="text")
        group = self.identity.group
        now = utcnow()
        uri = self.urls.new_object()
        obj = render.note(uri=uri, actor=group, content=text_to_html(text), published=now,
                          public=public)
        activity = render.create(self.urls.new_activity(), group, obj)
        async with self.db.write() as conn:
            await objects_repo.upsert(
                conn, uri=uri, type_="Note", actor_id=group.id, attributed_to=group.uri,
                in_reply_to=None, audience=None, public=public, local=True,
                content=obj["content"], payload=obj, published=now,
            )
            inboxes = await follower_inboxes(conn, group)
            await self.outbox.enqueue(conn, actor=group, activity=activity, inboxes=inboxes,
                          object_uri=uri, public=public)
        return uri

    async def recent_group_notes(self, limit: int = 20) -> list[dict[str, object]]:
        """The group's public notes, newest first (for the home page)."""
        async with self.db.read() as conn:
            return await objects_repo.recent_public_by(conn, self.identity.group.id,
                                                      limit=limit)

    async def delete_group_note(self, uri: str) -> None:
        group = self.identity.group
        async with self.db.write() as conn:
            obj = await objects_repo.find_by_uri(conn, uri)
            if obj is None or not obj.local or obj.actor_id != group.id:
                raise NotFound("No such post by the group.")
            await forget_object(conn, uri)  # its Create and deliveries not yet sent
            await objects_repo.delete_by_uri(conn, uri)
            inboxes = await follower_inboxes(conn, group)
            await self.outbox.enqueue(conn, actor=group,
                          activity=render.delete(self.urls.new_activity(), group, uri,
                                                 public=obj.public),
                          inboxes=inboxes, object_uri=None, public=obj.public)
