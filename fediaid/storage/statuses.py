"""Statuses (the client API's timeline rows), their recipients and tags, favourites,
bookmarks, boosts and idempotency keys."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    and_,
    bindparam,
    case,
    cast,
    delete,
    func,
    literal_column,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from fediaid.domain.paging import Page
from fediaid.domain.statuses import Level, Status
from fediaid.storage.dialect import insert_ignore
from fediaid.storage.domains import covered_by
from fediaid.storage.tables import (
    actors,
    bookmarks,
    favourites,
    follows,
    idempotency_keys,
    media_attachments,
    posts,
    status_edits,
    status_recipients,
    status_tags,
    statuses,
)
from fediaid.storage.types import utcnow

SPOILER_TEXT_MAX = 512  # the column's length: longer content warnings are cut
#: Offers and needs posted here (every member's home timeline has them): the condition of
#: the partial index ``ix_statuses_local_posts``, written once so queries match it.
LOCAL_POST = and_(statuses.c.post_id.is_not(None), statuses.c.local.is_(True))
#: Statuses an account's statuses_count counts (before leaving out offers and needs held or
#: hidden): the condition of the partial index ``ix_statuses_public_authors``, with the
#: level written into the statement (a bound parameter would not match the index's).
COUNTED = and_(statuses.c.visibility == literal_column(f"'{Level.PUBLIC.value}'"),
               statuses.c.hidden.is_(False))


def paged(query: Any, column: Any, page: Page) -> Any:
    """Apply Mastodon's pagination to ``query`` ordered by ``column`` (an id). With
    ``min_id`` the rows come oldest first: use ``newest_first`` on the result."""
    if page.max_id is not None:
        query = query.where(column < page.max_id)
    if page.since_id is not None:
        query = query.where(column > page.since_id)
    if page.min_id is not None:
        return query.where(column > page.min_id).order_by(column.asc()).limit(page.limit)
    return query.order_by(column.desc()).limit(page.limit)


def newest_first(ids: Iterable[int]) -> list[int]:
    return sorted(ids, reverse=True)


@dataclass(frozen=True)
class Hidden:
    """Accounts a member's timelines leave out (their blocks and mutes: actor URIs, and
    the member's own domain blocks)."""

    accounts: frozenset[str] = frozenset()
    domains: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.accounts or self.domains)


def without_hidden(q: Any, hidden: Hidden | None) -> Any:
    """The one SQL pre-filter every timeline query uses: leaves out statuses and boosts by
    hidden accounts, and boosts of their statuses (``visibility.shown_in_lists`` decides on
    the loaded rows; this keeps pages from running empty)."""
    if not hidden:
        return q
    conds: list[Any] = []
    if hidden.accounts:
        conds.append(actors.c.uri.in_(sorted(hidden.accounts)))
    if hidden.domains:
        conds.append(and_(actors.c.local.is_(False), covered_by(actors.c.domain,
                                                                hidden.domains)))
    who = select(actors.c.id).where(or_(*conds))
    original = statuses.alias("original")
    theirs = select(original.c.id).where(original.c.account_id.in_(who))
    return q.where(statuses.c.account_id.not_in(who),
                   or_(statuses.c.reblog_of_id.is_(None), statuses.c.reblog_of_id.not_in(theirs)))


_COLUMNS = [statuses, actors.c.uri.label("account_uri")]


def _to_status(row: Any, recipients: Recipients | None = None) -> Status:
    return Status(
        id=row.id, uri=row.uri, account_id=row.account_id, account_uri=row.account_uri,
        user_id=row.user_id, post_id=row.post_id, reblog_of_id=row.reblog_of_id,
        in_reply_to_id=row.in_reply_to_id, in_reply_to_uri=row.in_reply_to_uri,
        in_reply_to_account_id=row.in_reply_to_account_id, conversation=row.conversation,
        level=Level(row.visibility), listed=row.listed, local=row.local,
        content=row.content or "", text=row.text, spoiler_text=row.spoiler_text or "",
        sensitive=row.sensitive, language=row.language, url=row.url,
        created_at=row.created_at, edited_at=row.edited_at,
        recipients=frozenset(recipients.uris) if recipients else frozenset(),
        mentioned_ids=tuple(recipients.mentioned) if recipients else (), hidden=row.hidden,
    )


