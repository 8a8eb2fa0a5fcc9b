"""A member's own data, read for their export, and what deleting their account removes
(fediaid/services/member_data.py decides; this module only reads and writes rows).

Reads never select secrets: no password hash, token or session digests, private keys,
intake records (unless the caller names the ones about this member), or who reported whom.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import and_, delete, func, not_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from fediaid.domain.queue import ItemState
from fediaid.storage.tables import (
    access_tokens,
    account_blocks,
    account_domain_blocks,
    account_mutes,
    activities,
    actor_keys,
    actors,
    bookmarks,
    conversations,
    deliveries,
    favourites,
    follows,
    inbox_items,
    intake_records,
    media_attachments,
    messages,
    notifications,
    oauth_apps,
    objects,
    post_recipients,
    posts,
    reports,
    responses,
    shares,
    status_recipients,
    statuses,
    takedowns,
    users,
    web_sessions,
)
from fediaid.storage.types import utcnow

#: ``actors.type`` of a deleted local account: the row stays as a tombstone (the name is
#: reserved, the actor URI answers 410 Gone). ActivityPub's word for a deleted object.
TOMBSTONE = "Tombstone"
#: What a deleted member's messages say in other people's exchanges.
DELETED_TEXT = "[deleted]"
UNSETTLED = (ItemState.PENDING.value, ItemState.HELD.value)


def _rows(result: Any) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in result]


# -- reads for the export ------------------------------------------------------------------

def own_posts_clause(actor_id: int, user_id: int) -> Any:
    """The member's posts: under their name, or anonymous ones they posted themselves.
    Proxy posts a coordinator recorded belong to the neighbor, not to the coordinator."""
    return or_(posts.c.author_actor_id == actor_id,
               and_(posts.c.creator_user_id == user_id, posts.c.proxy.is_(False)))


async def own_post_ids(conn: AsyncConnection, actor_id: int, user_id: int) -> list[int]:
    rows = await conn.execute(select(posts.c.id).where(own_posts_clause(actor_id, user_id))
                              .order_by(posts.c.id))
    return [int(r[0]) for r in rows]


async def posts_of(conn: AsyncConnection, ids: Sequence[int]) -> list[dict[str, Any]]:
    if not ids:
        return []
    rows = _rows(await conn.execute(
        select(posts.c.id, posts.c.uri, posts.c.kind, posts.c.title, posts.c.description,
               posts.c.category, posts.c.quantity, posts.c.unit, posts.c.area,
               posts.c.starts_at, posts.c.ends_at, posts.c.urgency, posts.c.visibility,
               posts.c.state, posts.c.anonymous, posts.c.hidden, posts.c.held,
               posts.c.created_at, posts.c.updated_at, posts.c.expires_at, posts.c.closed_at)
        .where(posts.c.id.in_(ids)).order_by(posts.c.id)))
    recipients = await conn.execute(select(post_recipients.c.post_id, post_recipients.c.actor_uri)
                                    .where(post_recipients.c.post_id.in_(ids)))
    named: dict[int, list[str]] = {}
    for r in recipients:
        named.setdefault(int(r.post_id), []).append(r.actor_uri)
    for row in rows:
        row["direct_to"] = sorted(named.get(int(row["id"]), []))
    return rows


async def answers_on(conn: AsyncConnection, post_ids: Sequence[int]) -> list[dict[str, Any]]:
    """Answers the member's posts received (the author sees who answered)."""
    if not post_ids:
        return []
    return _rows(await conn.execute(
        select(responses.c.id, responses.c.post_id, posts.c.uri.label("post_uri"),
               actors.c.uri.label("from_uri"), actors.c.username.label("from_username"),
               actors.c.domain.label("from_domain"), responses.c.message,
               responses.c.quantity, responses.c.state, responses.c.note,
               responses.c.created_at, responses.c.updated_at)
        .select_from(responses.join(posts, posts.c.id == responses.c.post_id)
                     .join(actors, actors.c.id == responses.c.responder_actor_id))
        .where(responses.c.post_id.in_(post_ids)).order_by(responses.c.id)))


