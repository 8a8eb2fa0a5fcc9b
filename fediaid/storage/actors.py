"""Actors repository (local and remote) and local private keys."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from fediaid.domain.actors import Actor, ActorType, RemoteActorData
from fediaid.errors import Invalid, NotFound
from fediaid.i18n import N_
from fediaid.storage.tables import actor_keys, actors
from fediaid.storage.types import utcnow


def _to_actor(row: Any) -> Actor:
    return Actor(
        id=row.id,
        uri=row.uri,
        type=ActorType.parse(row.type) or ActorType.PERSON,
        username=row.username,
        domain=row.domain,
        local=row.local,
        name=row.name,
        summary=row.summary,
        inbox=row.inbox,
        shared_inbox=row.shared_inbox,
        outbox=row.outbox,
        followers_url=row.followers_url,
        following_url=row.following_url,
        url=row.url,
        key_id=row.key_id,
        public_key_pem=row.public_key_pem,
        icon_url=row.icon_url,
        manually_approves_followers=row.manually_approves_followers,
        created_at=row.created_at,
        header_url=row.header_url,
        deleted=row.type == "Tombstone",  # storage/member_data.TOMBSTONE
    )


async def find_by_uri(conn: AsyncConnection, uri: str) -> Actor | None:
    row = (await conn.execute(select(actors).where(actors.c.uri == uri))).first()
    return _to_actor(row) if row else None


class AuthorRef(NamedTuple):
    """What writing a received note needs of its author: the row id and the followers
    collection (which decides a followers-only note's level)."""

    id: int
    followers_url: str | None


async def author_refs(conn: AsyncConnection, uris: Iterable[str]) -> dict[str, AuthorRef]:
    """``AuthorRef`` of the actors among ``uris`` that we have, by URI (one query, two
    columns: cheaper than whole ``Actor`` values for a batch of notes)."""
    wanted = sorted(set(uris))
    if not wanted:
        return {}
    rows = await conn.execute(select(actors.c.uri, actors.c.id, actors.c.followers_url)
                              .where(actors.c.uri.in_(wanted)))
    return {uri: AuthorRef(int(actor_id), followers) for uri, actor_id, followers in rows}


async def known_uris(conn: AsyncConnection, uris: Iterable[str]) -> set[str]:
    """Which of ``uris`` we have an actor for (one query)."""
    wanted = sorted(set(uris))
    if not wanted:
        return set()
    return set((await conn.execute(select(actors.c.uri).where(actors.c.uri.in_(wanted))))
               .scalars())


async def get_by_uri(conn: AsyncConnection, uri: str) -> Actor:
    actor = await find_by_uri(conn, uri)
    if actor is None:
        raise NotFound(N_("No such account."))
    return actor


async def find_by_id(conn: AsyncConnection, actor_id: int) -> Actor | None:
    row = (await conn.execute(select(actors).where(actors.c.id == actor_id))).first()
    return _to_actor(row) if row else None


async def load_many(conn: AsyncConnection, ids: Iterable[int]) -> dict[int, Actor]:
    """Actors by id, in one query (missing ones are absent): a page of statuses' authors
    and mentions."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = await conn.execute(select(actors).where(actors.c.id.in_(wanted)))
    return {r.id: _to_actor(r) for r in rows}


async def by_uris(conn: AsyncConnection, uris: Iterable[str]) -> dict[str, Actor]:
    """Actors by URI, in one query (unknown ones are absent)."""
    wanted = sorted(set(uris))
    if not wanted:
        return {}
    rows = await conn.execute(select(actors).where(actors.c.uri.in_(wanted)))
    return {r.uri: _to_actor(r) for r in rows}


async def get_by_id(conn: AsyncConnection, actor_id: int) -> Actor:
    actor = await find_by_id(conn, actor_id)
    if actor is None:
        raise NotFound(N_("No such account."))
    return actor


async def find_by_key_id(conn: AsyncConnection, key_id: str) -> Actor | None:
    row = (await conn.execute(select(actors).where(actors.c.key_id == key_id))).first()
    return _to_actor(row) if row else None


async def find_local(conn: AsyncConnection, username: str) -> Actor | None:
    row = (
        await conn.execute(
            select(actors).where(actors.c.local.is_(True), actors.c.username == username)
        )
    ).first()
    return _to_actor(row) if row else None


async def find_by_handle(conn: AsyncConnection, username: str, domain: str) -> Actor | None:
    row = (
        await conn.execute(
            select(actors).where(
                func.lower(actors.c.username) == username.lower(), actors.c.domain == domain
            )
        )
    ).first()
    return _to_actor(row) if row else None


async def find_local_by_type(conn: AsyncConnection, type_: ActorType) -> Actor | None:
    row = (
        await conn.execute(
            select(actors)
            .where(actors.c.local.is_(True), actors.c.type == type_.value)
            .order_by(actors.c.id)
        )
    ).first()
    return _to_actor(row) if row else None


async def create_local(
    conn: AsyncConnection,
    *,
    uri: str,
    type_: ActorType,
    username: str,
    domain: str,
    name: str | None,
    summary: str | None,
    urls: dict[str, str],
    key_id: str,
    public_key_pem: str,
    private_key_pem: str,
    manually_approves_followers: bool = False,
) -> Actor:
    now = utcnow()
    result = await conn.execute(
        actors.insert()
        .values(
            uri=uri,
            type=type_.value,
            username=username,
            domain=domain,
            local=True,
            name=name,
            summary=summary,
            inbox=urls["inbox"],
            shared_inbox=urls.get("shared_inbox"),
            outbox=urls["outbox"],
            followers_url=urls["followers"],
            following_url=urls["following"],
            url=urls.get("url"),
            key_id=key_id,
            public_key_pem=public_key_pem,
            manually_approves_followers=manually_approves_followers,
            created_at=now,
            updated_at=now,
        )
        .returning(actors.c.id)
    )
    actor_id = result.scalar_one()
    await conn.execute(
        actor_keys.insert().values(
            actor_id=actor_id, private_key_pem=private_key_pem, created_at=now
        )
    )
    return await get_by_id(conn, actor_id)


async def private_key_pem(conn: AsyncConnection, actor_id: int) -> str:
    row = (
        await conn.execute(
            select(actor_keys.c.private_key_pem).where(actor_keys.c.actor_id == actor_id)
        )
    ).first()
    if row is None:
        raise NotFound(N_("This account has no signing key."))
    return str(row[0])


def _remote_values(data: RemoteActorData) -> dict[str, Any]:
    return {
        "type": data.type.value,
        "username": data.username,
        "domain": data.domain,
        "name": data.name,
        "summary": data.summary,
        "inbox": data.inbox,
        "shared_inbox": data.shared_inbox,
        "outbox": data.outbox,
        "followers_url": data.followers_url,
        "following_url": data.following_url,
        "url": data.url,
        "key_id": data.key_id,
        "public_key_pem": data.public_key_pem,
        "icon_url": data.icon_url,
        "header_url": data.header_url,
        "manually_approves_followers": data.manually_approves_followers,
    }


STORE_ATTEMPTS = 4


async def upsert_remote(conn: AsyncConnection, data: RemoteActorData) -> Actor:
    """Insert or refresh a remote actor (never touches local actors), atomic against every
    unique key of ``actors`` (uri, key_id, (domain, username)), so several processes storing
    the same new actor at once all succeed.

    - A new uri is inserted with ``ON CONFLICT DO NOTHING`` *without* a conflict target:
      every unique index is an arbiter, so a concurrent insert of the same actor (even one
      that passed PostgreSQL's pre-check at the same instant) makes ours do nothing instead
      of failing on whichever other index it reached first. We then look again: the row is
      there (refresh it), or another uri took the handle or key id (below).
    - The same handle or key id under a different uri (an account deleted and re-created,
      or moved, on its server): the uris stay *separate actors*; the existing row is never
      given the new uri, because it carries follows, favourites, conversations and who may
      see what, and a re-registered name must not inherit them. The handle and key id go to
      the document stored last (the freshest): the older row keeps its uri and loses them
      (``_release_unique``), as it did before.
    - A conflicting row that another transaction had not yet committed when we freed the
      handle makes our statement fail (PostgreSQL waits for it first): the write runs in a
      savepoint, and after that transaction has committed we free the handle again and
      retry (a few times at most: each retry needs yet another concurrent writer).
    """
    for _ in range(STORE_ATTEMPTS):
        existing = await find_by_uri(conn, data.uri)
        if existing is not None and existing.local:
            return existing
        try:
            async with conn.begin_nested():
                stored = await _store_remote(conn, data, existing)
        except IntegrityError:
            continue  # a concurrent writer took a unique value and has committed since
        if stored:
            return await get_by_uri(conn, data.uri)
    raise Invalid(f"the actor {data.uri} conflicts with another account here")


async def _store_remote(conn: AsyncConnection, data: RemoteActorData,
                        existing: Actor | None) -> bool:
    """One attempt; False when a concurrent insert got there first (look again)."""
    from fediaid.storage.dialect import insert_ignore_any

    now = utcnow()
    values = _remote_values(data)
    # Another (stale) actor may hold this key id or handle: free them first.
    await _release_unique(conn, data, keep_uri=data.uri)
    if existing is not None:
        await conn.execute(
            update(actors).where(actors.c.id == existing.id, actors.c.local.is_(False))
            .values(**values, fetched_at=now, updated_at=now))
        return True
    inserted = await conn.execute(
        insert_ignore_any(conn, actors).values(
            uri=data.uri, local=False, created_at=now, updated_at=now, fetched_at=now,
            **values).returning(actors.c.id))
    return inserted.first() is not None


async def _release_unique(conn: AsyncConnection, data: RemoteActorData, *, keep_uri: str
                          ) -> None:
    conds = []
    if data.key_id:
        conds.append(actors.c.key_id == data.key_id)
    if data.username:
        conds.append((actors.c.domain == data.domain) & (actors.c.username == data.username))
    for cond in conds:
        stmt = update(actors).where(cond, actors.c.local.is_(False), actors.c.uri != keep_uri)
        await conn.execute(stmt.values(key_id=None, username=None))


async def delete_remote(conn: AsyncConnection, uri: str) -> bool:
    """Delete a remote actor; follows, objects and shares go with it (ON DELETE CASCADE)."""
    result = await conn.execute(
        delete(actors).where(actors.c.uri == uri, actors.c.local.is_(False))
    )
    return bool(result.rowcount)


async def count_local(conn: AsyncConnection, type_: ActorType) -> int:
    return int(
        (
            await conn.execute(
                select(func.count())
                .select_from(actors)
                .where(actors.c.local.is_(True), actors.c.type == type_.value)
            )
        ).scalar_one()
    )


async def set_manually_approves(conn: AsyncConnection, actor_id: int, value: bool) -> None:
    await conn.execute(update(actors).where(actors.c.id == actor_id)
                       .values(manually_approves_followers=value, updated_at=utcnow()))
