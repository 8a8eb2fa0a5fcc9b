"""Outgoing requests never reach private or special addresses unless allowed."""

import asyncio

import httpx
import pytest

from activitypub.errors import ResponseTooLarge, UnsafeAddress
from activitypub.net import SafeNetworkBackend, is_public_address, read_limited, safe_transport


@pytest.mark.parametrize("address", [
    "127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "::1",
    "fe80::1", "fc00::1", "0.0.0.0", "100.64.0.1", "224.0.0.1", "::ffff:127.0.0.1",
])
def test_special_addresses_are_not_public(address: str) -> None:
    assert not is_public_address(address)


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"])
def test_global_addresses_are_public(address: str) -> None:
    assert is_public_address(address)


def test_transport_wraps_the_pool_backend() -> None:
    # Pins the httpx/httpcore internals safe_transport relies on.
    t = safe_transport(allow_private=False)
    assert isinstance(t._pool._network_backend, SafeNetworkBackend)


async def test_loopback_is_refused_without_dev() -> None:
    async with httpx.AsyncClient(transport=safe_transport(allow_private=False)) as client:
        with pytest.raises(UnsafeAddress):
            await client.get("http://127.0.0.1:9/")
        with pytest.raises(UnsafeAddress):
            await client.get("http://localhost:9/")


async def test_loopback_is_reached_in_dev() -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        async with httpx.AsyncClient(transport=safe_transport(allow_private=True)) as client:
            r = await client.get(f"http://127.0.0.1:{port}/")
    assert r.text == "ok"


async def test_read_limited_refuses_big_bodies() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"x" * 5000)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        async with client.stream("GET", "http://x.test/") as resp:
            with pytest.raises(ResponseTooLarge):
                await read_limited(resp, 1000)
