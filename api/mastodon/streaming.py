"""Mastodon client API: streaming (docs.joinmastodon.org/methods/streaming), over
Server-Sent Events and WebSocket, and ``/api/v1/streaming/health``.

- SSE: ``/api/v1/streaming/user``, ``/user/notification``, ``/public`` (``/local``,
  ``/remote``, ``?only_media=true``), ``/hashtag?tag=``, ``/hashtag/local?tag=``,
  ``/direct``, and ``/api/v1/streaming?stream=...``. Lines ``event: <name>`` and
  ``data: <payload>``; a ``:thump`` comment every 15 seconds keeps proxies from closing the
  connection.
- WebSocket: ``/api/v1/streaming`` with the token as ``?access_token=``, in the
  ``Sec-WebSocket-Protocol`` header (as Mastodon's web app sends it) or as a bearer header;
  ``?stream=`` subscribes at once, then ``{"type": "subscribe"|"unsubscribe", "stream": ...,
  "tag": ...}`` messages; events are ``{"stream": [...], "event": ..., "payload": "<JSON
  string>"}``.

Every stream needs a user token (as Mastodon by default; public streams included):
``read:statuses`` (or ``read``), ``read:notifications`` for ``user:notification``; the
``user`` stream carries notifications only for tokens that may read them. The token is
checked again every 15 seconds: a revoked token's streams end.

Events: ``update`` (a Status, rendered for this connection's account through
``status_entities``, so what it may not see is never sent), ``notification``, ``delete``
(status id), ``status.update``, and ``conversation`` on the ``direct`` stream. Lists do not
exist here, so the ``list`` stream answers 404.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import orjson
from starlette.requests import HTTPConnection, Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from api.errors import status_for
from api.mastodon.common import CORS_HEADERS, cors
from api.mastodon.entities import status_entities
from api.responses import FastJSON
from fediaid.domain.paging import Page
from fediaid.domain.users import User
from fediaid.errors import FediaidError, Forbidden, NotFound, Unauthenticated
from fediaid.services.oauth import allows
from fediaid.services.runtime import Runtime
from fediaid.services.streaming import Stream, StreamEvent, Subscription, parse_stream

HEARTBEAT_SECONDS = 15.0
TOKEN_CHECK_SECONDS = 15.0


def _rt(conn: HTTPConnection) -> Runtime:
    rt: Runtime = conn.app.state.runtime
    return rt


def _token(conn: HTTPConnection, *, protocol: bool = False) -> str | None:
    header = conn.headers.get("authorization", "")
    kind, _, value = header.strip().partition(" ")
    if kind.lower() == "bearer" and value.strip():
        return value.strip()
    if conn.query_params.get("access_token"):
        return conn.query_params["access_token"]
    if protocol:
        offered = conn.headers.get("sec-websocket-protocol", "").split(",")[0].strip()
        return offered or None
    return None


def _needed(stream: Stream) -> str:
    return "read:notifications" if stream[0] == "user:notification" else "read:statuses"


async def _authenticate(rt: Runtime, token: str | None) -> tuple[User, frozenset[str]]:
    if not token:
        raise Unauthenticated("Missing access token")
    try:
        user, scopes = await rt.accounts.authenticate_token(token)
    except Unauthenticated as exc:
        raise Unauthenticated("Invalid access token") from exc
    if user is None:
        raise Unauthenticated("This method requires an authenticated user")
    if not (allows(scopes, "read:statuses") or allows(scopes, "read:notifications")):
        raise Forbidden("This action is outside the authorized scopes")
    return user, scopes


def _check_scope(scopes: frozenset[str], stream: Stream) -> None:
    if not allows(scopes, _needed(stream)):
        raise Forbidden("This action is outside the authorized scopes")


async def _still_valid(rt: Runtime, token: str, user: User) -> bool:
    """The token still works and its account is as it was when the stream opened (a
    coordinator who is no longer one must not keep seeing what coordinators see: the
    stream ends and the app reconnects with the current role)."""
    try:
        now, _ = await rt.accounts.authenticate_token(token)
    except Unauthenticated:
        return False
    return now is not None and now.role == user.role and not now.disabled


# -- rendering, per connection --------------------------------------------------------------
def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


async def _render(rt: Runtime, sub: Subscription, ev: StreamEvent) -> str | None:
    """The event's payload for this connection, or None when it has nothing to show it
    (a status it may not see, a notification dismissed meanwhile)."""
    if ev.event == "delete":
        return str(ev.id)
    user = sub.user
    if ev.event in ("update", "status.update"):
        if user is not None and not await rt.status_reading.in_lists(
                await rt.status_reading.viewer(user), [ev.id]):
            return None  # blocked or muted by this account (visibility.shown_in_lists)
        found = await status_entities(rt, user, [ev.id])
        return _json(found[0]) if found else None
    if user is None:  # pragma: no cover - user streams need a user (Subscription.add)
        return None
    if ev.event == "notification":
        from api.mastodon.notifications import _render as notification_entities

        try:
            row = await rt.notifications.get(user, ev.id)
        except NotFound:
            return None
        entities = await notification_entities(rt, user, [row])
        return _json(entities[0]) if entities else None
    if ev.event == "conversation":
        if not await rt.status_reading.in_lists(await rt.status_reading.viewer(user), [ev.id]):
            return None
        from api.mastodon.conversations import _entities as conversation_entities

        items = [c for c in await rt.client_conversations.page(user, Page(limit=20))
                 if c.last_status_id == ev.id]
        if not items:
            return None
        entities = await conversation_entities(rt, user, items[:1])
        return _json(entities[0]) if entities and entities[0]["last_status"] else None
    return None


async def _events(rt: Runtime, sub: Subscription, token: str) -> Any:
    """(event, payload) pairs for a connection, None for a heartbeat; ends when the
    subscription ends or the token stops being valid."""
    checked = time.monotonic()
    while True:
        if time.monotonic() - checked > TOKEN_CHECK_SECONDS:
            if not await _still_valid(rt, token, sub.user):
                return
            checked = time.monotonic()
        try:
            ev = await asyncio.wait_for(sub.next(), HEARTBEAT_SECONDS)
        except TimeoutError:
            yield None
            continue
        if ev is None:
            return
        payload = await _render(rt, sub, ev)
        if payload is not None:
            yield ev, payload


# -- SSE ----------------------------------------------------------------------------------
def _truthy(value: str | None) -> bool:
    return (value or "").lower() in ("1", "true", "yes", "on")


def _stream_of(request: Request, name: str | None) -> Stream:
    q = request.query_params
    name = name or q.get("stream")
    if name in ("public", "public:local", "public:remote") and _truthy(q.get("only_media")):
        name += ":media"
    return parse_stream(name, tag=q.get("tag"), list_id=q.get("list"))


async def _sse(rt: Runtime, sub: Subscription, token: str) -> Any:
    try:
        yield ":)\n\n"
        async for item in _events(rt, sub, token):
            if item is None:
                yield ":thump\n\n"
            else:
                ev, payload = item
                yield f"event: {ev.event}\ndata: {payload}\n\n"
    finally:
        sub.end()


def sse(name: str | None) -> Any:
    @cors
    async def handler(request: Request) -> Response:
        rt = _rt(request)
        stream = _stream_of(request, name)
        token = _token(request)
        user, scopes = await _authenticate(rt, token)
        _check_scope(scopes, stream)
        assert token is not None
        sub = rt.streaming.subscribe(user, notifications=allows(scopes, "read:notifications"))
        try:
            sub.add(stream)
        except FediaidError:
            sub.end()
            raise
        return StreamingResponse(_sse(rt, sub, token), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store",
                                          "X-Accel-Buffering": "no"})

    handler.__name__ = f"stream_{(name or 'any').replace(':', '_')}"
    return handler


@cors
async def health(request: Request) -> Response:
    return PlainTextResponse("OK")


# -- WebSocket ----------------------------------------------------------------------------
async def _ws_error(ws: WebSocket, exc: FediaidError) -> None:
    await ws.send_text(_json({"error": exc.public, "status": status_for(exc)}))


async def _ws_reader(ws: WebSocket, sub: Subscription, scopes: frozenset[str]) -> None:
    try:
        while True:
            text = await ws.receive_text()
            try:
                msg = orjson.loads(text)
                if not isinstance(msg, dict):
                    raise ValueError
            except ValueError:
                await ws.send_text(_json({"error": "Could not parse the message",
                                          "status": 400}))
                continue
            kind = msg.get("type")
            try:
                stream = parse_stream(str(msg.get("stream") or ""),
                                      tag=str(msg.get("tag") or ""),
                                      list_id=str(msg.get("list") or ""))
                if kind == "subscribe":
                    _check_scope(scopes, stream)
                    sub.add(stream)
                elif kind == "unsubscribe":
                    sub.remove(stream)
                else:
                    await ws.send_text(_json({"error": "Unknown message type",
                                              "status": 400}))
            except FediaidError as exc:
                await _ws_error(ws, exc)
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        sub.end()


async def websocket(ws: WebSocket) -> None:
    rt = _rt(ws)
    from_protocol = _token(ws) is None
    token = _token(ws, protocol=True)
    try:
        user, scopes = await _authenticate(rt, token)
        first: Stream | None = None
        if ws.query_params.get("stream"):
            first = parse_stream(ws.query_params["stream"], tag=ws.query_params.get("tag"),
                                 list_id=ws.query_params.get("list"))
            _check_scope(scopes, first)
    except FediaidError as exc:
        if "websocket.http.response" in ws.scope.get("extensions", {}):
            await ws.send_denial_response(FastJSON({"error": exc.public},
                                                   status_code=status_for(exc),
                                                   headers=CORS_HEADERS))
        else:
            await ws.close(code=1008)
        return
    assert token is not None
    await ws.accept(subprotocol=token if from_protocol else None)
    sub = rt.streaming.subscribe(user, notifications=allows(scopes, "read:notifications"))
    if first is not None:
        sub.add(first)
    reader = asyncio.create_task(_ws_reader(ws, sub, scopes))
    try:
        async for item in _events(rt, sub, token):
            if item is None:
                continue  # the WebSocket layer pings by itself
            ev, payload = item
            await ws.send_text(_json({"stream": list(ev.stream), "event": ev.event,
                                      "payload": payload}))
    except (WebSocketDisconnect, RuntimeError, OSError):
        pass
    finally:
        sub.end()
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        with contextlib.suppress(RuntimeError, OSError, WebSocketDisconnect):
            await ws.close(code=1001)


BASE = "/api/v1/streaming"
ROUTES: list[BaseRoute] = [
    Route(f"{BASE}/health", health, methods=["GET", "OPTIONS"]),
    Route(f"{BASE}/user", sse("user"), methods=["GET", "OPTIONS"]),
    Route(f"{BASE}/user/notification", sse("user:notification"), methods=["GET", "OPTIONS"]),
    Route(f"{BASE}/public", sse("public"), methods=["GET", "OPTIONS"]),
    Route(f"{BASE}/public/local", sse("public:local"), methods=["GET", "OPTIONS"]),
    Route(f"{BASE}/public/remote", sse("public:remote"), methods=["GET", "OPTIONS"]),
    Route(f"{BASE}/hashtag", sse("hashtag"), methods=["GET", "OPTIONS"]),
    Route(f"{BASE}/hashtag/local", sse("hashtag:local"), methods=["GET", "OPTIONS"]),
    Route(f"{BASE}/direct", sse("direct"), methods=["GET", "OPTIONS"]),
    Route(f"{BASE}/list", sse("list"), methods=["GET", "OPTIONS"]),
    Route(BASE, sse(None), methods=["GET", "OPTIONS"]),
    WebSocketRoute(BASE, websocket),
]
