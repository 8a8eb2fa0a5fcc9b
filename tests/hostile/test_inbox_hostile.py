"""Hostile input at the inbox: each is a clear 4xx or neutralised, never a 500, never a
state change; and a fuzz target for applying received activities (the inbox parser).
On SQLite and PostgreSQL."""

from __future__ import annotations

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from fediaid.jobs.inbox import InboxWorker
from fediaid.services.runtime import Runtime
from fediaid.storage import inbox as inbox_repo
from fediaid.storage.tables import inbox_items
from tests.support.remote import remote_actor, store

URL = "http://a.test/inbox"


async def stored(rt: Runtime) -> int:
    async with rt.db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(inbox_items)))
                   .scalar_one())


def _deep(n: int) -> bytes:
    return b'{"type":"Create","actor":"https://remote.example/users/bob","object":' + \
        b'[' * n + b']' * n + b'}'


async def test_hostile_bodies_are_4xx_and_store_nothing(client, runtime: Runtime) -> None:
    bob = remote_actor("bob")
    await store(runtime, bob)
    cases: list[bytes] = [
        _deep(10_000),                       # JSON nested 10,000 deep
        b'{"type":"Follow","actor":"https://remote.example/users/bob","x":"\xff\xfe"}',
        b'\xef\xbb\xbf{"type": "Follow"}',   # a BOM, then an activity without an actor
        b'{"type":["Follow","Like"],"actor":["https://remote.example/users/bob"]}',
        b'{"type":"Follow","actor":{"id":"javascript:alert(1)"}}',
        b'{"type":"Follow","actor":"https://remote.example/users/bob","id":' +
        b'1' * 5000 + b'}',
        b'null', b'1e999999', b'"just a string"', b'',
    ]
    for body in cases:
        signed_body, headers = bob.signed_post(URL, body)
        r = await client.post("/inbox", content=signed_body, headers=headers)
        assert 400 <= r.status_code < 500, (body[:60], r.status_code, r.text[:200])
    assert await stored(runtime) == 0


async def test_a_50_mb_body_is_413(client, runtime: Runtime) -> None:
    bob = remote_actor("bob")
    await store(runtime, bob)

    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(50):
            yield b" " * (1024 * 1024)

    r = await client.post("/inbox", content=chunks(),
                          headers={"Content-Type": "application/activity+json"})
    assert r.status_code == 413
    assert await stored(runtime) == 0


async def test_signer_not_actor_and_forged_digest(client, runtime: Runtime) -> None:
    bob, eve = remote_actor("bob"), remote_actor("eve", "evil.example")
    await store(runtime, bob)
    await store(runtime, eve)
    activity = {"id": f"{bob.uri}/f/1", "type": "Follow", "actor": bob.uri,
                "object": "http://a.test/groups/elm"}
    body, headers = eve.signed_post(URL, activity)
    assert (await client.post("/inbox", content=body, headers=headers)).status_code == 401
    body, headers = bob.signed_post(URL, activity)
    forged = {**headers, "Digest": "SHA-256=" + "A" * 43 + "="}
    assert (await client.post("/inbox", content=body, headers=forged)).status_code == 401
    # the exact same request twice is stored once (replay within the window is deduplicated)
    for _ in range(2):
        assert (await client.post("/inbox", content=body, headers=headers)).status_code == 202
    assert await stored(runtime) == 1


# --- fuzz target: applying whatever a verified sender may send --------------------------

TYPES = ["Create", "Update", "Delete", "Follow", "Undo", "Accept", "Reject", "Announce",
         "Like", "Offer", "Add", "Remove", "Block", "Flag", "Move", "EmojiReact", "Question",
         "Note", "Page", "Tombstone"]
scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**63 - 1),
                    st.text(max_size=20), st.sampled_from([
                        "https://remote.example/users/bob", "http://a.test/groups/elm",
                        "https://www.w3.org/ns/activitystreams#Public",
                        "https://remote.example/notes/1", "http://a.test/posts/1",
                        "javascript:alert(1)", "<script>alert(1)</script>"]))
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.fixed_dictionaries({"type": st.sampled_from(TYPES)}, optional={
            "id": inner, "actor": inner, "object": inner, "to": inner, "cc": inner,
            "content": inner, "attributedTo": inner, "inReplyTo": inner, "tag": inner,
            "name": inner, "published": inner})),
    max_leaves=12,
)
activities = st.fixed_dictionaries(
    {"type": st.one_of(st.sampled_from(TYPES), st.lists(st.sampled_from(TYPES), max_size=2))},
    optional={"id": values, "object": values, "to": values, "cc": values, "target": values,
              "instrument": values, "published": values},
)


@settings(max_examples=120, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(activity=activities)
async def test_fuzz_applying_activities_never_crashes(runtime: Runtime, activity) -> None:
    bob = remote_actor("bob")
    await store(runtime, bob)
    activity = {**activity, "actor": bob.uri}
    uri = activity.get("id") if isinstance(activity.get("id"), str) else None
    async with runtime.db.write() as conn:
        await inbox_repo.insert_many(conn, [inbox_repo.new_row(
            activity_uri=f"urn:fuzz:{orjson.dumps(activity).hex()[:60]}:{uri}",
            type_=str(activity["type"])[:64], actor_uri=bob.uri, signer_key_id=bob.key_id,
            payload=orjson.dumps(activity).decode())])
    worker = InboxWorker(runtime, name="fuzz")
    while await worker.run_once():
        pass
    async with runtime.db.read() as conn:
        states = {r[0] for r in await conn.execute(select(inbox_items.c.state))}
    # done or failed; pending only as a retry after a fetch that could not be made
    assert states <= {"done", "failed", "pending"}, states