async def answers_by(conn: AsyncConnection, actor_id: int) -> list[dict[str, Any]]:
    """Answers the member gave. The post is named by what the public sees (its author is
    the group for anonymous and proxy posts), never by who really asked."""
    return _rows(await conn.execute(
        select(responses.c.id, posts.c.uri.label("post_uri"), posts.c.kind.label("post_kind"),
               posts.c.title.label("post_title"), actors.c.uri.label("post_author_uri"),
               responses.c.message, responses.c.quantity, responses.c.state,
               responses.c.note, responses.c.created_at, responses.c.updated_at)
        .select_from(responses.join(posts, posts.c.id == responses.c.post_id)
                     .join(actors, actors.c.id == posts.c.author_actor_id))
        .where(responses.c.responder_actor_id == actor_id).order_by(responses.c.id)))


async def conversation_ids(conn: AsyncConnection, actor_id: int, own_posts: Sequence[int]
                           ) -> list[int]:
    """The member's exchanges: those they take part in, and those on their own anonymous
    posts (where the group speaks for them)."""
    where = or_(conversations.c.helper_actor_id == actor_id,
                conversations.c.other_actor_id == actor_id)
    if own_posts:
        where = or_(where, conversations.c.post_id.in_(own_posts))
    rows = await conn.execute(select(conversations.c.id).where(where)
                              .order_by(conversations.c.id))
    return [int(r[0]) for r in rows]


async def conversations_of(conn: AsyncConnection, ids: Sequence[int]) -> list[dict[str, Any]]:
    if not ids:
        return []
    helper, other = actors.alias("helper"), actors.alias("other")
    convs = _rows(await conn.execute(
        select(conversations.c.id, posts.c.uri.label("post_uri"),
               posts.c.title.label("post_title"), helper.c.uri.label("helper_uri"),
               other.c.uri.label("other_uri"), conversations.c.created_at,
               conversations.c.closed_at)
        .select_from(conversations.join(posts, posts.c.id == conversations.c.post_id)
                     .join(helper, helper.c.id == conversations.c.helper_actor_id)
                     .join(other, other.c.id == conversations.c.other_actor_id))
        .where(conversations.c.id.in_(ids)).order_by(conversations.c.id)))
    msgs = await conn.execute(
        select(messages.c.id, messages.c.conversation_id, actors.c.uri.label("from_uri"),
               messages.c.body, messages.c.created_at)
        .select_from(messages.join(actors, actors.c.id == messages.c.sender_actor_id))
        .where(messages.c.conversation_id.in_(ids)).order_by(messages.c.id))
    by_conv: dict[int, list[dict[str, Any]]] = {}
    for m in _rows(msgs):
        by_conv.setdefault(int(m.pop("conversation_id")), []).append(m)
    for c in convs:
        c["messages"] = by_conv.get(int(c["id"]), [])
    return convs


async def statuses_by(conn: AsyncConnection, actor_id: int) -> list[dict[str, Any]]:
    original = statuses.alias("original")
    return _rows(await conn.execute(
        select(statuses.c.id, statuses.c.uri, statuses.c.visibility, statuses.c.listed,
               statuses.c.content, statuses.c.text, statuses.c.spoiler_text,
               statuses.c.sensitive, statuses.c.language, statuses.c.in_reply_to_uri,
               original.c.uri.label("boost_of"), statuses.c.post_id, statuses.c.created_at,
               statuses.c.edited_at)
        .select_from(statuses.outerjoin(original, original.c.id == statuses.c.reblog_of_id))
        .where(statuses.c.account_id == actor_id).order_by(statuses.c.id)))


