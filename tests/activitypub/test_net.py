"""The one HTTP client (``activitypub.net.make_client``) against real sockets on 127.0.0.1:
the address policy on the address actually connected to (also after a redirect), total
deadlines, capped bodies, redirects signed again, environment proxies."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx
import pytest

from activitypub import net
from activitypub.auth import HttpSignatureAuth
from activitypub.client import fetch_document
from activitypub.errors import FetchError, ResponseTooLarge, UnsafeAddress
from activitypub.keys import generate_rsa_keypair, load_private_key
from activitypub.net import ClientPolicy, is_public_address, make_client, read_limited, send

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
AP = "application/activity+json"


@pytest.mark.parametrize("address", [
    "127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "::1",
    "fe80::1", "fc00::1", "0.0.0.0", "100.64.0.1", "224.0.0.1", "::ffff:127.0.0.1",
])
def test_special_addresses_are_not_public(address: str) -> None:
    assert not is_public_address(address)


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"])
def test_global_addresses_are_public(address: str) -> None:
    assert is_public_address(address)


@asynccontextmanager
async def serving(handler: Handler, host: str = "127.0.0.1") -> AsyncIterator[int]:
    server = await asyncio.start_server(handler, host, 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


def answer(status: int, body: bytes = b"", headers: str = "") -> Handler:
    seen: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            seen.append(await reader.readuntil(b"\r\n\r\n"))
            writer.write(f"HTTP/1.1 {status} X\r\ncontent-length: {len(body)}\r\n{headers}"
                         f"connection: close\r\n\r\n".encode() + body)
            await writer.drain()
        finally:
            writer.close()

    handle.seen = seen  # type: ignore[attr-defined]
    return handle


def policy(**kw: object) -> ClientPolicy:
    return ClientPolicy(**{"allow_private": True, "deadline": 3.0, "user_agent": "t",
                           **kw})  # type: ignore[arg-type]


async def test_loopback_is_refused_without_dev() -> None:
    async with make_client(policy(allow_private=False)) as client:
        for url in ("http://127.0.0.1:9/", "http://localhost:9/", "http://[::1]:9/"):
            with pytest.raises(UnsafeAddress):
                await client.get(url)


async def test_loopback_is_reached_in_dev() -> None:
    async with serving(answer(200, b"ok")) as port, make_client(policy()) as client:
        r = await client.get(f"http://127.0.0.1:{port}/")
    assert r.text == "ok"


async def test_the_policy_applies_to_the_address_a_redirect_leads_to(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """127.0.0.1 counts as public here, 127.0.0.2 as private: the first server's redirect to
    the second is refused when the connection is made, whatever name or literal led there."""
    monkeypatch.setattr(net, "is_public_address", lambda a: a == "127.0.0.1")
    private = answer(200, b"secret")
    async with serving(private, "127.0.0.2") as hidden:
        redirect = answer(302, headers=f"location: http://127.0.0.2:{hidden}/admin\r\n")
        async with serving(redirect) as port, make_client(policy(allow_private=False)) as c:
            with pytest.raises(UnsafeAddress):
                await send(c, "GET", f"http://127.0.0.1:{port}/", deadline=3, max_bytes=100)
    assert private.seen == []  # type: ignore[attr-defined]


async def test_the_socket_itself_refuses_a_private_address(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Below the resolver, the check every connection passes: even if a name's addresses
    were allowed when resolved (rebinding), the socket is not connected."""
    monkeypatch.setattr(net._SafeResolver, "resolve", _resolve_to_loopback)
    async with serving(answer(200, b"x")) as port:
        async with make_client(policy(allow_private=False)) as client:
            with pytest.raises(UnsafeAddress, match="not a public address"):
                await client.get(f"http://rebound.test:{port}/")


async def _resolve_to_loopback(self: object, host: str, port: int = 0,
                               family: object = None) -> list[dict[str, object]]:
    return [{"hostname": host, "host": "127.0.0.1", "port": port, "family": 2, "proto": 0,
             "flags": 0}]


async def test_a_trickling_server_cannot_hold_a_fetch_past_its_deadline() -> None:
    """One byte a second: a per-read timeout would never fire; the deadline is total."""

    async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        body = b'{"id": "x"}' * 10
        head = f"HTTP/1.1 200 OK\r\ncontent-type: {AP}\r\ncontent-length: {len(body)}\r\n\r\n"
        try:
            for byte in head.encode() + body:
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(1.0)
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async with serving(trickle) as port, make_client(policy(deadline=10.0)) as client:
        started = time.monotonic()
        with pytest.raises(FetchError, match=r"within 1\.5s"):
            await fetch_document(client, f"http://127.0.0.1:{port}/a", max_bytes=10_000,
                                 deadline=1.5)
        assert time.monotonic() - started < 2.5


