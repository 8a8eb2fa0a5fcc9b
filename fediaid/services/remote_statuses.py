"""Statuses arriving from other servers: Notes (and Articles, Pages, Questions), boosts,
likes, their undoing and deletion. Called by inbox processing, in its transaction."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fediaid.domain.actors import Actor
from fediaid.domain.statuses import Level
from fediaid.services.core import Core, Service
from fediaid.storage import actors as actors_repo
from fediaid.storage import notifications as notifications_repo
from fediaid.storage import statuses as repo
from fediaid.storage import stream as stream_repo
from fediaid.storage.actors import AuthorRef
from fediaid.storage.types import utcnow

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from fediaid.federation.inbound import RemoteNote
    from fediaid.services.media import MediaService


class RemoteStatuses(Service):
    def __init__(self, core: Core, *, media: MediaService) -> None:
        super().__init__(core)
        self.media = media

    # -- arriving from other servers (called by inbox processing, in its transaction) --------
    async def on_remote_object(self, conn: AsyncConnection, actor: Actor,
                               note: RemoteNote) -> int | None:
        """A note (Note, Question, Article, Page ...; ``federation/inbound.parse_remote_note``)
        by ``actor`` becomes a status, or, known already, is edited if its content or
        content warning changed. Offers and needs that became posts already have theirs."""
        existing = await repo.find_by_uri(conn, note.uri)
        if existing is not None:
            # Only a real change is an edit (a re-delivered Create or Update is not).
            changed = (note.content_html != existing.content
                       or note.summary[:repo.SPOILER_TEXT_MAX] != existing.spoiler_text)
            if existing.post_id is None and existing.account_id == actor.id and changed:
                await repo.update_content(
                    conn, existing.id, content=note.content_html, text=None,
                    spoiler_text=note.summary, sensitive=note.sensitive, edited_at=utcnow())
                # For every process's streams (services/streaming.py), in this transaction.
                await stream_repo.record(conn, [("update", existing.id)])
                self.signals.stream_changed()
            return existing.id
        level, listed = note.level(actor.followers_url)
        recipients: list[Actor] = []
        for a_uri in note.addressed[:100]:
            if self.urls.is_local(a_uri):
                local = await actors_repo.find_by_uri(conn, a_uri)
                if local is not None:
                    recipients.append(local)
        parent = (await repo.find_by_uri(conn, note.in_reply_to)
                  if note.in_reply_to else None)
        # A reply joins its parent's thread (for a reply to an offer or need: the post's
        # URI, which is how answers and private threads are found and deleted with it).
        conversation = ((parent.conversation or parent.uri) if parent else None) or (
            note.conversation or note.uri)
        now = utcnow()
        sid = await repo.insert(
            conn, uri=note.uri, account_id=actor.id, level=level, listed=listed, local=False,
            content=note.content_html, created_at=min(note.published or now, now),
            in_reply_to_id=parent.id if parent else None, in_reply_to_uri=note.in_reply_to,
            in_reply_to_account_id=parent.account_id if parent else None,
            conversation=conversation, spoiler_text=note.summary, sensitive=note.sensitive,
            language=note.language, url=note.url, recipient_ids=[a.id for a in recipients],
            tags=note.hashtags)
        # (add_plain_notes below writes the same row for many notes at once: keep them alike)
        if sid is None:
            return None
        if note.attachments:
            await self.media.add_remote(conn, account_id=actor.id, status_id=sid,
                                        attachments=note.attachments)
        notified: set[int] = set()
        for local in recipients:
            await notifications_repo.add_for_actor(conn, actor_id=local.id, type_="mention",
                                                   from_actor_id=actor.id, status_id=sid)
            notified.add(local.id)
        if parent is not None and parent.local and parent.account_id not in notified:
            await notifications_repo.add_for_actor(conn, actor_id=parent.account_id,
                                                   type_="mention", from_actor_id=actor.id,
                                                   status_id=sid)
        self.signals.stream_changed()
        return sid

    def is_plain(self, note: RemoteNote) -> bool:
        """Whether ``on_remote_object`` would do no more for this note, when it is new, than
        write its status row and tags: not a reply, no local account addressed (no
        recipients, no mention), no attachments, no poll. Such notes may be stored many at a time
        with ``add_plain_notes``."""
        return (note.in_reply_to is None and not note.attachments and note.poll is None
                and not any(self.urls.is_local(a) for a in note.addressed[:100]))

    async def add_plain_notes(self, conn: AsyncConnection,
                              notes: list[tuple[AuthorRef, RemoteNote]]) -> dict[str, int]:
        """``on_remote_object`` for many new plain notes (``is_plain``; no URI twice) in two
        statements. Returns the status ids of those inserted, by URI; a note whose URI has
        a status already is left out (the caller gives it to ``on_remote_object``, which
        decides whether it is an edit)."""
        now = utcnow()
        rows = []
        for actor, note in notes:
            level, listed = note.level(actor.followers_url)
            rows.append(repo.row(
                uri=note.uri, account_id=actor.id, level=level, listed=listed, local=False,
                content=note.content_html, created_at=min(note.published or now, now),
                in_reply_to_uri=note.in_reply_to, conversation=note.conversation or note.uri,
                spoiler_text=note.summary, sensitive=note.sensitive, language=note.language,
                url=note.url))
        ids = await repo.insert_many(conn, rows, {note.uri: note.hashtags for _, note in notes})
        if ids:
            self.signals.stream_changed()
        return ids

    async def on_remote_announce(self, conn: AsyncConnection, actor: Actor, activity_uri: str,
                                 object_uri: str) -> None:
        target = await repo.find_by_uri(conn, object_uri)
        if target is None or target.reblog_of_id is not None or target.level is not Level.PUBLIC:
            return  # only public statuses can be boosted (by anyone, from anywhere)
        if await repo.reblog_of(conn, actor.id, target.id) is not None:
            return  # the same boost in its other form (FEP-1b12 and Mastodon's)
        sid = await repo.insert(conn, uri=activity_uri, account_id=actor.id,
                                level=Level.PUBLIC, listed=True, local=False, content="",
                                reblog_of_id=target.id)
        if sid is not None:
            await notifications_repo.add_for_actor(conn, actor_id=target.account_id,
                                                   type_="reblog", from_actor_id=actor.id,
                                                   status_id=target.id)
            self.signals.stream_changed()

    async def on_remote_like(self, conn: AsyncConnection, actor: Actor, activity_uri: str,
                             object_uri: str) -> None:
        target = await repo.find_by_uri(conn, object_uri)
        if target is None or target.reblog_of_id is not None or not target.local:
            return
        if target.level is not Level.PUBLIC and actor.uri not in target.recipients:
            return  # a Like of something the sender was never shown
        if await repo.add_favourite(conn, actor_id=actor.id, status_id=target.id,
                                    uri=activity_uri):
            await notifications_repo.add_for_actor(conn, actor_id=target.account_id,
                                                   type_="favourite", from_actor_id=actor.id,
                                                   status_id=target.id)

    async def on_remote_undo(self, conn: AsyncConnection, actor: Actor, inner_uri: str) -> None:
        """Undo of a Like or Announce by ``actor`` (only its own)."""
        await repo.remove_favourite_by_uri(conn, inner_uri, actor_id=actor.id)
        existing = await repo.find_by_uri(conn, inner_uri)
        if existing is not None and existing.account_id == actor.id and (
                existing.reblog_of_id is not None):
            await repo.delete_status(conn, existing.id)
            self.signals.status_deleted(existing.id)

    async def on_remote_delete(self, conn: AsyncConnection, actor: Actor, uri: str) -> None:
        existing = await repo.find_by_uri(conn, uri)
        if existing is not None and existing.account_id == actor.id and not existing.local:
            await repo.delete_status(conn, existing.id)
            self.signals.status_deleted(existing.id)

