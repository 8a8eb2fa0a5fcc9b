"""Streaming (SSE and WebSocket) against a real uvicorn server in the test's event loop:
events per stream, visibility per connection, notifications, deletes, scopes, rows written
by another process (polled, no in-process wake-up), slow subscribers dropped, shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import uvicorn
import websockets
from sqlalchemy import select

from api.app import create_app
from api.mastodon import streaming as streaming_api
from api.mastodon.params import status_draft
from fediaid.services import streaming as hub_module
from fediaid.services.runtime import Runtime
from fediaid.services.streaming import StreamEvent, StreamingHub
from fediaid.storage.tables import statuses
from tests.conformance import mastodon as conformance
from tests.support.instances import free_port

TIMEOUT = 10.0


@pytest.fixture
async def base(runtime: Runtime) -> AsyncIterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(runtime), host="127.0.0.1", port=port,
                                           lifespan="off", log_config=None,
                                           timeout_graceful_shutdown=2))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
        if task.done():
            task.result()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        runtime.streaming.shutdown()
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        await runtime.streaming.close()


async def member(rt: Runtime, name: str, scopes: tuple[str, ...] = ("read", "write")
                 ) -> tuple[Any, str]:
    if name != "admin":
        await rt.accounts.create_user(name)
    user = await rt.accounts.get_user(name)
    return user, await rt.accounts.create_token(name, scopes=list(scopes))


class SSE:
    """An open SSE connection, read in the background into a queue of (event, data)."""

    def __init__(self, client: httpx.AsyncClient, url: str, token: str) -> None:
        self.events: asyncio.Queue[tuple[str, str] | None] = asyncio.Queue()
        self.comments: list[str] = []
        self.status: int | None = None
        self.opened = asyncio.Event()
        self._task = asyncio.create_task(self._read(client, url, token))

    async def _read(self, client: httpx.AsyncClient, url: str, token: str) -> None:
        try:
            async with client.stream("GET", url,
                                     headers={"Authorization": f"Bearer {token}"}) as r:
                self.status = r.status_code
                self.headers = r.headers
                self.opened.set()
                event = None
                async for line in r.aiter_lines():
                    if line.startswith(":"):
                        self.comments.append(line)
                    elif line.startswith("event: "):
                        event = line[7:]
                    elif line.startswith("data: "):
                        await self.events.put((event or "", line[6:]))
        finally:
            self.opened.set()
            await self.events.put(None)

    async def next(self, timeout: float = TIMEOUT) -> tuple[str, str] | None:
        item = await asyncio.wait_for(self.events.get(), timeout)
        if item is not None:  # each payload checked against Mastodon's entity
            conformance.validate_event(*item)
        return item

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


@contextlib.asynccontextmanager
async def sse(base: str, path: str, token: str) -> AsyncIterator[SSE]:
    async with httpx.AsyncClient(base_url=base, timeout=None) as client:
        conn = SSE(client, path, token)
        await asyncio.wait_for(conn.opened.wait(), TIMEOUT)
        assert conn.status == 200
        try:
            yield conn
        finally:
            await conn.close()


async def subscribed(rt: Runtime, n: int) -> None:
    for _ in range(500):
        if rt.streaming.subscribers >= n:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("no subscriber")


async def test_health(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/streaming/health")
    assert r.status_code == 200 and r.text == "OK"
    assert r.headers["content-type"].startswith("text/plain")
    assert r.headers["access-control-allow-origin"] == "*"


async def test_refusals(client: httpx.AsyncClient, runtime: Runtime) -> None:
    _, write_only = await member(runtime, "admin", ("write",))
    _, statuses_only = await member(runtime, "maria", ("read:statuses",))
    cases = [
        ("/api/v1/streaming/public", None, 401),
        ("/api/v1/streaming/public?access_token=nope", None, 401),
        ("/api/v1/streaming/public", write_only, 403),
        ("/api/v1/streaming/user/notification", statuses_only, 403),
        ("/api/v1/streaming?stream=nonsense", statuses_only, 400),
        ("/api/v1/streaming/hashtag", statuses_only, 400),
        ("/api/v1/streaming/list?list=1", statuses_only, 404),
    ]
    for path, token, code in cases:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        r = await client.get(path, headers=headers)
        assert r.status_code == code, (path, r.text)
        assert "error" in r.json()
    assert runtime.streaming.subscribers == 0


async def test_sse_update_delete_and_visibility_per_viewer(base: str, runtime: Runtime
                                                           ) -> None:
    admin, admin_token = await member(runtime, "admin")
    maria, maria_token = await member(runtime, "maria")
    _, bob_token = await member(runtime, "bob")
    admin_actor = await runtime.accounts.actor_of(admin)
    await runtime.client_accounts.follow(maria, admin_actor.id)  # admin is in maria's home

    async with sse(base, "/api/v1/streaming/user", maria_token) as maria_home, \
            sse(base, "/api/v1/streaming/public/local", admin_token) as public, \
            sse(base, "/api/v1/streaming/user/notification", bob_token) as bob_notes:
        assert maria_home.headers["content-type"].startswith("text/event-stream")
        await subscribed(runtime, 3)
        await asyncio.sleep(0.6)  # the poller has its starting point
        post = runtime.status_posting.create
        secret = await post(admin, status_draft({"status": "@bob the key is under the mat",
                                                 "visibility": "direct"}))
        hello = await post(admin, status_draft({"status": "Soup at 6 #dinner",
                                                "visibility": "public"}))
        # maria follows admin, so the direct message is routed to her stream, but she may
        # not see it: the first thing she gets is the public status.
        event, data = await maria_home.next()  # type: ignore[misc]
        assert event == "update"
        entity = json.loads(data)
        assert entity["id"] == str(hello) and "Soup" in entity["content"]
        assert entity["account"]["username"] == "admin"
        event, data = await public.next()  # type: ignore[misc]
        assert event == "update" and json.loads(data)["id"] == str(hello)

        event, data = await bob_notes.next()  # type: ignore[misc]
        assert event == "notification"
        note = json.loads(data)
        assert note["type"] == "mention" and note["status"]["id"] == str(secret)

        await runtime.status_posting.delete(admin, hello)
        assert await maria_home.next() == ("delete", str(hello))
        assert await public.next() == ("delete", str(hello))
        assert maria_home.comments[0] == ":)"


async def test_rows_from_another_process_are_polled(base: str, runtime: Runtime) -> None:
    """A status committed without this process's wake-up (as inbox processing in a worker
    process does) still arrives, within a poll interval."""
    admin, token = await member(runtime, "admin")
    async with sse(base, "/api/v1/streaming?stream=public", token) as public:
        await subscribed(runtime, 1)
        await asyncio.sleep(0.6)
        async with runtime.db.write() as conn:
            sid = (await conn.execute(statuses.insert().values(
                uri=f"{runtime.settings.base_url}/elsewhere/1", account_id=admin.actor_id,
                user_id=admin.id, visibility="public", listed=True, local=True,
                content="<p>from the worker</p>", created_at=datetime.now(UTC))
                .returning(statuses.c.id))).scalar_one()
        event, data = await public.next()  # type: ignore[misc]
        assert event == "update" and json.loads(data)["id"] == str(sid)
        async with runtime.db.read() as conn:
            assert (await conn.execute(select(statuses.c.id))).all()


async def test_heartbeat_revoked_token_and_shutdown(base: str, runtime: Runtime,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(streaming_api, "HEARTBEAT_SECONDS", 0.2)
    monkeypatch.setattr(streaming_api, "TOKEN_CHECK_SECONDS", 0.3)
    _, token = await member(runtime, "admin")
    _, other = await member(runtime, "maria")
    async with sse(base, "/api/v1/streaming/public", token) as first, \
            sse(base, "/api/v1/streaming/public", other) as second:
        await asyncio.sleep(0.5)
        assert ":thump" in first.comments
        # A revoked token's stream ends.
        from fediaid.storage import users as users_repo

        async with runtime.db.write() as conn:
            await users_repo.revoke_token(conn, token)
        assert await first.next() is None
        # Shutting the hub down ends the other stream at once (no waiting for uvicorn's
        # graceful timeout).
        runtime.streaming.shutdown()
        assert await second.next(timeout=2) is None
        assert runtime.streaming.subscribers == 0


async def test_websocket_subscribe_unsubscribe_and_protocol_token(base: str,
                                                                  runtime: Runtime) -> None:
    admin, token = await member(runtime, "admin")
    ws_base = base.replace("http://", "ws://") + "/api/v1/streaming"
    async with websockets.connect(f"{ws_base}?stream=public&access_token={token}") as ws, \
            websockets.connect(ws_base, subprotocols=[token]) as by_protocol:  # type: ignore[list-item]
        assert by_protocol.subprotocol == token
        await ws.send(json.dumps({"type": "subscribe", "stream": "hashtag", "tag": "Coffee"}))
        await by_protocol.send(json.dumps({"type": "subscribe", "stream": "user"}))
        await ws.send(json.dumps({"type": "subscribe", "stream": "bogus"}))
        error = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        assert error == {"error": "Unknown stream type", "status": 400}
        await subscribed(runtime, 2)
        await asyncio.sleep(0.6)
        sid = await runtime.status_posting.create(
            admin, status_draft({"status": "Fresh #coffee on the stoop"}))
        got = [json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT)) for _ in range(2)]
        assert sorted(tuple(m["stream"]) for m in got) == [("hashtag", "coffee"), ("public",)]
        assert all(m["event"] == "update" and json.loads(m["payload"])["id"] == str(sid)
                   for m in got)
        mine = json.loads(await asyncio.wait_for(by_protocol.recv(), TIMEOUT))
        assert mine["stream"] == ["user"] and json.loads(mine["payload"])["id"] == str(sid)

        await ws.send(json.dumps({"type": "unsubscribe", "stream": "hashtag", "tag": "coffee"}))
        await asyncio.sleep(0.2)
        sid2 = await runtime.status_posting.create(admin, status_draft({"status": "More #coffee"}))
        m = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        assert m["stream"] == ["public"] and json.loads(m["payload"])["id"] == str(sid2)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(ws.recv(), 1.0)  # nothing on the hashtag stream


async def test_websocket_refuses_bad_tokens(base: str) -> None:
    ws_base = base.replace("http://", "ws://") + "/api/v1/streaming"
    with pytest.raises(websockets.InvalidStatus) as caught:
        async with websockets.connect(f"{ws_base}?stream=public&access_token=nope"):
            pass
    assert caught.value.response.status_code == 401


async def test_slow_subscribers_are_dropped(runtime: Runtime,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hub_module, "QUEUE_SIZE", 5)
    hub = StreamingHub(runtime.core)
    admin = await runtime.accounts.get_user("admin")
    sub = hub.subscribe(admin, notifications=True)
    sub.add(("public",))
    for i in range(5):
        sub.offer(StreamEvent("delete", ("public",), i))
    assert not sub.dropped and await sub.next() == StreamEvent("delete", ("public",), 0)
    for i in range(5):
        sub.offer(StreamEvent("delete", ("public",), i))
    assert sub.dropped and await sub.next() is None  # the backlog is thrown away
    assert hub.subscribers == 0
    await hub.close()


def test_gaps_are_asked_for_again() -> None:
    gaps: dict[int, float] = {}
    assert StreamingHub._advance(10, [11, 14], gaps, 0.0) == 14
    assert sorted(gaps) == [12, 13]
    assert StreamingHub._advance(14, [12], gaps, 0.0) == 14
    assert sorted(gaps) == [13]


async def test_edits_and_deletions_from_another_process_are_polled(base: str,
                                                                   runtime: Runtime) -> None:
    """Stream events committed by another process (rows in ``stream_events``, without this
    process's wake-up) reach this process's subscribers: ``status.update`` for a status this
    process never routed, then ``delete``."""
    from fediaid.storage import stream as stream_repo

    admin, token = await member(runtime, "admin")
    old = await runtime.status_posting.create(admin, status_draft(
        {"status": "Bread at the corner", "visibility": "public"}))
    async with sse(base, "/api/v1/streaming?stream=public", token) as public:
        await subscribed(runtime, 1)
        await asyncio.sleep(0.6)  # the poller has its starting point (after ``old``)
        async with runtime.db.write() as conn:
            await conn.execute(statuses.update().where(statuses.c.id == old)
                               .values(content="<p>Bread and soup at the corner</p>"))
            await stream_repo.record(conn, [("update", old)])
        event, data = await public.next()  # type: ignore[misc]
        assert event == "status.update"
        assert json.loads(data)["id"] == str(old) and "soup" in json.loads(data)["content"]
        async with runtime.db.write() as conn:
            await stream_repo.record(conn, [("delete", old)])
        assert await public.next() == ("delete", str(old))