async def favourites_of(conn: AsyncConnection, actor_id: int) -> list[dict[str, Any]]:
    return _rows(await conn.execute(
        select(statuses.c.uri.label("status_uri"), favourites.c.created_at)
        .select_from(favourites.join(statuses, statuses.c.id == favourites.c.status_id))
        .where(favourites.c.actor_id == actor_id).order_by(favourites.c.id)))


async def bookmarks_of(conn: AsyncConnection, user_id: int) -> list[dict[str, Any]]:
    return _rows(await conn.execute(
        select(statuses.c.uri.label("status_uri"), bookmarks.c.created_at)
        .select_from(bookmarks.join(statuses, statuses.c.id == bookmarks.c.status_id))
        .where(bookmarks.c.user_id == user_id).order_by(bookmarks.c.id)))


async def follows_of(conn: AsyncConnection, actor_id: int, *, direction: str
                     ) -> list[dict[str, Any]]:
    mine, theirs = ((follows.c.follower_id, follows.c.followed_id) if direction == "following"
                    else (follows.c.followed_id, follows.c.follower_id))
    return _rows(await conn.execute(
        select(actors.c.uri.label("account_uri"), follows.c.state, follows.c.created_at)
        .select_from(follows.join(actors, actors.c.id == theirs))
        .where(mine == actor_id).order_by(follows.c.id)))


async def media_of(conn: AsyncConnection, actor_id: int, user_id: int) -> list[dict[str, Any]]:
    return _rows(await conn.execute(
        select(media_attachments.c.id, media_attachments.c.file_name,
               media_attachments.c.content_type, media_attachments.c.description,
               media_attachments.c.width, media_attachments.c.height,
               statuses.c.uri.label("status_uri"), media_attachments.c.created_at)
        .select_from(media_attachments.outerjoin(
            statuses, statuses.c.id == media_attachments.c.status_id))
        .where(or_(media_attachments.c.user_id == user_id,
                   and_(media_attachments.c.account_id == actor_id,
                        media_attachments.c.file_name.is_not(None))))
        .order_by(media_attachments.c.id)))


async def notifications_of(conn: AsyncConnection, user_id: int) -> list[dict[str, Any]]:
    return _rows(await conn.execute(
        select(notifications.c.type, actors.c.uri.label("from_uri"),
               statuses.c.uri.label("status_uri"), notifications.c.created_at)
        .select_from(notifications.join(actors, actors.c.id == notifications.c.from_actor_id)
                     .outerjoin(statuses, statuses.c.id == notifications.c.status_id))
        .where(notifications.c.user_id == user_id).order_by(notifications.c.id)))


async def apps_of(conn: AsyncConnection, user_id: int) -> list[dict[str, Any]]:
    """Apps and tokens the member authorized: names, scopes and dates, never a secret."""
    return _rows(await conn.execute(
        select(func.coalesce(oauth_apps.c.name, access_tokens.c.name).label("app"),
               oauth_apps.c.website, access_tokens.c.scopes, access_tokens.c.created_at,
               access_tokens.c.last_used_at, access_tokens.c.revoked_at)
        .select_from(access_tokens.outerjoin(oauth_apps,
                                             oauth_apps.c.id == access_tokens.c.app_id))
        .where(access_tokens.c.user_id == user_id).order_by(access_tokens.c.created_at)))


async def sessions_of(conn: AsyncConnection, user_id: int) -> list[dict[str, Any]]:
    return _rows(await conn.execute(
        select(web_sessions.c.created_at, web_sessions.c.expires_at)
        .where(web_sessions.c.user_id == user_id).order_by(web_sessions.c.created_at)))


async def session_started(conn: AsyncConnection, user_id: int, token_hash: str) -> Any:
    return (await conn.execute(select(web_sessions.c.created_at).where(
        web_sessions.c.user_id == user_id, web_sessions.c.token_hash == token_hash))
    ).scalar_one_or_none()


