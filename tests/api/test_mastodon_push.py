"""Web Push for Mastodon apps, end to end over loopback HTTP, on SQLite and PostgreSQL.

The instance is served by uvicorn in the test's event loop; a small Starlette push service
on another loopback port records what arrives and DECRYPTS it with the keys the test made
for the subscription (Mastodon.py's ``push_subscription_decrypt_push`` for the legacy
``aesgcm`` format, ``http_ece`` for RFC 8291's ``aes128gcm``), and checks the VAPID JWT's
signature against the ``server_key`` the API showed. Subscriptions are made with
Mastodon.py's push helpers (run in threads: it is synchronous). Every client API answer is
validated against Mastodon's schema (tests/conformance/).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import httpx
import pytest
import uvicorn
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.app import create_app
from fediaid.domain.users import User
from fediaid.federation.webpush import b64decode_any
from fediaid.jobs.push import PushWorker
from fediaid.services.runtime import Runtime
from fediaid.storage import push as push_repo
from tests.conformance import mastodon as conformance
from tests.support.instances import free_port

mastodon = pytest.importorskip("mastodon", reason="Mastodon.py is in the test extras")
http_ece = pytest.importorskip("http_ece")
py_vapid_jwt = pytest.importorskip("py_vapid.jwt")

T = TypeVar("T")
TIMEOUT = 10.0


async def in_thread(fn: Callable[[], T]) -> T:
    return await asyncio.to_thread(fn)


async def serve(app: Any, port: int) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off",
                                           log_config=None, timeout_graceful_shutdown=1))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
        if task.done():
            task.result()
    return server, task


async def shut(server: uvicorn.Server, task: asyncio.Task[None]) -> None:
    server.should_exit = True
    await asyncio.wait_for(task, TIMEOUT)


@pytest.fixture
async def base(runtime: Runtime) -> AsyncIterator[str]:
    """The instance over real HTTP on loopback."""
    server, task = await serve(create_app(runtime), free_port())
    try:
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        runtime.streaming.shutdown()
        await shut(server, task)
        await runtime.streaming.close()


@dataclass
class Arrival:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class PushServer:
    """A push service on loopback: records every POST, answers with the next status queued
    in ``answers`` (201 when none is queued); ``stop`` and ``start`` take it down and up on
    the same port."""

    port: int = field(default_factory=free_port)
    arrivals: list[Arrival] = field(default_factory=list)
    answers: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    _running: tuple[uvicorn.Server, asyncio.Task[None]] | None = None

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def endpoint(self, name: str) -> str:
        return f"{self.origin}/push/{name}"

    async def _receive(self, request: Request) -> Response:
        self.arrivals.append(Arrival(request.url.path, dict(request.headers),
                                     await request.body()))
        status, headers = self.answers.pop(0) if self.answers else (201, {})
        return Response(status_code=status, headers=headers)

    async def start(self) -> None:
        app = Starlette(routes=[Route("/push/{name}", self._receive, methods=["POST"])])
        self._running = await serve(app, self.port)

    async def stop(self) -> None:
        if self._running is not None:
            await shut(*self._running)
            self._running = None


@pytest.fixture
async def pushes() -> AsyncIterator[PushServer]:
    server = PushServer()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def session() -> Any:
    """Mastodon.py's HTTP session, every response checked against Mastodon's schema."""
    import requests

    s = requests.Session()
    s.hooks["response"].append(conformance.check_requests_response)
    return s


async def app_for(base: str, token: str) -> Any:
    return await in_thread(lambda: mastodon.Mastodon(access_token=token, api_base_url=base,
                                                     session=session()))


def http(base: str, token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {token}"},
                             timeout=TIMEOUT,
                             event_hooks={"response": [conformance.check_response]})


async def member(rt: Runtime, name: str, scopes: tuple[str, ...] = ("read", "write", "push")
                 ) -> tuple[User, str]:
    await rt.accounts.create_user(name)
    return await rt.accounts.get_user(name), await rt.accounts.create_token(
        name, scopes=list(scopes))


async def send_due(rt: Runtime) -> int:
    """Run the push queue until nothing is due now."""
    total = 0
    while claimed := await rt.push.deliver_due(worker="test"):
        total += claimed
    return total


def unpad(key: str) -> str:
    return key.rstrip("=")


def check_vapid(arrival: Arrival, server_key: str, *, origin: str, subject: str,
                standard: bool) -> None:
    """The JWT is signed by the key the API showed, for this push service, not expired."""
    auth = arrival.headers["authorization"]
    if standard:
        scheme, _, rest = auth.partition(" ")
        assert scheme == "vapid"
        parts = dict(p.strip().split("=", 1) for p in rest.split(","))
        jwt, key = parts["t"], parts["k"]
    else:
        scheme, _, jwt = auth.partition(" ")
        assert scheme == "WebPush"
        key = arrival.headers["crypto-key"].split("p256ecdsa=")[1].split(";")[0]
    assert unpad(key) == unpad(server_key)
    claims = py_vapid_jwt.decode(jwt, key)  # raises InvalidSignature on a bad signature
    assert claims["aud"] == origin and claims["sub"] == subject
    assert time.time() < claims["exp"] <= time.time() + 24 * 3600


def decrypt_standard(arrival: Arrival, private: dict[str, Any]) -> bytes:
    assert arrival.headers["content-encoding"] == "aes128gcm"
    key = ec.derive_private_key(private["privkey"], ec.SECP256R1())
    return bytes(http_ece.decrypt(arrival.body, private_key=key, auth_secret=private["auth"],
                                  version="aes128gcm"))


async def decrypt_legacy(app: Any, arrival: Arrival, private: dict[str, Any]) -> Any:
    assert arrival.headers["content-encoding"] == "aesgcm"
    return await in_thread(lambda: app.push_subscription_decrypt_push(
        arrival.body, private, arrival.headers["encryption"], arrival.headers["crypto-key"]))


async def notifications_of(base: str, token: str) -> list[dict[str, Any]]:
    async with http(base, token) as c:
        r = await c.get("/api/v1/notifications")
        assert r.status_code == 200, r.text
        return list(r.json())


async def post(base: str, token: str, text: str) -> dict[str, Any]:
    async with http(base, token) as c:
        r = await c.post("/api/v1/statuses", json={"status": text, "visibility": "public"})
        assert r.status_code == 200, r.text
        return dict(r.json())


# -- the whole path with Mastodon.py -------------------------------------------------------

async def test_mastodon_py_subscribes_and_mentions_favourites_follows_arrive_decrypted(
        runtime: Runtime, base: str, pushes: PushServer) -> None:
    _, maria_token = await member(runtime, "maria")
    _, joe_token = await member(runtime, "joe")
    app = await app_for(base, maria_token)
    private, public = await in_thread(app.push_subscription_generate_keys)
    sub = await in_thread(lambda: app.push_subscription_set(
        pushes.endpoint("maria"), public, mention_events=True, favourite_events=True,
        follow_events=True, reblog_events=False))
    assert sub["endpoint"] == pushes.endpoint("maria") and sub["policy"] == "all"
    assert sub["standard"] is False  # Mastodon.py does not send `standard`: legacy aesgcm
    assert sub["alerts"]["mention"] and sub["alerts"]["favourite"] and sub["alerts"]["follow"]
    assert not sub["alerts"]["reblog"] and not sub["alerts"]["poll"]
    # The server key: one per instance, the same everywhere apps read it.
    server_key = sub["server_key"]
    assert len(b64decode_any(server_key) or b"") == 65
    assert (await in_thread(app.push_subscription))["server_key"] == server_key
    assert (await in_thread(app.instance_v2))["configuration"]["vapid"]["public_key"] \
        == server_key
    async with httpx.AsyncClient(base_url=base, timeout=TIMEOUT) as anon:
        registered = await anon.post("/api/v1/apps", json={
            "client_name": "Tusky", "redirect_uris": "urn:ietf:wg:oauth:2.0:oob",
            "scopes": "read push"})
        assert registered.json()["vapid_key"] == server_key

    mine = await post(base, maria_token, "Anyone have a ladder?")
    await post(base, joe_token, "@maria I have a ladder you can borrow")
    async with http(base, joe_token) as joe:
        assert (await joe.post(f"/api/v1/statuses/{mine['id']}/favourite")).status_code == 200
        assert (await joe.post(f"/api/v1/statuses/{mine['id']}/reblog")).status_code == 200
        joe_id = (await joe.get("/api/v1/accounts/verify_credentials")).json()["id"]
    async with http(base, joe_token) as joe:
        maria_id = (await joe.get("/api/v1/accounts/lookup", params={"acct": "maria"})
                    ).json()["id"]
        assert (await joe.post(f"/api/v1/accounts/{maria_id}/follow")).status_code == 200
    assert await send_due(runtime) == 3  # the boost was not wanted: never queued

    listed = {n["type"]: n for n in await notifications_of(base, maria_token)}
    assert {"mention", "favourite", "reblog", "follow"} <= set(listed)
    assert [a.path for a in pushes.arrivals] == ["/push/maria"] * 3
    got = {}
    for arrival in pushes.arrivals:
        check_vapid(arrival, server_key, origin=pushes.origin,
                    subject=runtime.settings.base_url, standard=False)
        assert arrival.headers["ttl"] == "172800" and arrival.headers["urgency"] == "normal"
        payload = await decrypt_legacy(app, arrival, private)
        got[payload["notification_type"]] = payload
    assert set(got) == {"mention", "favourite", "follow"}
    for kind, payload in got.items():
        assert str(payload["notification_id"]) == listed[kind]["id"]
        assert payload["access_token"] == maria_token
        assert payload["preferred_locale"] == "en"
        assert payload["icon"].startswith("http")
        assert listed[kind]["account"]["id"] == joe_id
    assert got["mention"]["title"] == "You were mentioned by joe"
    assert "I have a ladder you can borrow" in got["mention"]["body"]
    assert got["favourite"]["title"] == "joe favorited your post"
    assert got["favourite"]["body"] == "Anyone have a ladder?"
    assert got["follow"]["title"] == "joe is now following you"
    assert await send_due(runtime) == 0 and len(pushes.arrivals) == 3  # each sent once


async def test_standard_subscription_is_aes128gcm_with_rfc8292_vapid(
        runtime: Runtime, base: str, pushes: PushServer) -> None:
    _, maria_token = await member(runtime, "maria")
    _, joe_token = await member(runtime, "joe")
    app = await app_for(base, maria_token)
    private, public = await in_thread(app.push_subscription_generate_keys)
    async with http(base, maria_token) as c:
        # JSON, URL-safe keys without padding (as browsers give them), standard: true
        r = await c.post("/api/v1/push/subscription", json={
            "subscription": {"endpoint": pushes.endpoint("std"), "standard": True,
                             "keys": {"p256dh": unpad(_b64url(public["pubkey"])),
                                      "auth": unpad(_b64url(public["auth"]))}},
            "data": {"alerts": {"mention": True}, "policy": "all"}})
        assert r.status_code == 200, r.text
        sub = r.json()
    assert sub["standard"] is True and sub["alerts"]["mention"] and not sub["alerts"]["follow"]
    await post(base, joe_token, "@maria the pantry opens at noon")
    assert await send_due(runtime) == 1
    [arrival] = pushes.arrivals
    check_vapid(arrival, sub["server_key"], origin=pushes.origin,
                subject=runtime.settings.base_url, standard=True)
    assert "encryption" not in arrival.headers and "crypto-key" not in arrival.headers
    import json

    payload = json.loads(decrypt_standard(arrival, private))
    [mention] = await notifications_of(base, maria_token)
    assert payload == {
        "access_token": maria_token, "preferred_locale": "en",
        "notification_id": int(mention["id"]), "notification_type": "mention",
        "icon": payload["icon"], "title": "You were mentioned by joe",
        "body": payload["body"]}
    assert "the pantry opens at noon" in payload["body"]


def _b64url(raw: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(raw).decode()


# -- what stops pushes -----------------------------------------------------------------------

async def test_alerts_off_policy_and_revoked_token_send_nothing(
        runtime: Runtime, base: str, pushes: PushServer) -> None:
    maria, _ = await member(runtime, "maria")
    _, joe_token = await member(runtime, "joe")
    # A token from an OAuth app, so the app can revoke it with Mastodon.py.
    registered = await runtime.oauth.register_app(
        name="Pushy", redirect_uris="urn:ietf:wg:oauth:2.0:oob", scopes="read write push",
        website=None)
    request = await runtime.oauth.check_authorization(
        response_type="code", client_id=registered.app.client_id, redirect_uri=None,
        scope="read write push", state=None, code_challenge=None, code_challenge_method=None)
    code = await runtime.oauth.create_code(request, maria)
    issued = await runtime.oauth.exchange_code(
        registered.app, code=code, redirect_uri="urn:ietf:wg:oauth:2.0:oob", code_verifier=None)
    app = await in_thread(lambda: mastodon.Mastodon(
        client_id=registered.app.client_id, client_secret=registered.client_secret,
        access_token=issued.access_token, api_base_url=base, session=session()))
    private, public = await in_thread(app.push_subscription_generate_keys)
    del private

    # Alerts off for mentions: a mention queues nothing.
    await in_thread(lambda: app.push_subscription_set(
        pushes.endpoint("a"), public, mention_events=False, follow_events=True))
    await post(base, joe_token, "@maria hello")
    assert await send_due(runtime) == 0 and pushes.arrivals == []

    # PUT replaces the data: mentions on, policy "followed" (maria follows nobody).
    sub = await in_thread(lambda: app.push_subscription_update(mention_events=True,
                                                               policy="followed"))
    assert sub["policy"] == "followed" and sub["alerts"]["mention"]
    assert not sub["alerts"]["follow"]  # not given again: off, as in Mastodon
    await post(base, joe_token, "@maria hello again")
    assert await send_due(runtime) == 1 and pushes.arrivals == []  # checked, dropped
    # Once maria follows joe, his mentions come through.
    async with http(base, issued.access_token) as c:
        joe_id = (await c.get("/api/v1/accounts/lookup", params={"acct": "joe"})).json()["id"]
        assert (await c.post(f"/api/v1/accounts/{joe_id}/follow")).status_code == 200
    await post(base, joe_token, "@maria now you follow me")
    assert await send_due(runtime) == 1 and len(pushes.arrivals) == 1

    # The app revokes its token (POST /oauth/revoke): the subscription is gone at once,
    # and a push already queued for it is not sent.
    await post(base, joe_token, "@maria queued before the revocation")
    async with httpx.AsyncClient(base_url=base, timeout=TIMEOUT) as c:
        # What Mastodon.py's revoke_access_token sends (it would look the endpoint up at
        # the instance's configured https origin, which this test instance does not serve).
        r = await c.post("/oauth/revoke", data={
            "client_id": registered.app.client_id, "client_secret": registered.client_secret,
            "token": issued.access_token})
        assert r.status_code == 200
    async with runtime.db.read() as conn:
        assert await push_repo.pending(conn) == []
    await post(base, joe_token, "@maria after the revocation")
    assert await send_due(runtime) == 0 and len(pushes.arrivals) == 1

    # A password change revokes every token: their subscriptions go too.
    other = await runtime.accounts.create_token("maria", scopes=["push"])
    other_app = await app_for(base, other)
    _, other_public = await in_thread(other_app.push_subscription_generate_keys)
    await in_thread(lambda: other_app.push_subscription_set(
        pushes.endpoint("b"), other_public, mention_events=True))
    await runtime.accounts.set_password(maria, "a long enough password")
    await post(base, joe_token, "@maria after the password change")
    assert await send_due(runtime) == 0 and len(pushes.arrivals) == 1
    async with runtime.db.read() as conn:
        assert await push_repo.for_token(conn, _digest(other)) is None


def _digest(token: str) -> str:
    from fediaid.storage.users import digest

    return digest(token)


async def test_gone_removes_the_subscription_and_down_then_up_delivers_once(
        runtime: Runtime, base: str, pushes: PushServer) -> None:
    _, maria_token = await member(runtime, "maria")
    _, joe_token = await member(runtime, "joe")
    runtime.settings = replace(runtime.settings,
                               delivery=replace(runtime.settings.delivery, retry_scale=0.0))
    app = await app_for(base, maria_token)
    _, public = await in_thread(app.push_subscription_generate_keys)
    await in_thread(lambda: app.push_subscription_set(pushes.endpoint("m"), public,
                                                      mention_events=True))

    # The push service is down (nothing listens): the push waits in the queue.
    await pushes.stop()
    await post(base, joe_token, "@maria are you there?")
    assert await runtime.push.deliver_due(worker="test") == 1
    async with runtime.db.read() as conn:
        [waiting] = await push_repo.pending(conn)
    assert waiting["attempts"] == 1 and waiting["last_status"] is None
    assert waiting["last_error"]
    # ... then up again: delivered, once.
    await pushes.start()
    assert await send_due(runtime) == 1
    assert len(pushes.arrivals) == 1
    assert await send_due(runtime) == 0 and len(pushes.arrivals) == 1

    # A 503 with Retry-After waits as long as it asks (retry_scale does not shorten it).
    pushes.answers.append((503, {"Retry-After": "120"}))
    await post(base, joe_token, "@maria busy?")
    assert await send_due(runtime) == 1
    async with runtime.db.read() as conn:
        [busy] = await push_repo.pending(conn)
    assert busy["last_status"] == 503
    assert busy["next_attempt_at"].timestamp() > time.time() + 100
    async with runtime.db.write() as conn:  # make it due now
        from sqlalchemy import update

        from fediaid.storage.tables import push_messages
        from fediaid.storage.types import utcnow

        await conn.execute(update(push_messages).values(next_attempt_at=utcnow()))
    assert await send_due(runtime) == 1 and len(pushes.arrivals) == 3

    # 410 Gone: the subscription is removed, and the API says so.
    pushes.answers.append((410, {}))
    await post(base, joe_token, "@maria still there?")
    assert await send_due(runtime) == 1
    async with runtime.db.read() as conn:
        assert await push_repo.for_token(conn, _digest(maria_token)) is None
    async with http(base, maria_token) as c:
        assert (await c.get("/api/v1/push/subscription")).status_code == 404
    await post(base, joe_token, "@maria hello?")
    assert await send_due(runtime) == 0 and len(pushes.arrivals) == 4


async def test_the_worker_sends_as_soon_as_a_notification_is_written(
        runtime: Runtime, base: str, pushes: PushServer) -> None:
    _, maria_token = await member(runtime, "maria")
    _, joe_token = await member(runtime, "joe")
    app = await app_for(base, maria_token)
    private, public = await in_thread(app.push_subscription_generate_keys)
    await in_thread(lambda: app.push_subscription_set(pushes.endpoint("w"), public,
                                                      mention_events=True))
    worker = PushWorker(runtime)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        await post(base, joe_token, "@maria the worker wakes")
        deadline = time.monotonic() + TIMEOUT
        while not pushes.arrivals and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert len(pushes.arrivals) == 1
        payload = await decrypt_legacy(app, pushes.arrivals[0], private)
        assert payload["notification_type"] == "mention"
    finally:
        stop.set()
        await asyncio.wait_for(task, TIMEOUT)


# -- the API itself ----------------------------------------------------------------------------

async def test_subscription_api_as_mastodon(runtime: Runtime, base: str,
                                            pushes: PushServer) -> None:
    _, token = await member(runtime, "maria")
    _, second = await member(runtime, "rosa")
    _, read_only = await member(runtime, "ana", scopes=("read",))
    app = await app_for(base, token)
    _, public = await in_thread(app.push_subscription_generate_keys)
    form = {"subscription[endpoint]": pushes.endpoint("x"),
            "subscription[keys][p256dh]": _b64url(public["pubkey"]),
            "subscription[keys][auth]": _b64url(public["auth"]),
            "data[alerts][mention]": "true", "data[alerts][admin.report]": "1",
            "data[alerts][unknown]": "true", "data[policy]": "follower"}
    async with http(base, token) as c:
        assert (await c.get("/api/v1/push/subscription")).status_code == 404
        assert (await c.put("/api/v1/push/subscription", data={})).status_code == 404
        r = await c.post("/api/v1/push/subscription", data=form)
        assert r.status_code == 200, r.text
        first = r.json()
        assert first["policy"] == "follower" and first["standard"] is False
        assert first["alerts"] == {"mention": True, "status": False, "reblog": False,
                                   "follow": False, "follow_request": False,
                                   "favourite": False, "poll": False, "update": False,
                                   "admin.sign_up": False, "admin.report": True}
        # One per token: a second POST replaces it (a new id).
        r = await c.post("/api/v1/push/subscription", data=form)
        assert r.status_code == 200 and r.json()["id"] != first["id"]
        assert (await c.get("/api/v1/push/subscription")).json()["id"] == r.json()["id"]
        # Several at once with one token: each replaces the one before, none fails.
        answers = await asyncio.gather(*(c.post("/api/v1/push/subscription", data=form)
                                         for _ in range(5)))
        assert [a.status_code for a in answers] == [200] * 5
        async with runtime.db.read() as conn:
            assert (await push_repo.for_token(conn, _digest(token))) is not None
            from sqlalchemy import func, select

            from fediaid.storage.tables import push_subscriptions
            assert (await conn.execute(select(func.count()).select_from(push_subscriptions))
                    ).scalar_one() == 1
        # PUT: only the data; with none given everything is off and the policy "all".
        r = await c.put("/api/v1/push/subscription", data={})
        assert r.status_code == 200 and r.json()["policy"] == "all"
        assert not any(r.json()["alerts"].values())
        assert r.json()["endpoint"] == pushes.endpoint("x")
        # Refused: bad endpoints, keys, policy; a missing subscription.
        for bad, message in (
                ({"subscription[endpoint]": "ftp://push.example/x"}, "Endpoint is invalid"),
                ({"subscription[endpoint]": ""}, "Endpoint can't be blank"),
                ({"subscription[keys][p256dh]": "AAAA"}, "Key p256dh is invalid"),
                ({"subscription[keys][p256dh]": _b64url(b"\x04" + b"\x01" * 64)},
                 "Key p256dh is invalid"),
                ({"subscription[keys][auth]": _b64url(b"short")}, "Key auth is invalid"),
                ({"subscription[keys][auth]": "!!!"}, "Key auth is invalid"),
                ({"data[policy]": "friends"}, "Policy must be one of")):
            r = await c.post("/api/v1/push/subscription", data=form | bad)
            assert r.status_code == 422, (bad, r.text)
            assert message in r.json()["error"]
        r = await c.post("/api/v1/push/subscription", data={"data[policy]": "all"})
        assert r.status_code == 400
        # Another token of another member has its own.
        async with http(base, second) as c2:
            assert (await c2.get("/api/v1/push/subscription")).status_code == 404
        r = await c.delete("/api/v1/push/subscription")
        assert r.status_code == 200 and r.json() == {}
        assert (await c.get("/api/v1/push/subscription")).status_code == 404
        assert (await c.delete("/api/v1/push/subscription")).json() == {}
    async with http(base, read_only) as c:
        assert (await c.get("/api/v1/push/subscription")).status_code == 403
    async with httpx.AsyncClient(base_url=base, timeout=TIMEOUT) as anon:
        assert (await anon.get("/api/v1/push/subscription")).status_code == 401

    # Without --dev, only https endpoints on public addresses are taken.
    runtime.settings = replace(runtime.settings, dev=False)
    async with http(base, token) as c:
        for endpoint in (pushes.endpoint("x"), "https://127.0.0.1/push",
                         "https://[::1]/push", "https://10.1.2.3/push"):
            r = await c.post("/api/v1/push/subscription",
                             data=form | {"subscription[endpoint]": endpoint})
            assert r.status_code == 422, endpoint
        r = await c.post("/api/v1/push/subscription",
                         data=form | {"subscription[endpoint]": "https://push.example/abc"})
        assert r.status_code == 200


async def test_member_data_export_and_deletion(runtime: Runtime, base: str,
                                               pushes: PushServer) -> None:
    maria, token = await member(runtime, "maria")
    _, joe_token = await member(runtime, "joe")
    app = await app_for(base, token)
    _, public = await in_thread(app.push_subscription_generate_keys)
    await in_thread(lambda: app.push_subscription_set(pushes.endpoint("secret-path"), public,
                                                      mention_events=True))
    doc = await runtime.member_data.export(maria)
    [exported] = doc["push_subscriptions"]
    assert exported["push_service"] == pushes.origin and exported["alerts"] == ["mention"]
    text = repr(doc)
    assert "secret-path" not in text and _b64url(public["auth"]).rstrip("=") not in text
    await post(base, joe_token, "@maria one more")  # queued, not yet sent
    await runtime.member_data.delete_account(maria)
    async with runtime.db.read() as conn:
        assert await push_repo.pending(conn) == []
        assert await push_repo.for_token(conn, _digest(token)) is None
    assert await send_due(runtime) == 0 and pushes.arrivals == []