def _base() -> Any:
    return select(*_COLUMNS).join(actors, actors.c.id == statuses.c.account_id)


@dataclass
class Recipients:
    """A status's addressees: every one's URI, and the ids of the mentioned ones."""
    uris: list[str] = field(default_factory=list)
    mentioned: list[int] = field(default_factory=list)


async def recipients_of(conn: AsyncConnection, ids: Sequence[int]) -> dict[int, Recipients]:
    out: dict[int, Recipients] = {}
    if not ids:
        return out
    rows = await conn.execute(
        select(status_recipients.c.status_id, status_recipients.c.actor_id,
               status_recipients.c.mention, actors.c.uri)
        .join(actors, actors.c.id == status_recipients.c.actor_id)
        .where(status_recipients.c.status_id.in_(list(ids))))
    for sid, aid, mention, uri in rows:
        found = out.setdefault(sid, Recipients())
        found.uris.append(uri)
        if mention:
            found.mentioned.append(aid)
    return out


async def load(conn: AsyncConnection, ids: Sequence[int]) -> dict[int, Status]:
    """Statuses by id (missing ones are simply absent)."""
    if not ids:
        return {}
    rows = (await conn.execute(_base().where(statuses.c.id.in_(list(ids))))).all()
    recips = await recipients_of(conn, [r.id for r in rows])
    return {r.id: _to_status(r, recips.get(r.id)) for r in rows}


async def find(conn: AsyncConnection, status_id: int) -> Status | None:
    return (await load(conn, [status_id])).get(status_id)


async def find_by_uri(conn: AsyncConnection, uri: str) -> Status | None:
    row = (await conn.execute(_base().where(statuses.c.uri == uri))).first()
    if row is None:
        return None
    return _to_status(row, (await recipients_of(conn, [row.id])).get(row.id))


async def id_for_post(conn: AsyncConnection, post_id: int) -> int | None:
    return (await conn.execute(select(statuses.c.id).where(statuses.c.post_id == post_id))
            ).scalar_one_or_none()


def row(*, uri: str, account_id: int, level: Level, listed: bool, local: bool, content: str,
        created_at: datetime | None = None, user_id: int | None = None,
        post_id: int | None = None, reblog_of_id: int | None = None,
        in_reply_to_id: int | None = None, in_reply_to_uri: str | None = None,
        in_reply_to_account_id: int | None = None, conversation: str | None = None,
        text: str | None = None, spoiler_text: str = "", sensitive: bool = False,
        language: str | None = None, url: str | None = None) -> dict[str, Any]:
    """The column values of a new status (bounded to the columns' lengths)."""
    return dict(
        uri=uri, account_id=account_id, user_id=user_id, post_id=post_id,
        reblog_of_id=reblog_of_id, in_reply_to_id=in_reply_to_id,
        in_reply_to_uri=in_reply_to_uri, in_reply_to_account_id=in_reply_to_account_id,
        conversation=conversation, visibility=level.value, listed=listed, local=local,
        content=content, text=text, spoiler_text=spoiler_text[:SPOILER_TEXT_MAX],
        sensitive=sensitive, language=(language or None) and language[:16], url=url,
        created_at=created_at or utcnow(),
    )


def _tag_rows(status_id: int, tags: Iterable[str]) -> list[dict[str, Any]]:
    return [{"status_id": status_id, "tag": t}
            for t in dict.fromkeys(t.lower()[:128] for t in tags if t)]