async def blocks_of(conn: AsyncConnection, actor_id: int) -> dict[str, list[dict[str, Any]]]:
    def target(table: Any) -> Any:
        return (select(actors.c.uri.label("account_uri"), table.c.created_at)
                .select_from(table.join(actors, actors.c.id == table.c.target_id))
                .where(table.c.actor_id == actor_id).order_by(table.c.id))

    return {
        "blocks": _rows(await conn.execute(target(account_blocks))),
        "mutes": _rows(await conn.execute(target(account_mutes))),
        "domain_blocks": _rows(await conn.execute(
            select(account_domain_blocks.c.domain, account_domain_blocks.c.created_at)
            .where(account_domain_blocks.c.actor_id == actor_id))),
    }


async def reports_by(conn: AsyncConnection, user_id: int) -> list[dict[str, Any]]:
    """Reports the member filed (what they reported and what became of it)."""
    return _rows(await conn.execute(
        select(actors.c.uri.label("about_account"), reports.c.category, reports.c.comment,
               reports.c.state, reports.c.outcome, reports.c.created_at,
               reports.c.resolved_at)
        .select_from(reports.join(actors, actors.c.id == reports.c.target_actor_id))
        .where(reports.c.reporter_user_id == user_id).order_by(reports.c.id)))


async def takedowns_of(conn: AsyncConnection, user_id: int) -> list[dict[str, Any]]:
    """Coordinators' decisions about the member's posts (as the member was told them)."""
    return _rows(await conn.execute(
        select(takedowns.c.kind, takedowns.c.action, takedowns.c.reason,
               takedowns.c.posted_at, takedowns.c.created_at)
        .where(takedowns.c.author_user_id == user_id).order_by(takedowns.c.id)))


async def intake_about(conn: AsyncConnection, post_ids: Sequence[int]) -> list[dict[str, Any]]:
    """Intake records a coordinator identified as being about this person (by post id)."""
    if not post_ids:
        return []
    return _rows(await conn.execute(
        select(intake_records.c.post_id, posts.c.uri.label("post_uri"), intake_records.c.name,
               intake_records.c.callback, intake_records.c.notes, intake_records.c.created_at)
        .select_from(intake_records.join(posts, posts.c.id == intake_records.c.post_id))
        .where(intake_records.c.post_id.in_(post_ids), posts.c.proxy.is_(True))))


async def proxy_post_ids(conn: AsyncConnection, ids: Iterable[int]) -> list[int]:
    wanted = list(ids)
    if not wanted:
        return []
    rows = await conn.execute(select(posts.c.id).where(posts.c.id.in_(wanted),
                                                       posts.c.proxy.is_(True)))
    return [int(r[0]) for r in rows]


async def profile_row(conn: AsyncConnection, user_id: int) -> dict[str, Any]:
    row = (await conn.execute(
        select(users.c.username, users.c.role, users.c.created_at,
               users.c.weekly_response_cap, users.c.limited,
               users.c.password_hash.is_not(None).label("has_password"),
               actors.c.uri, actors.c.url, actors.c.name, actors.c.summary, actors.c.icon_url,
               actors.c.header_url, actors.c.manually_approves_followers)
        .select_from(users.join(actors, actors.c.id == users.c.actor_id))
        .where(users.c.id == user_id))).one()
    return dict(row._mapping)


# -- deleting an account --------------------------------------------------------------------

async def knowing_inboxes(conn: AsyncConnection, actor_id: int, object_uris: Sequence[str]
                          ) -> list[str]:
    """Every inbox that knows the account: its followers' (shared) inboxes, and every inbox
    we delivered anything to from it or about its objects (the group's shares included)."""
    follower = actors.alias("follower")
    found = [r[0] for r in await conn.execute(
        select(func.coalesce(follower.c.shared_inbox, follower.c.inbox))
        .select_from(follows.join(follower, follower.c.id == follows.c.follower_id))
        .where(follows.c.followed_id == actor_id, follower.c.local.is_(False)))]
    about = activities.c.actor_id == actor_id
    uris = list(object_uris)
    for start in range(0, len(uris), 500):
        about = or_(about, activities.c.object_uri.in_(uris[start:start + 500]))
    found += [r[0] for r in await conn.execute(
        select(deliveries.c.inbox_url).distinct()
        .select_from(deliveries.join(activities, activities.c.id == deliveries.c.activity_id))
        .where(about))]
    return list(dict.fromkeys(i for i in found if i))


