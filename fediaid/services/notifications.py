"""Notifications for local accounts (Mastodon's v1 list and 4.3's grouped v2), and answers
to offers and needs surfaced as mentions.

Visibility: a notification about a status is shown only while its reader may see the status
(``rt.status_reading.visible``, which asks ``can_view_status``); otherwise it is skipped, not
deleted (it comes back if the status becomes visible again).

Grouping (Mastodon 4.3, docs.joinmastodon.org/methods/grouped_notifications): favourites
and boosts of the same status form one group (``favourite-<status id>``,
``reblog-<status id>``), follows one group per UTC day (``follow-<days since 1970>``);
everything else is ``ungrouped-<notification id>``. Mastodon also buckets favourites by
time; we do not: a status's favourites are one group for as long as they exist. Group keys
are computed, not stored.

Answers as mentions: when someone answers a post ("I can help" / "I'd like this"), from our
pages, the JSON API or another server, ``responded`` records a direct status from them to
the post's author, in reply to the post's status and in the thread of the post's URI, and a
``mention`` notification for the local account that really created the post. For anonymous
and proxy posts the status names only the group (the post's public author); the creator is a
hidden recipient (storage/response_statuses.py), so nobody else learns who asked.
``answered`` does the same for the author's acceptance or refusal, notifying the person who
answered when they are local. Both run in the caller's transaction.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from fediaid.domain.email import Kind as EmailKind
from fediaid.domain.ids import parse_id
from fediaid.domain.paging import Page
from fediaid.domain.posts import Kind, Post
from fediaid.errors import NotFound, Unprocessable
from fediaid.services.core import Core, Service
from fediaid.storage import actors as actors_repo
from fediaid.storage import notifications as repo
from fediaid.storage import response_statuses
from fediaid.storage import responses as responses_repo
from fediaid.storage import statuses as statuses_repo
from fediaid.storage import users as users_repo
from fediaid.storage.client_misc import Marker, markers_of, set_marker
from fediaid.storage.notifications import NotificationRow
from fediaid.storage.responses import Conversation, Message, Response

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from fediaid.domain.actors import Actor
    from fediaid.domain.users import User
    from fediaid.domain.visibility import Viewer
    from fediaid.services.email import EmailService
    from fediaid.services.federation_policy import FederationPolicy
    from fediaid.services.status_reading import StatusReading

__all__ = ["GROUPABLE", "Filters", "Group", "Marker", "NotificationRow",
           "NotificationService", "group_key"]

#: What Mastodon 4.3 groups by default (``grouped_types``).
GROUPABLE = ("favourite", "reblog", "follow")
SAMPLE_ACCOUNTS = 8
MARKER_TIMELINES = ("home", "notifications")
ROUNDS = 10  # at most this many reads to fill a page past notifications one may not see
DAY = 86400
LAST_DAY = (datetime(9999, 12, 30, tzinfo=UTC) - datetime(1970, 1, 1, tzinfo=UTC)).days

#: Mastodon 4.3's notification policy, with the only value we apply: we never filter.
POLICY_KEYS = ("for_not_following", "for_not_followers", "for_new_accounts",
               "for_private_mentions", "for_limited_accounts")


def group_key(n: NotificationRow, grouped_types: Sequence[str] = GROUPABLE) -> str:
    if n.type in grouped_types:
        if n.type in ("favourite", "reblog") and n.status_id is not None:
            return f"{n.type}-{n.status_id}"
        if n.type == "follow":
            return f"follow-{int(n.created_at.timestamp()) // DAY}"
    return f"ungrouped-{n.id}"


@dataclass(frozen=True)
class Group:
    key: str
    type: str
    notifications: tuple[NotificationRow, ...]  # newest first, those counted
    page_min_id: int
    page_max_id: int

    @property
    def latest(self) -> NotificationRow:
        return self.notifications[0]

    @property
    def status_id(self) -> int | None:
        return self.latest.status_id

    @property
    def sample_account_ids(self) -> list[int]:
        return list(dict.fromkeys(n.from_actor_id for n in self.notifications)
                    )[:SAMPLE_ACCOUNTS]


@dataclass(frozen=True)
class Filters:
    types: tuple[str, ...] | None = None
    exclude_types: tuple[str, ...] = ()
    account_id: int | None = None


class NotificationService(Service):
    def __init__(self, core: Core, *,
                 federation_policy: FederationPolicy, status_reading: StatusReading,
                 email: EmailService) -> None:
        super().__init__(core)
        self.federation_policy = federation_policy
        self.status_reading = status_reading
        self.email = email

    # -- reading ------------------------------------------------------------------------
    async def actors(self, ids: Sequence[int]) -> list[Actor]:
        """The accounts behind notifications (missing ones are skipped)."""
        out = []
        async with self.db.read() as conn:
            for actor_id in dict.fromkeys(ids):
                actor = await actors_repo.find_by_id(conn, actor_id)
                if actor is not None:
                    out.append(actor)
        return out

    async def _visible(self, viewer: Viewer, rows: Sequence[NotificationRow]
                       ) -> list[NotificationRow]:
        rows = await self._not_silenced(viewer, rows)
        if rows and (viewer.blocking or viewer.blocked_by or viewer.muting_notifications
                     or viewer.domain_blocking):
            # Blocks and mutes with notifications (visibility.notification_shown).
            from fediaid.domain.visibility import notification_shown

            senders = {a.id: a.uri for a in await self.actors([n.from_actor_id for n in rows])}
            rows = [n for n in rows if notification_shown(viewer, senders.get(n.from_actor_id))]
        ids = list(dict.fromkeys(n.status_id for n in rows if n.status_id is not None))
        seen = {s.id for s in await self.status_reading.visible(viewer, ids)} if ids else set()
        return [n for n in rows if n.status_id is None or n.status_id in seen]

    async def _not_silenced(self, viewer: Viewer, rows: Sequence[NotificationRow]
                            ) -> list[NotificationRow]:
        """Notifications from accounts on silenced domains reach only members who follow
        them (the federation policy's ``may_show``; docs/architecture.md)."""
        if not rows or not self.federation_policy.rules.silenced:
            return list(rows)
        senders = {a.id: a.uri for a in await self.actors([n.from_actor_id for n in rows])}
        return [n for n in rows
                if (uri := senders.get(n.from_actor_id)) is None
                or not self.federation_policy.is_silenced(uri) or uri in viewer.following]

    async def _scan(self, user: User, viewer: Viewer, page: Page, f: Filters
                    ) -> list[NotificationRow]:
        """Visible notifications of one page (newest first), reading further when some of
        the candidates may not be shown."""
        out: list[NotificationRow] = []
        cursor = page
        for _ in range(ROUNDS):
            async with self.db.read() as conn:
                rows = await repo.page_of(conn, user.id, cursor, types=f.types,
                                          exclude_types=f.exclude_types,
                                          account_id=f.account_id)
            out += await self._visible(viewer, rows)
            if len(rows) < cursor.limit or len(out) >= page.limit:
                break
            cursor = (replace(cursor, min_id=rows[0].id) if page.min_id is not None
                      else replace(cursor, max_id=rows[-1].id))
        out.sort(key=lambda n: -n.id)
        return out[-page.limit:] if page.min_id is not None else out[:page.limit]

    async def page(self, user: User, page: Page, f: Filters = Filters()
                   ) -> list[NotificationRow]:
        viewer = await self.status_reading.viewer(user)
        return await self._scan(user, viewer, page, f)

    async def get(self, user: User, notification_id: int) -> NotificationRow:
        async with self.db.read() as conn:
            n = await repo.find(conn, user.id, notification_id)
        if n is None or not await self._visible(await self.status_reading.viewer(user), [n]):
            raise NotFound("Record not found")
        return n

    async def dismiss(self, user: User, notification_id: int) -> None:
        async with self.db.write() as conn:
            if not await repo.dismiss(conn, user.id, [notification_id]):
                raise NotFound("Record not found")

    async def clear(self, user: User) -> int:
        async with self.db.write() as conn:
            return await repo.clear(conn, user.id)

    async def _last_read(self, user: User) -> int:
        async with self.db.read() as conn:
            marker = (await markers_of(conn, user.id, ["notifications"])).get("notifications")
        try:
            return int(marker.last_read_id) if marker else 0
        except ValueError:
            return 0

    async def unread_count(self, user: User, *, limit: int, f: Filters = Filters(),
                           grouped_types: Sequence[str] | None = None) -> int:
        """Visible notifications newer than the notifications marker (at most ``limit``);
        with ``grouped_types``, the groups they form."""
        after = await self._last_read(user)
        viewer = await self.status_reading.viewer(user)
        async with self.db.read() as conn:
            rows = await repo.ids_after(conn, user.id, after, limit=limit, types=f.types,
                                        exclude_types=f.exclude_types,
                                        account_id=f.account_id)
        rows = await self._visible(viewer, rows)
        if grouped_types is None:
            return len(rows)
        return len({group_key(n, grouped_types) for n in rows})

    # -- grouped (v2) -------------------------------------------------------------------
    async def groups(self, user: User, page: Page, f: Filters = Filters(), *,
                     grouped_types: Sequence[str] = GROUPABLE) -> list[Group]:
        """``page.limit`` groups, newest first: each group appears once, represented by its
        newest notification in the page's range (as Mastodon 4.3 pages groups)."""
        viewer = await self.status_reading.viewer(user)
        reps: dict[str, NotificationRow] = {}
        cursor = replace(page, limit=min(page.limit * 2, 200))
        for _ in range(ROUNDS):
            rows = await self._scan(user, viewer, cursor, f)
            # oldest first when paging up from min_id, so the groups nearest min_id come first
            for n in (reversed(rows) if page.min_id is not None else rows):
                key = group_key(n, grouped_types)
                if key not in reps and len(reps) < page.limit:
                    reps[key] = n
            if len(rows) < cursor.limit or len(reps) >= page.limit:
                break
            cursor = (replace(cursor, min_id=rows[0].id) if page.min_id is not None
                      else replace(cursor, max_id=rows[-1].id))
        if not reps:
            return []
        low = min(n.id for n in reps.values())
        high = max(n.id for n in reps.values())
        out = [await self._group(user, viewer, key, rep, low=low, high=high)
               for key, rep in reps.items()]
        return sorted(out, key=lambda g: -g.latest.id)

    async def _members(self, user: User, viewer: Viewer, key: str
                       ) -> list[NotificationRow]:
        """Every visible notification with this group key, newest first."""
        kind, _, rest = key.partition("-")
        number = parse_id(rest)  # an id (or a day number): nothing beyond 64 bits
        if number is None or (kind == "follow" and number > LAST_DAY):
            return []
        async with self.db.read() as conn:
            if kind == "ungrouped":
                one = await repo.find(conn, user.id, number)
                rows = [one] if one is not None else []
            elif kind in ("favourite", "reblog"):
                rows = await repo.matching(conn, user.id, type_=kind, status_id=number)
            elif kind == "follow":
                start = datetime.fromtimestamp(number * DAY, UTC)
                rows = await repo.matching(conn, user.id, type_="follow", since=start,
                                           until=start + timedelta(days=1))
            else:
                rows = []
        return await self._visible(viewer, rows)

    async def _group(self, user: User, viewer: Viewer, key: str, rep: NotificationRow, *,
                     low: int, high: int) -> Group:
        if key.startswith("ungrouped-"):
            return Group(key, rep.type, (rep,), rep.id, rep.id)
        members = [n for n in await self._members(user, viewer, key) if n.id <= high]
        if not members:  # dismissed meanwhile
            members = [rep]
        in_page = [n.id for n in members if n.id >= low]
        return Group(key, rep.type, tuple(members), min(in_page or [rep.id]), members[0].id)

    async def group(self, user: User, key: str) -> Group:
        viewer = await self.status_reading.viewer(user)
        members = await self._members(user, viewer, key)
        if not members:
            raise NotFound("Record not found")
        return Group(key, members[0].type, tuple(members), members[-1].id, members[0].id)

    async def dismiss_group(self, user: User, key: str) -> None:
        """Dismiss every notification of the group (visible or not: the reader asked to
        be rid of them all). An unknown key changes nothing, as in Mastodon."""
        viewer = await self.status_reading.viewer(user)
        kind, _, rest = key.partition("-")
        if kind not in ("ungrouped", "favourite", "reblog", "follow") or parse_id(rest) is None:
            raise NotFound("Record not found")
        members = await self._members(user, viewer, key)
        async with self.db.write() as conn:
            await repo.dismiss(conn, user.id, [n.id for n in members])

    # -- reading positions (markers): the notifications one counts unread from -------------
    async def markers(self, user: User, timelines: Sequence[str]) -> dict[str, Marker]:
        wanted = [t for t in dict.fromkeys(timelines) if t in MARKER_TIMELINES]
        async with self.db.read() as conn:
            return await markers_of(conn, user.id, wanted)

    async def set_markers(self, user: User, positions: dict[str, str]) -> dict[str, Marker]:
        """Save ``{timeline: last_read_id}`` for home and notifications (others are
        ignored, as Mastodon does); each save raises the marker's version by one."""
        for timeline, last_read_id in positions.items():
            if timeline in MARKER_TIMELINES and not (
                    isinstance(last_read_id, str) and 0 < len(last_read_id) <= 32):
                raise Unprocessable(f"{timeline}[last_read_id] must be an id")
        out: dict[str, Marker] = {}
        async with self.db.write() as conn:
            for timeline, last_read_id in positions.items():
                if timeline in MARKER_TIMELINES:
                    out[timeline] = await set_marker(conn, user.id, timeline, last_read_id)
        return out

    # -- policy (Mastodon 4.3): we never filter -------------------------------------------
    async def policy(self, user: User) -> dict[str, object]:
        del user
        return {**{k: "accept" for k in POLICY_KEYS},
                "summary": {"pending_requests_count": 0, "pending_notifications_count": 0}}

    async def update_policy(self, user: User, values: dict[str, object]) -> dict[str, object]:
        """Only "accept" is applied here (nothing is ever filtered or dropped); anything else
        is refused, and nothing changes."""
        for key in POLICY_KEYS:
            value = values.get(key)
            if value not in (None, "", "accept"):
                raise Unprocessable(f'{key}: this server does not filter notifications; '
                                    'only "accept" is supported')
        return await self.policy(user)

    # -- answers to offers and needs, as mentions -----------------------------------------
    async def responded(self, conn: AsyncConnection, post: Post, response: Response) -> None:
        """Someone answered ``post``: a direct status from them to the post's author and a
        mention for the local account that created the post. In the caller's transaction."""
        author = await actors_repo.get_by_uri(conn, post.author_uri)
        responder = await actors_repo.get_by_id(conn, response.responder_actor_id)
        hidden = await self._hidden_creator(conn, post)
        existing = await statuses_repo.find_by_uri(conn, response.uri)
        if existing is not None:  # a Mastodon reply, already a status
            sid = existing.id
            if hidden:
                await response_statuses.add_hidden(conn, sid, hidden)
        else:
            words = "I can help with" if post.kind is Kind.NEED else "I would like"
            qty = ("" if response.quantity is None
                   else f" ({response.quantity} {post.unit})" if post.unit
                   else f" ({response.quantity})")
            content = f"<p>{html.escape(words)} “{html.escape(post.title)}”" \
                      f"{html.escape(qty)}</p>"
            if response.message:
                content += "".join(f"<p>{html.escape(p)}</p>"
                                   for p in response.message.split("\n\n") if p.strip())
            parent = await statuses_repo.id_for_post(conn, post.id)
            created = await response_statuses.insert_direct(
                conn, uri=response.uri, account_id=responder.id,
                user_id=response.responder_user_id, local=responder.local, content=content,
                text=response.message, conversation=post.uri, in_reply_to_id=parent,
                in_reply_to_uri=post.uri, in_reply_to_account_id=author.id,
                named_ids=[author.id], hidden_ids=hidden)
            if created is None:
                return
            sid = created
        if post.creator_user_id is not None:
            await self._mention(conn, post.creator_user_id, responder.id, sid)
            await self.email.notify(conn, post.creator_user_id, EmailKind.ANSWERS,
                                    {"post_id": post.id, "actor_id": responder.id})

    async def answered(self, conn: AsyncConnection, post: Post, response: Response, *,
                       accepted: bool, uri: str | None = None) -> None:
        """The post's author accepted or declined an answer: a direct status from the
        author to the person who answered, and a mention for them if they are local."""
        author = await actors_repo.get_by_uri(conn, post.author_uri)
        responder = await actors_repo.get_by_id(conn, response.responder_actor_id)
        answer = await statuses_repo.find_by_uri(conn, response.uri)
        if accepted:
            text = f"Accepted your answer to “{post.title}”. You can now talk privately."
        else:
            text = f"Declined your answer to “{post.title}”."
            if response.note:
                text += f"\n\n{response.note}"
        content = "".join(f"<p>{html.escape(p)}</p>" for p in text.split("\n\n"))
        if uri is None:
            uri = (self.urls.new_object() if author.local
                   else f"{response.uri}#{'accepted' if accepted else 'declined'}")
        creator_user = (None if post.anonymous or post.proxy else post.creator_user_id)
        sid = await response_statuses.insert_direct(
            conn, uri=uri, account_id=author.id, user_id=creator_user, local=author.local,
            content=content, text=text, conversation=post.uri,
            in_reply_to_id=answer.id if answer else None, in_reply_to_uri=response.uri,
            in_reply_to_account_id=responder.id, named_ids=[responder.id],
            hidden_ids=await self._hidden_creator(conn, post))
        if sid is None or response.responder_user_id is None:
            return
        await self._mention(conn, response.responder_user_id, author.id, sid)
        await self.email.notify(conn, response.responder_user_id, EmailKind.MESSAGES, {
            "post_id": post.id, "actor_id": author.id,
            "what": "accepted" if accepted else "declined"})

    async def exchange_message(self, conn: AsyncConnection, post: Post, conv: Conversation,
                               message: Message) -> None:
        """A message in an accepted exchange (from the web page, an app, or another server):
        a direct status from the sender to the other side, in the post's thread, and a
        mention for the local account on the other side. In the caller's transaction."""
        other_id = (conv.other_actor_id if message.sender_actor_id == conv.helper_actor_id
                    else conv.helper_actor_id)
        sender = await actors_repo.get_by_id(conn, message.sender_actor_id)
        other = await actors_repo.get_by_id(conn, other_id)
        hidden = await self._hidden_creator(conn, post)
        existing = await statuses_repo.find_by_uri(conn, message.uri)
        if existing is not None:  # a remote direct message, already a status
            sid = existing.id
            await response_statuses.add_hidden(conn, sid, hidden)
        else:
            response = await responses_repo.get(conn, conv.response_id)
            answer = await statuses_repo.find_by_uri(conn, response.uri)
            sender_user = None
            if sender.local and sender.id != self.identity.group.id:
                found = await users_repo.find_by_actor(conn, sender.id)
                sender_user = found.id if found else None
            content = "".join(f"<p>{html.escape(p)}</p>"
                              for p in message.body.split("\n\n") if p.strip())
            created = await response_statuses.insert_direct(
                conn, uri=message.uri, account_id=sender.id, user_id=sender_user,
                local=sender.local, content=content, text=message.body,
                conversation=post.uri, in_reply_to_id=answer.id if answer else None,
                in_reply_to_uri=response.uri, in_reply_to_account_id=other.id,
                named_ids=[other.id], hidden_ids=hidden)
            if created is None:
                return
            sid = created
        reader: int | None = None
        if other.id == self.identity.group.id:
            reader = post.creator_user_id
        elif other.local:
            found = await users_repo.find_by_actor(conn, other.id)
            reader = found.id if found is not None else None
        if reader is not None:
            await self._mention(conn, reader, sender.id, sid)
            await self.email.notify(conn, reader, EmailKind.MESSAGES, {
                "post_id": post.id, "actor_id": sender.id, "conversation_id": conv.id})
        self.signals.stream_changed()

    async def _hidden_creator(self, conn: AsyncConnection, post: Post) -> list[int]:
        """The real creator's actor, for posts that name the group instead."""
        if post.creator_user_id is None or not (post.anonymous or post.proxy):
            return []
        creator = await users_repo.get(conn, post.creator_user_id)
        return [creator.actor_id]

    async def _mention(self, conn: AsyncConnection, user_id: int, from_actor_id: int,
                       status_id: int) -> None:
        if await repo.exists(conn, user_id=user_id, type_="mention", status_id=status_id):
            return  # the inbox already notified this mention
        user = await users_repo.get(conn, user_id)
        if user.actor_id == from_actor_id:
            return
        await repo.add(conn, user_id=user_id, type_="mention", from_actor_id=from_actor_id,
                       status_id=status_id)
        self.signals.stream_changed()