async def insert(conn: AsyncConnection, *, uri: str, account_id: int, level: Level,
                 listed: bool, local: bool, content: str, created_at: datetime | None = None,
                 user_id: int | None = None, post_id: int | None = None,
                 reblog_of_id: int | None = None, in_reply_to_id: int | None = None,
                 in_reply_to_uri: str | None = None, in_reply_to_account_id: int | None = None,
                 conversation: str | None = None, text: str | None = None,
                 spoiler_text: str = "", sensitive: bool = False, language: str | None = None,
                 url: str | None = None, recipient_ids: Iterable[int] = (),
                 tags: Iterable[str] = ()) -> int | None:
    """Insert a status; None when one with this URI exists already (idempotent)."""
    values = row(
        uri=uri, account_id=account_id, level=level, listed=listed, local=local,
        content=content, created_at=created_at, user_id=user_id, post_id=post_id,
        reblog_of_id=reblog_of_id, in_reply_to_id=in_reply_to_id,
        in_reply_to_uri=in_reply_to_uri, in_reply_to_account_id=in_reply_to_account_id,
        conversation=conversation, text=text, spoiler_text=spoiler_text, sensitive=sensitive,
        language=language, url=url)
    result = await conn.execute(
        insert_ignore(conn, statuses, ["uri"]).values(**values).returning(statuses.c.id))
    sid = result.scalar_one_or_none()
    if sid is None:
        return None
    rids = list(dict.fromkeys(recipient_ids))
    if rids:
        await conn.execute(status_recipients.insert(),
                           [{"status_id": sid, "actor_id": a, "mention": True} for a in rids])
    tag_rows = _tag_rows(sid, tags)
    if tag_rows:
        await conn.execute(status_tags.insert(), tag_rows)
    return int(sid)


async def insert_many(conn: AsyncConnection, rows: Sequence[dict[str, Any]],
                      tags: Mapping[str, Iterable[str]]) -> dict[str, int]:
    """Insert many statuses (``row`` values, no URI twice) and their tags (by URI) in two
    statements; returns the ids of the ones inserted, by URI. A URI that exists already is
    skipped (absent from the answer), as ``insert`` returns None for it."""
    if not rows:
        return {}
    # Columns that are empty in every row are left to their default (NULL): fewer values to
    # bind, the same rows.
    unused = {k for k, v in rows[0].items() if v is None and all(r[k] is None for r in rows)}
    result = await conn.execute(
        insert_ignore(conn, statuses, ["uri"]).returning(statuses.c.uri, statuses.c.id),
        [{k: v for k, v in r.items() if k not in unused} for r in rows])
    ids = {uri: int(sid) for uri, sid in result}
    tag_rows = [r for uri, sid in ids.items() for r in _tag_rows(sid, tags.get(uri, ()))]
    if tag_rows:
        await conn.execute(status_tags.insert(), tag_rows)
    return ids


async def insert_for_post(conn: AsyncConnection, *, post_id: int, uri: str, account_id: int,
                          visibility: str, local: bool, created_at: datetime,
                          tags: Iterable[str]) -> int | None:
    level = Level(visibility)
    return await insert(conn, uri=uri, account_id=account_id, level=level, listed=True,
                        local=local, content="", created_at=created_at, post_id=post_id,
                        tags=tags)


async def set_post_visibility(conn: AsyncConnection, post_id: int, visibility: str) -> None:
    await conn.execute(update(statuses).where(statuses.c.post_id == post_id)
                       .values(visibility=Level(visibility).value))


async def update_content(conn: AsyncConnection, status_id: int, *, content: str,
                         text: str | None, spoiler_text: str, sensitive: bool,
                         edited_at: datetime) -> None:
    """Replace a status's text; the version it replaces goes to its edit history."""
    row = (await conn.execute(select(statuses.c.content, statuses.c.spoiler_text,
                                     statuses.c.sensitive, statuses.c.created_at,
                                     statuses.c.edited_at)
                              .where(statuses.c.id == status_id))).first()
    if row is not None:
        await conn.execute(status_edits.insert().values(
            status_id=status_id, content=row.content, spoiler_text=row.spoiler_text,
            sensitive=row.sensitive, created_at=row.edited_at or row.created_at))
    await conn.execute(update(statuses).where(statuses.c.id == status_id).values(
        content=content, text=text, spoiler_text=spoiler_text[:SPOILER_TEXT_MAX],
        sensitive=sensitive, edited_at=edited_at))