async def local_object_creates(conn: AsyncConnection, actor_id: int) -> list[str]:
    """Objects the account published with a ``Create`` that are not offers, needs or
    statuses (its messages to other servers), to take back one by one."""
    rows = await conn.execute(
        select(activities.c.object_uri).distinct().where(
            activities.c.actor_id == actor_id, activities.c.type == "Create",
            activities.c.object_uri.is_not(None),
            not_(activities.c.object_uri.in_(select(posts.c.uri))),
            not_(activities.c.object_uri.in_(select(statuses.c.uri)))))
    return [r[0] for r in rows]


async def status_rows(conn: AsyncConnection, actor_id: int) -> list[Any]:
    return list(await conn.execute(
        select(statuses.c.id, statuses.c.uri, statuses.c.post_id, statuses.c.reblog_of_id)
        .where(statuses.c.account_id == actor_id).order_by(statuses.c.id)))


async def following_remote(conn: AsyncConnection, actor_id: int) -> list[Any]:
    """The account's follows of remote actors (to undo), with the followed inbox."""
    followed = actors.alias("followed")
    return list(await conn.execute(
        select(follows.c.uri, followed.c.uri.label("target"),
               func.coalesce(followed.c.shared_inbox, followed.c.inbox).label("inbox"))
        .select_from(follows.join(followed, followed.c.id == follows.c.followed_id))
        .where(follows.c.follower_id == actor_id, followed.c.local.is_(False))))


async def blank_answers_and_messages(conn: AsyncConnection, actor_id: int) -> list[int]:
    """The account's answers on other people's posts stay as a withdrawn "[deleted]" answer
    (the exchange is the other person's too), its messages in their exchanges become
    "[deleted]". Returns the posts whose answers changed."""
    now = utcnow()
    changed = [int(r[0]) for r in await conn.execute(
        select(responses.c.post_id).distinct().where(responses.c.responder_actor_id == actor_id))]
    await conn.execute(update(responses).where(
        responses.c.responder_actor_id == actor_id,
        responses.c.state.in_(("pending", "accepted"))).values(state="withdrawn"))
    await conn.execute(update(responses).where(responses.c.responder_actor_id == actor_id)
                       .values(message=DELETED_TEXT, note=None, quantity=None,
                               responder_user_id=None, updated_at=now))
    await conn.execute(update(messages).where(messages.c.sender_actor_id == actor_id)
                       .values(body=DELETED_TEXT))
    return changed


async def forget_media(conn: AsyncConnection, actor_id: int) -> None:
    """The account's attachment rows (the files are removed after the commit)."""
    await conn.execute(delete(media_attachments).where(
        media_attachments.c.account_id == actor_id))


async def last_activity_id(conn: AsyncConnection) -> int:
    return int((await conn.execute(select(func.coalesce(func.max(activities.c.id), 0))))
               .scalar_one())