async def test_the_exchange_deadline_covers_the_body_read() -> None:
    async def slow_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n")
        try:
            for _ in range(100):
                writer.write(b"x")
                await writer.drain()
                await asyncio.sleep(0.5)
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async with serving(slow_body) as port, make_client(policy(deadline=1.0)) as client:
        started = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            await client.get(f"http://127.0.0.1:{port}/")
        assert time.monotonic() - started < 2.0


async def test_bodies_are_capped() -> None:
    async with serving(answer(200, b"x" * 5000)) as port:
        async with make_client(policy(max_bytes=1000)) as client:
            with pytest.raises(ResponseTooLarge):
                await client.get(f"http://127.0.0.1:{port}/")


async def test_read_limited_refuses_big_bodies() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"x" * 5000)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        async with client.stream("GET", "http://x.test/") as resp:
            with pytest.raises(ResponseTooLarge):
                await read_limited(resp, 1000)


async def test_redirects_are_followed_a_bounded_number_of_times_and_signed_again() -> None:
    requests: list[bytes] = []

    async def hop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        requests.append(head)
        n = len(requests)
        if n <= 2:
            writer.write(f"HTTP/1.1 301 Moved\r\nlocation: /hop{n}\r\ncontent-length: 0\r\n"
                         f"connection: close\r\n\r\n".encode())
        else:
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
        await writer.drain()
        writer.close()

    keys = generate_rsa_keypair()
    auth = HttpSignatureAuth(key_id="https://a.test/actor#main-key",
                             private_key=load_private_key(keys.private_pem))
    async with serving(hop) as port, make_client(policy(), auth=auth) as client:
        got = await send(client, "GET", f"http://127.0.0.1:{port}/start", deadline=3,
                         max_bytes=100, max_redirects=2)
        assert (got.status, got.body, got.url) == (200, b"ok", f"http://127.0.0.1:{port}/hop2")
        requests.clear()
        capped = await send(client, "GET", f"http://127.0.0.1:{port}/start", deadline=3,
                            max_bytes=100, max_redirects=1)
        assert capped.status == 301  # one hop allowed, the second redirect is the answer
    targets = [b"(request-target) host date" in r and b"signature=" in r.lower()
               for r in requests]
    assert all(targets)


async def test_post_follows_only_307_and_308() -> None:
    async with serving(answer(302, headers="location: /x\r\n")) as port:
        async with make_client(policy()) as client:
            got = await send(client, "POST", f"http://127.0.0.1:{port}/", content=b"{}",
                             deadline=3, max_bytes=100)
    assert got.status == 302


async def test_environment_proxies_are_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    proxy = answer(200, b"via proxy")
    async with serving(proxy) as port:
        monkeypatch.setenv("HTTP_PROXY", f"127.0.0.1:{port}")
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        async with make_client(policy()) as client:
            r = await client.get("http://127.0.0.1:9/doc")
    assert r.text == "via proxy"
    assert proxy.seen[0].startswith(b"GET http://127.0.0.1:9/doc HTTP/1.1")  # type: ignore[attr-defined]


async def test_a_request_signed_as_another_actor_follows_no_redirect_to_another_origin(
        ) -> None:
    """``send(..., auth=...)`` signs as one of our other actors (our group, for what a linked
    group gives it alone): a redirect within the origin is followed and signed again, one to
    another host or port is the answer, and that host gets nothing."""
    elsewhere = answer(200, b"elsewhere")
    keys = generate_rsa_keypair()
    group = HttpSignatureAuth(key_id="https://a.test/groups/g#main-key",
                              private_key=load_private_key(keys.private_pem))
    async with serving(elsewhere) as other:
        seen: list[bytes] = []

        async def redirecting(reader: asyncio.StreamReader,
                              writer: asyncio.StreamWriter) -> None:
            head = await reader.readuntil(b"\r\n\r\n")
            seen.append(head)
            where = (b"/same" if head.startswith(b"GET /start ")
                     else f"http://127.0.0.1:{other}/list".encode())
            writer.write(b"HTTP/1.1 302 Found\r\nlocation: " + where +
                         b"\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            await writer.drain()
            writer.close()

        async with serving(redirecting) as port, make_client(policy()) as client:
            got = await send(client, "GET", f"http://127.0.0.1:{port}/start", deadline=3,
                             max_bytes=100, auth=group)
            assert got.status == 302 and got.url == f"http://127.0.0.1:{port}/same"
            assert len(seen) == 2 and all(b'keyid="https://a.test/groups/g#main-key"'
                                          in h.lower() for h in seen)
            assert elsewhere.seen == []  # type: ignore[attr-defined]
            # The client's own signature (the instance actor) follows it, as before.
            followed = await send(client, "GET", f"http://127.0.0.1:{port}/same",
                                  deadline=3, max_bytes=100)
            assert (followed.status, followed.body) == (200, b"elsewhere")