async def delete_status(conn: AsyncConnection, status_id: int) -> None:
    await conn.execute(delete(statuses).where(statuses.c.id == status_id))


async def delete_by_uri(conn: AsyncConnection, uri: str) -> list[int]:
    ids = [r[0] for r in await conn.execute(select(statuses.c.id).where(statuses.c.uri == uri))]
    if ids:
        await conn.execute(delete(statuses).where(statuses.c.id.in_(ids)))
    return ids


async def delete_by_account(conn: AsyncConnection, account_id: int) -> None:
    await conn.execute(delete(statuses).where(statuses.c.account_id == account_id))


# -- timelines: candidate ids (callers check visibility on the loaded rows) ---------------

async def public_ids(conn: AsyncConnection, page: Page, *, local: bool | None,
                     tag: str | None = None, any_tags: Sequence[str] = (),
                     only_media: bool = False,
                     hidden_domains: frozenset[str] = frozenset(),
                     hidden: Hidden | None = None) -> list[int]:
    """Public timelines. Accounts on ``hidden_domains`` (silenced or blocked: domain rules,
    subdomains included) are left out, and the viewer's ``hidden`` accounts."""
    # "Not a boost" is never selective: written so that no index is used for it (SQLite
    # would otherwise walk ix_statuses_reblog_of over every status that is not a boost).
    q = select(statuses.c.id).where(statuses.c.visibility == Level.PUBLIC.value,
                                    statuses.c.listed.is_(True),
                                    func.coalesce(statuses.c.reblog_of_id, 0) == 0)
    q = without_hidden(q, hidden)
    if hidden_domains:
        q = q.where(statuses.c.account_id.not_in(
            select(actors.c.id).where(actors.c.local.is_(False),
                                      covered_by(actors.c.domain, hidden_domains))))
    if only_media:
        q = _with_media(q)
    if local is not None:
        q = q.where(statuses.c.local.is_(local))
    tags = list(dict.fromkeys(t.lower() for t in ([tag] if tag else []) + list(any_tags)))
    if len(tags) == 1:
        # Walked on the tag's index (tag, status_id), newest first, each row then looked up
        # by its key: it stops after a page, however many statuses have the tag.
        q = q.join_from(statuses, status_tags, and_(status_tags.c.status_id == statuses.c.id,
                                                    status_tags.c.tag == tags[0]))
        return [r[0] for r in await conn.execute(paged(q, status_tags.c.status_id, page))]
    if tags:
        q = q.where(statuses.c.id.in_(
            select(status_tags.c.status_id).where(status_tags.c.tag.in_(tags))))
    return [r[0] for r in await conn.execute(paged(q, statuses.c.id, page))]


#: Up to this many followed accounts, the home timeline reads each account's newest
#: statuses on its own (index ``ix_statuses_account_id``, a page each); beyond it, one
#: ``IN`` over all of them.
HOME_PER_ACCOUNT_MAX = 100


async def home_ids(conn: AsyncConnection, page: Page, *, account_ids: Sequence[int],
                   me: int, include_local_posts: bool, hidden: Hidden | None = None
                   ) -> list[int]:
    """Statuses by the accounts followed and one's own, statuses that mention or address
    one, and (for members) every offer and need posted here; not the ``hidden`` ones.

    Each source is read on its own index, newest first, at most a page each, and the
    pages merged: no source scans the table, whatever it holds and however few statuses
    match (a member who follows nobody). One statement (``UNION ALL`` of the limited
    parts), built once per shape and reused with new values (building ~20 subqueries
    cost more than running them); the plans are in docs/benchmarks.md ("Timelines")."""
    accounts = sorted({*account_ids, me})
    per_account = len(accounts) <= HOME_PER_ACCOUNT_MAX
    values: dict[str, Any] = {"me": me, "n": page.limit, "max_id": page.max_id,
                              "since_id": page.since_id, "min_id": page.min_id}
    if per_account:
        values.update({f"a{i}": a for i, a in enumerate(accounts)})
    else:
        values["accounts"] = accounts
    if hidden:  # rare (a member's blocks and mutes): built for this call
        stmt = _home_statement(len(accounts) if per_account else None, include_local_posts,
                               page, hidden)
    else:
        key = (len(accounts) if per_account else None, include_local_posts,
               page.max_id is not None, page.since_id is not None, page.min_id is not None)
        stmt = _HOME_STATEMENTS.get(key)
        if stmt is None:
            stmt = _HOME_STATEMENTS[key] = _home_statement(key[0], include_local_posts,
                                                           page, None)
    found = {r[0] for r in await conn.execute(stmt, values)}
    ordered = sorted(found) if page.min_id is not None else sorted(found, reverse=True)
    return ordered[:page.limit]