async def forget_rows(conn: AsyncConnection, *, actor_id: int, actor_uri: str, user_id: int,
                      keep_after: int) -> None:
    """Everything else that names the account, except its tombstone and its activities
    after ``keep_after`` (the Deletes and Undos queued while deleting it)."""
    old = select(activities.c.id).where(activities.c.actor_id == actor_id,
                                        activities.c.id <= keep_after)
    await conn.execute(delete(deliveries).where(
        deliveries.c.activity_id.in_(old.scalar_subquery())))
    await conn.execute(delete(activities).where(activities.c.actor_id == actor_id,
                                                activities.c.id <= keep_after))
    for table, column in ((favourites, favourites.c.actor_id),
                          (notifications, notifications.c.from_actor_id),
                          (status_recipients, status_recipients.c.actor_id),
                          (objects, objects.c.actor_id), (shares, shares.c.actor_id),
                          (account_mutes, account_mutes.c.actor_id),
                          (account_mutes, account_mutes.c.target_id),
                          (account_blocks, account_blocks.c.actor_id),
                          (account_blocks, account_blocks.c.target_id),
                          (account_domain_blocks, account_domain_blocks.c.actor_id),
                          (follows, follows.c.follower_id), (follows, follows.c.followed_id)):
        await conn.execute(delete(table).where(column == actor_id))
    await conn.execute(delete(objects).where(objects.c.attributed_to == actor_uri))
    await conn.execute(delete(post_recipients).where(post_recipients.c.actor_uri == actor_uri))
    # Received activities that name the account (its followers' Follows, replies and
    # messages to it): raw payloads are not kept for an account that is gone.
    quoted = actor_uri.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    await conn.execute(delete(inbox_items).where(or_(
        inbox_items.c.payload.like(f'%"{quoted}"%', escape="\\"),
        inbox_items.c.payload.like(f'%"{quoted}/%', escape="\\"),
        inbox_items.c.payload.like(f'%"{quoted}#%', escape="\\"))))
    await conn.execute(update(intake_records).where(
        intake_records.c.created_by_user_id == user_id).values(created_by_user_id=None))
    await conn.execute(delete(users).where(users.c.id == user_id))


async def make_tombstone(conn: AsyncConnection, actor_id: int) -> None:
    """The actor row stays, emptied, so the name cannot be taken again and the actor URI
    answers 410 Gone; its key stays until the Delete of the account is delivered."""
    await conn.execute(update(actors).where(actors.c.id == actor_id).values(
        type=TOMBSTONE, name=None, summary=None, icon_url=None, header_url=None,
        manually_approves_followers=False, updated_at=utcnow()))


async def tombstone(conn: AsyncConnection, username: str) -> dict[str, Any] | None:
    row = (await conn.execute(select(actors.c.uri, actors.c.updated_at).where(
        actors.c.local.is_(True), actors.c.username == username,
        actors.c.type == TOMBSTONE))).first()
    return None if row is None else {"uri": row.uri, "deleted_at": row.updated_at}


async def settled_tombstones(conn: AsyncConnection) -> list[int]:
    """Deleted accounts whose key is still kept but whose activities are all delivered (or
    given up on): the key has nothing left to sign."""
    waiting = (select(activities.c.actor_id)
               .select_from(deliveries.join(activities,
                                            activities.c.id == deliveries.c.activity_id))
               .where(deliveries.c.state.in_(UNSETTLED)))
    rows = await conn.execute(
        select(actors.c.id).select_from(actors.join(actor_keys,
                                                    actor_keys.c.actor_id == actors.c.id))
        .where(actors.c.type == TOMBSTONE, actors.c.local.is_(True),
               actors.c.id.not_in(waiting)))
    return [int(r[0]) for r in rows]


async def drop_key(conn: AsyncConnection, actor_id: int) -> None:
    """The last trace of a deleted account but its reserved name: its key and the
    delivered Deletes."""
    ids = select(activities.c.id).where(activities.c.actor_id == actor_id)
    await conn.execute(delete(deliveries).where(
        deliveries.c.activity_id.in_(ids.scalar_subquery())))
    await conn.execute(delete(activities).where(activities.c.actor_id == actor_id))
    await conn.execute(delete(actor_keys).where(actor_keys.c.actor_id == actor_id))
    await conn.execute(update(actors).where(actors.c.id == actor_id).values(
        public_key_pem=None))


async def admins_left(conn: AsyncConnection, role: str) -> int:
    return int((await conn.execute(select(func.count()).select_from(users).where(
        users.c.role == role, users.c.disabled.is_(False)))).scalar_one())
