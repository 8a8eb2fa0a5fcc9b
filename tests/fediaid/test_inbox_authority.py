"""Only an object's own actor may take it back: a remote actor cannot Undo, Delete or Update
another actor's boost, like, follow or note, nor pass off an activity under someone else's
id. In process, against SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import select

from api.mastodon.params import status_draft
from fediaid.services.runtime import Runtime
from fediaid.storage import objects as objects_repo
from fediaid.storage import statuses as statuses_repo
from fediaid.storage.tables import favourites, follows, shares, statuses
from tests.fediaid.test_inbox_processing import PUBLIC, count, follow_of, note, receive
from tests.support.remote import RemoteActor, remote_actor, store


async def _setup(rt: Runtime) -> tuple[RemoteActor, RemoteActor, str, int]:
    """alice (remote) boosts and likes maria's public status and follows the group; eve is
    on another server. Returns (alice, eve, status uri, status id)."""
    maria = await rt.accounts.create_user("maria")
    sid = await rt.status_posting.create(maria, status_draft({"status": "Soup night on Friday"}))
    async with rt.db.read() as conn:
        uri = (await statuses_repo.find(conn, sid)).uri  # type: ignore[union-attr]
    alice = remote_actor("alice")
    eve = remote_actor("eve", "evil.example", key=1)
    await store(rt, alice)
    await store(rt, eve)
    await receive(rt, alice, {"id": f"{alice.uri}/boost/1", "type": "Announce",
                              "actor": alice.uri, "object": uri, "to": [PUBLIC]})
    await receive(rt, alice, {"id": f"{alice.uri}/like/1", "type": "Like",
                              "actor": alice.uri, "object": uri})
    await receive(rt, alice, follow_of(alice, rt))
    assert await count(rt, shares) == 1
    assert await count(rt, favourites) == 1
    assert await count(rt, follows) == 1
    return alice, eve, uri, sid


async def _reblogs(rt: Runtime, sid: int) -> int:
    async with rt.db.read() as conn:
        return int((await statuses_repo.counts(conn, [sid]))[sid]["reblogs"])


async def test_undo_of_another_actors_boost_leaves_it(runtime: Runtime) -> None:
    rt = runtime
    alice, eve, _uri, sid = await _setup(rt)
    boost = f"{alice.uri}/boost/1"
    # By id only, by a typed reference, and with the inner actor claimed to be alice.
    for n, inner in enumerate([boost, {"id": boost, "type": "Announce"},
                               {"id": boost, "type": "Announce", "actor": alice.uri}]):
        await receive(rt, eve, {"id": f"{eve.uri}/undo/{n}", "type": "Undo",
                                "actor": eve.uri, "object": inner})
    assert await count(rt, shares) == 1
    assert await _reblogs(rt, sid) == 1
    # alice can.
    await receive(rt, alice, {"id": f"{alice.uri}/undo/1", "type": "Undo", "actor": alice.uri,
                              "object": {"id": boost, "type": "Announce"}})
    assert await count(rt, shares) == 0
    assert await _reblogs(rt, sid) == 0


async def test_undo_of_another_actors_like_and_follow_leaves_them(runtime: Runtime) -> None:
    rt = runtime
    alice, eve, _uri, _sid = await _setup(rt)
    for n, inner in enumerate([f"{alice.uri}/like/1",
                               {"id": f"{alice.uri}/like/1", "type": "Like",
                                "actor": alice.uri},
                               f"{alice.uri}/follows/1",
                               {"id": f"{alice.uri}/follows/1", "type": "Follow",
                                "actor": alice.uri, "object": rt.identity.group.uri}]):
        await receive(rt, eve, {"id": f"{eve.uri}/undo/{n}", "type": "Undo",
                                "actor": eve.uri, "object": inner})
    assert await count(rt, favourites) == 1
    assert await count(rt, follows) == 1
    assert await count(rt, shares) == 1


async def test_delete_and_update_of_another_actors_things_leave_them(runtime: Runtime
                                                                     ) -> None:
    rt = runtime
    alice, eve, _uri, sid = await _setup(rt)
    await receive(rt, alice, {"id": f"{alice.uri}/c/1", "type": "Create", "actor": alice.uri,
                              "object": note(alice, 1)})
    for n, target in enumerate([f"{alice.uri}/boost/1", f"{alice.uri}/notes/1",
                                f"{alice.uri}/like/1"]):
        await receive(rt, eve, {"id": f"{eve.uri}/del/{n}", "type": "Delete",
                                "actor": eve.uri, "object": target})
    await receive(rt, eve, {"id": f"{eve.uri}/upd/1", "type": "Update", "actor": eve.uri,
                            "object": note(alice, 1, content="<p>hacked</p>")})
    async with rt.db.read() as conn:
        obj = await objects_repo.find_by_uri(conn, f"{alice.uri}/notes/1")
        st = (await conn.execute(select(statuses.c.content).where(
            statuses.c.uri == f"{alice.uri}/notes/1"))).scalar_one()
    assert obj is not None and obj.content == "<p>Spare crib</p>"
    assert st == "<p>Spare crib</p>"
    assert await count(rt, shares) == 1
    assert await count(rt, favourites) == 1
    assert await _reblogs(rt, sid) == 1


async def test_an_activity_under_another_servers_id_is_not_recorded(runtime: Runtime
                                                                    ) -> None:
    """eve cannot take alice's boost or like id first (so that alice's real one would be
    dropped as a duplicate, and eve's Undo would then remove it)."""
    rt = runtime
    maria = await rt.accounts.create_user("maria")
    sid = await rt.status_posting.create(maria, status_draft({"status": "Soup night on Friday"}))
    async with rt.db.read() as conn:
        uri = (await statuses_repo.find(conn, sid)).uri  # type: ignore[union-attr]
    alice = remote_actor("alice")
    eve = remote_actor("eve", "evil.example", key=1)
    await store(rt, alice)
    await store(rt, eve)
    await receive(rt, eve, {"id": f"{alice.uri}/boost/7", "type": "Announce",
                            "actor": eve.uri, "object": uri, "to": [PUBLIC]})
    await receive(rt, eve, {"id": f"{alice.uri}/like/7", "type": "Like",
                            "actor": eve.uri, "object": uri})
    assert await count(rt, shares) == 0
    assert await count(rt, favourites) == 0
    assert await _reblogs(rt, sid) == 0