_HOME_STATEMENTS: dict[tuple[Any, ...], Any] = {}


def _home_statement(accounts: int | None, include_local_posts: bool, page: Page,
                    hidden: Hidden | None) -> Any:
    """The home timeline's statement for ``accounts`` followed accounts (None: one IN list
    over ``:accounts``), with the page's bounds as parameters (``:max_id``, ``:since_id``,
    ``:min_id``, ``:n``, ``:me``, ``:a0`` ...)."""
    shape = Page(bindparam("max_id") if page.max_id is not None else None,  # type: ignore[arg-type]
                 bindparam("since_id") if page.since_id is not None else None,  # type: ignore[arg-type]
                 bindparam("min_id") if page.min_id is not None else None,  # type: ignore[arg-type]
                 bindparam("n"))  # type: ignore[arg-type]
    parts: list[Any] = []
    if accounts is not None:
        parts += [select(statuses.c.id).where(statuses.c.account_id == bindparam(f"a{i}"))
                  for i in range(accounts)]
    else:
        parts.append(select(statuses.c.id).where(
            statuses.c.account_id.in_(bindparam("accounts", expanding=True))))
    if include_local_posts:
        # ``ix_statuses_local_posts`` (partial: exactly this condition).
        parts.append(select(statuses.c.id).where(LOCAL_POST))
    limited = [paged(without_hidden(q, hidden), statuses.c.id, shape).subquery()
               for q in parts]
    # Addressed to or mentioning me: walked on (actor_id, status_id) of the recipients.
    mine = (select(status_recipients.c.status_id.label("id"))
            .select_from(status_recipients.join(
                statuses, statuses.c.id == status_recipients.c.status_id))
            .where(status_recipients.c.actor_id == bindparam("me")))
    limited.append(paged(without_hidden(mine, hidden), status_recipients.c.status_id,
                         shape).subquery())
    return union_all(*[select(literal_column("id")).select_from(sub) for sub in limited])


def _with_media(q: Any) -> Any:
    return q.where(statuses.c.id.in_(
        select(media_attachments.c.status_id).where(media_attachments.c.status_id.is_not(None))))


async def account_ids(conn: AsyncConnection, page: Page, account_id: int, *,
                      exclude_replies: bool = False, exclude_reblogs: bool = False,
                      tagged: str | None = None, only_media: bool = False,
                      hidden: Hidden | None = None) -> list[int]:
    q = without_hidden(select(statuses.c.id).where(statuses.c.account_id == account_id),
                       hidden)
    if only_media:
        q = _with_media(q)
    if exclude_replies:
        q = q.where(statuses.c.in_reply_to_uri.is_(None))
    if exclude_reblogs:
        q = q.where(statuses.c.reblog_of_id.is_(None))
    if tagged:
        q = q.where(statuses.c.id.in_(
            select(status_tags.c.status_id).where(status_tags.c.tag == tagged.lower())))
    return [r[0] for r in await conn.execute(paged(q, statuses.c.id, page))]


async def replies_to(conn: AsyncConnection, ids: Sequence[int]) -> list[int]:
    if not ids:
        return []
    rows = await conn.execute(select(statuses.c.id)
                              .where(statuses.c.in_reply_to_id.in_(list(ids))))
    return [r[0] for r in rows]


async def reblog_of(conn: AsyncConnection, account_id: int, status_id: int) -> Status | None:
    row = (await conn.execute(_base().where(statuses.c.account_id == account_id,
                                            statuses.c.reblog_of_id == status_id))).first()
    return _to_status(row) if row else None


