"""Statuses arriving from other servers: Notes (and Articles, Pages, Questions), boosts,
likes, their undoing and deletion. Called by inbox processing, in its transaction."""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from activitypub.vocab import id_of, ids_of, is_public
from fediaid.domain.actors import Actor
from fediaid.domain.statuses import Level
from fediaid.federation import proposals
from fediaid.federation.proposals_parse import parse_datetime
from fediaid.services.core import Core, Service
from fediaid.storage import actors as actors_repo
from fediaid.storage import notifications as notifications_repo
from fediaid.storage import statuses as repo
from fediaid.storage.types import utcnow

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from fediaid.services.media import MediaService


class RemoteStatuses(Service):
    def __init__(self, core: Core, *, media: MediaService) -> None:
        super().__init__(core)
        self.media = media

    # -- arriving from other servers (called by inbox processing, in its transaction) --------
    async def on_remote_object(self, conn: AsyncConnection, actor: Actor,
                               obj: dict[str, Any]) -> int | None:
        """A Note (or Article, Page, Question) from ``actor`` becomes a status. Offers and
        needs that became posts already have theirs."""
        uri = id_of(obj)
        if not uri:
            return None
        existing = await repo.find_by_uri(conn, uri)
        if existing is not None:
            content = proposals.sanitize_html(str(obj.get("content") or ""))
            changed = (content != existing.content
                       or str(obj.get("summary") or "") != existing.spoiler_text)
            if existing.post_id is None and existing.account_id == actor.id and changed:
                # Only a real change is an edit (a re-delivered Create is not).
                await repo.update_content(
                    conn, existing.id, content=content, text=None,
                    spoiler_text=str(obj.get("summary") or ""),
                    sensitive=bool(obj.get("sensitive")), edited_at=utcnow())
            return existing.id
        to = ids_of(obj.get("to"))
        cc = ids_of(obj.get("cc"))
        if any(is_public(a) for a in to):
            level, listed = Level.PUBLIC, True
        elif any(is_public(a) for a in cc):
            level, listed = Level.PUBLIC, False
        elif actor.followers_url and actor.followers_url in (to + cc):
            level, listed = Level.FOLLOWERS, True
        else:
            level, listed = Level.DIRECT, True
        addressed = set(to + cc) | set(proposals.mentions(obj))
        recipients: list[Actor] = []
        for a_uri in list(addressed)[:100]:
            if self.urls.is_local(a_uri):
                local = await actors_repo.find_by_uri(conn, a_uri)
                if local is not None:
                    recipients.append(local)
        parent_uri = id_of(obj.get("inReplyTo"))
        parent = await repo.find_by_uri(conn, parent_uri) if parent_uri else None
        # A reply joins its parent's thread (for a reply to an offer or need: the post's
        # URI, which is how answers and private threads are found and deleted with it).
        conversation = ((parent.conversation or parent.uri) if parent else None) or (
            id_of(obj.get("context")) or id_of(obj.get("conversation")) or uri)
        published = parse_datetime(obj.get("published"))
        content = proposals.sanitize_html(str(obj.get("content") or ""))
        name = obj.get("name")
        if not content and isinstance(name, str):
            content = "<p>" + html.escape(name[:500]) + "</p>"
        url = obj.get("url")
        url_str = url if isinstance(url, str) else id_of(url) if isinstance(url, dict) else None
        sid = await repo.insert(
            conn, uri=uri, account_id=actor.id, level=level, listed=listed, local=False,
            content=content, created_at=min(published or utcnow(), utcnow()),
            in_reply_to_id=parent.id if parent else None, in_reply_to_uri=parent_uri,
            in_reply_to_account_id=parent.account_id if parent else None,
            conversation=conversation, spoiler_text=str(obj.get("summary") or ""),
            sensitive=bool(obj.get("sensitive")),
            language=_language(obj), url=url_str if url_str and url_str.startswith("http")
            else None, recipient_ids=[a.id for a in recipients],
            tags=proposals.hashtags(obj))
        if sid is None:
            return None
        attachments = obj.get("attachment")
        if isinstance(attachments, dict):
            attachments = [attachments]
        if isinstance(attachments, list) and attachments:
            await self.media.add_remote(conn, account_id=actor.id, status_id=sid,
                                           attachments=[a for a in attachments[:4]
                                                        if isinstance(a, dict)])
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


def _language(obj: Mapping[str, Any]) -> str | None:
    cmap = obj.get("contentMap")
    if isinstance(cmap, dict) and cmap:
        key = next(iter(cmap))
        if isinstance(key, str) and re.fullmatch(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})?", key):
            return key
    return None