# -- counts and the viewer's own marks ---------------------------------------------------

async def counts(conn: AsyncConnection, ids: Sequence[int]) -> dict[int, dict[str, int]]:
    out = {i: {"replies": 0, "reblogs": 0, "favourites": 0} for i in ids}
    if not ids:
        return out
    id_list = list(ids)
    # Replies as Mastodon counts them: public ones only (answers are private). Counted in
    # the select list, not filtered in WHERE: SQLite (without statistics) would otherwise
    # walk every public status on ix_statuses_public instead of the page's replies.
    # The three counts in one statement (each arm on its own index): a statement's round
    # trip costs more than these reads.
    public_only = func.sum(case((statuses.c.visibility == Level.PUBLIC.value, 1), else_=0))
    keys = ("replies", "reblogs", "favourites")
    arms = [select(literal_column(str(n)).label("k"), col.label("sid"), counted.label("n"))
            .select_from(table).where(col.in_(id_list)).group_by(col)
            for n, (col, table, counted) in enumerate((
                (statuses.c.in_reply_to_id, statuses, public_only),
                (statuses.c.reblog_of_id, statuses, func.count()),
                (favourites.c.status_id, favourites, func.count())))]
    for k, sid, n in await conn.execute(union_all(*arms)):
        out[sid][keys[k]] = int(n)
    return out


async def marks(conn: AsyncConnection, ids: Sequence[int], *, actor_id: int, user_id: int
                ) -> dict[str, set[int]]:
    """Which of ``ids`` the viewer favourited, boosted and bookmarked."""
    id_list = list(ids)
    if not id_list:
        return {"favourited": set(), "reblogged": set(), "bookmarked": set()}
    out: dict[str, set[int]] = {"favourited": set(), "reblogged": set(), "bookmarked": set()}
    keys = list(out)
    # One statement for the three (each arm on its own index).
    arms = [select(literal_column(str(n)).label("k"), col.label("sid")).where(
        owner == owner_id, col.in_(id_list))
        for n, (col, owner, owner_id) in enumerate((
            (favourites.c.status_id, favourites.c.actor_id, actor_id),
            (statuses.c.reblog_of_id, statuses.c.account_id, actor_id),
            (bookmarks.c.status_id, bookmarks.c.user_id, user_id)))]
    for k, sid in await conn.execute(union_all(*arms)):
        out[keys[k]].add(sid)
    return out


async def tags_of(conn: AsyncConnection, ids: Sequence[int]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    if not ids:
        return out
    rows = await conn.execute(select(status_tags.c.status_id, status_tags.c.tag)
                              .where(status_tags.c.status_id.in_(list(ids))))
    for sid, tag in rows:
        out.setdefault(sid, []).append(tag)
    return out


# -- favourites, bookmarks ----------------------------------------------------------------

async def add_favourite(conn: AsyncConnection, *, actor_id: int, status_id: int, uri: str
                        ) -> bool:
    result = await conn.execute(insert_ignore(conn, favourites, ["actor_id", "status_id"])
                                .values(actor_id=actor_id, status_id=status_id, uri=uri,
                                        created_at=utcnow()))
    return bool(result.rowcount)


async def find_favourite(conn: AsyncConnection, *, actor_id: int, status_id: int
                         ) -> str | None:
    return (await conn.execute(select(favourites.c.uri).where(
        favourites.c.actor_id == actor_id, favourites.c.status_id == status_id))
    ).scalar_one_or_none()


async def remove_favourite(conn: AsyncConnection, *, actor_id: int, status_id: int) -> bool:
    result = await conn.execute(delete(favourites).where(
        favourites.c.actor_id == actor_id, favourites.c.status_id == status_id))
    return bool(result.rowcount)


async def remove_favourite_by_uri(conn: AsyncConnection, uri: str, *, actor_id: int) -> bool:
    result = await conn.execute(delete(favourites).where(favourites.c.uri == uri,
                                                         favourites.c.actor_id == actor_id))
    return bool(result.rowcount)


async def favourited_by(conn: AsyncConnection, status_id: int, page: Page
                        ) -> list[tuple[int, int]]:
    """(favourite id, actor id), newest first."""
    q = select(favourites.c.id, favourites.c.actor_id).where(
        favourites.c.status_id == status_id)
    return [(r[0], r[1]) for r in await conn.execute(paged(q, favourites.c.id, page))]


async def reblogged_by(conn: AsyncConnection, status_id: int, page: Page
                       ) -> list[tuple[int, int]]:
    q = select(statuses.c.id, statuses.c.account_id).where(
        statuses.c.reblog_of_id == status_id)
    return [(r[0], r[1]) for r in await conn.execute(paged(q, statuses.c.id, page))]


async def favourites_of(conn: AsyncConnection, actor_id: int, page: Page
                        ) -> list[tuple[int, int]]:
    """(favourite id, status id) for an account's favourites list, newest first."""
    q = select(favourites.c.id, favourites.c.status_id).where(
        favourites.c.actor_id == actor_id)
    return [(r[0], r[1]) for r in await conn.execute(paged(q, favourites.c.id, page))]


async def add_bookmark(conn: AsyncConnection, *, user_id: int, status_id: int) -> None:
    await conn.execute(insert_ignore(conn, bookmarks, ["user_id", "status_id"]).values(
        user_id=user_id, status_id=status_id, created_at=utcnow()))


async def remove_bookmark(conn: AsyncConnection, *, user_id: int, status_id: int) -> None:
    await conn.execute(delete(bookmarks).where(bookmarks.c.user_id == user_id,
                                               bookmarks.c.status_id == status_id))


async def bookmarks_of(conn: AsyncConnection, user_id: int, page: Page
                       ) -> list[tuple[int, int]]:
    q = select(bookmarks.c.id, bookmarks.c.status_id).where(bookmarks.c.user_id == user_id)
    return [(r[0], r[1]) for r in await conn.execute(paged(q, bookmarks.c.id, page))]


# -- idempotency ---------------------------------------------------------------------------

async def idempotent_status(conn: AsyncConnection, user_id: int, key: str,
                            since: datetime) -> int | None:
    return (await conn.execute(select(idempotency_keys.c.status_id).where(
        idempotency_keys.c.user_id == user_id, idempotency_keys.c.key == key,
        idempotency_keys.c.created_at >= since))).scalar_one_or_none()


async def remember_idempotency(conn: AsyncConnection, user_id: int, key: str,
                               status_id: int) -> None:
    await conn.execute(delete(idempotency_keys).where(idempotency_keys.c.user_id == user_id,
                                                      idempotency_keys.c.key == key))
    await conn.execute(idempotency_keys.insert().values(
        user_id=user_id, key=key, status_id=status_id, created_at=utcnow()))


# -- follows, as timelines need them ------------------------------------------------------

async def following_ids(conn: AsyncConnection, actor_id: int) -> list[int]:
    rows = await conn.execute(select(follows.c.followed_id).where(
        follows.c.follower_id == actor_id, follows.c.state == "accepted"))
    return [r[0] for r in rows]


async def following(conn: AsyncConnection, actor_id: int) -> dict[int, str]:
    """The accounts ``actor_id`` follows (accepted): their URIs by id."""
    rows = await conn.execute(
        select(actors.c.id, actors.c.uri).join(follows, follows.c.followed_id == actors.c.id)
        .where(follows.c.follower_id == actor_id, follows.c.state == "accepted"))
    return {r.id: r.uri for r in rows}


async def count_by_author(conn: AsyncConnection, actor_id: int) -> int:
    """Statuses anyone may see: public ones, not held for approval (never the direct,
    members-only or network ones, whose number alone says something)."""
    return (await count_by_authors(conn, [actor_id]))[actor_id]


async def count_by_authors(conn: AsyncConnection, actor_ids: Iterable[int], *,
                           after: Mapping[int, int] | None = None) -> dict[int, int]:
    """``count_by_author`` of several accounts in one statement (a page's accounts); with
    ``after``, of each account given there only its statuses after that id (what is new
    since a count was kept). Each account is counted on its own entries of the partial
    index ``ix_statuses_public_authors`` (index only: with an IN list SQLite, without
    statistics, would rather walk every public status on ix_statuses_public), and only its
    offers and needs are looked up in ``posts``."""
    wanted = sorted(set(actor_ids))
    out = dict.fromkeys(wanted, 0)
    if not wanted:
        return out
    stmt = _COUNT_STATEMENTS.get(len(wanted))
    if stmt is None:
        held = select(posts.c.id).where(posts.c.id == statuses.c.post_id,
                                        or_(posts.c.held.is_(True), posts.c.hidden.is_(True)))
        stmt = _COUNT_STATEMENTS[len(wanted)] = union_all(*[
            select(cast(bindparam(f"a{i}", type_=BigInteger), BigInteger).label("aid"),
                   func.count().label("n"))
            .select_from(statuses)
            .where(statuses.c.account_id == bindparam(f"a{i}"), COUNTED,
                   statuses.c.id > bindparam(f"after{i}"),
                   or_(statuses.c.post_id.is_(None), ~held.exists()))
            for i in range(len(wanted))])
    values: dict[str, int] = {}
    for i, aid in enumerate(wanted):
        values[f"a{i}"] = aid
        values[f"after{i}"] = (after or {}).get(aid, 0)
    for aid, n in await conn.execute(stmt, values):
        out[int(aid)] = int(n)
    return out


#: ``count_by_authors``'s statement by number of accounts (built once, reused).
_COUNT_STATEMENTS: dict[int, Any] = {}


async def newest_by_authors(conn: AsyncConnection, actor_ids: Iterable[int]
                            ) -> dict[int, int | None]:
    """Each account's newest status id (None: none), one index probe each
    (ix_statuses_account_id)."""
    wanted = sorted(set(actor_ids))
    if not wanted:
        return {}
    newest = (select(func.max(statuses.c.id)).where(statuses.c.account_id == actors.c.id)
              .correlate(actors).scalar_subquery())
    rows = await conn.execute(select(actors.c.id, newest).where(actors.c.id.in_(wanted)))
    out: dict[int, int | None] = dict.fromkeys(wanted)
    for aid, top in rows:
        out[aid] = int(top) if top is not None else None
    return out


async def add_recipients(conn: AsyncConnection, status_id: int, actor_ids: Sequence[int]
                         ) -> None:
    rows = [{"status_id": status_id, "actor_id": a, "mention": True}
            for a in dict.fromkeys(actor_ids)]
    if rows:
        await conn.execute(insert_ignore(conn, status_recipients, ["status_id", "actor_id"]),
                           rows)


async def text_ids(conn: AsyncConnection, page: Page, words: Sequence[str], *,
                   hidden: Hidden | None = None) -> list[int]:
    """Candidate statuses containing every word (case-insensitive) in their text, or, for
    offers and needs, in the post's title or description. Callers check visibility."""
    q = without_hidden(select(statuses.c.id).where(statuses.c.reblog_of_id.is_(None)), hidden)
    for word in words:
        in_post = select(posts.c.id).where(or_(posts.c.title.icontains(word, autoescape=True),
                                               posts.c.description.icontains(
                                                   word, autoescape=True)))
        q = q.where(or_(statuses.c.content.icontains(word, autoescape=True),
                        statuses.c.post_id.in_(in_post)))
    return [r[0] for r in await conn.execute(paged(q, statuses.c.id, page))]


@dataclass(frozen=True)
class Version:
    content: str
    spoiler_text: str
    sensitive: bool
    created_at: datetime


async def earlier_versions(conn: AsyncConnection, status_id: int) -> list[Version]:
    """The versions an edited status had before its current one, oldest first."""
    rows = await conn.execute(select(status_edits).where(status_edits.c.status_id == status_id)
                              .order_by(status_edits.c.id))
    return [Version(r.content, r.spoiler_text, r.sensitive, r.created_at) for r in rows]
