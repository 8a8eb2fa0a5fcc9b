"""Network safety for outgoing requests: never let a remote document make us connect to a
private, loopback, link-local or otherwise special address (SSRF), unless the caller allows
it explicitly (development instances on 127.0.0.1).

The check happens when the connection is made, on the addresses actually connected to, so a
DNS answer that changes between check and use (rebinding) cannot get around it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import Any

import httpcore
import httpx

from activitypub.errors import ResponseTooLarge, UnsafeAddress


def is_public_address(address: str) -> bool:
    """True only for globally routable unicast addresses."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )


async def resolve_allowed(host: str, port: int, *, allow_private: bool) -> list[str]:
    """Resolve ``host`` and return the addresses we may connect to (in resolver order).
    Raises UnsafeAddress when none is allowed."""
    try:
        ipaddress.ip_address(host.strip("[]"))
        candidates = [host.strip("[]")]
    except ValueError:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise UnsafeAddress(f"cannot resolve {host}") from exc
        candidates = list(dict.fromkeys(str(info[4][0]) for info in infos))
    allowed = [a for a in candidates if allow_private or is_public_address(a)]
    if not allowed:
        raise UnsafeAddress(f"{host} resolves only to private or special addresses")
    return allowed


class SafeNetworkBackend(httpcore.AsyncNetworkBackend):
    """An httpcore network backend that connects only to allowed addresses."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend, *, allow_private: bool) -> None:
        self._inner = inner
        self._allow_private = allow_private

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore interface
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await resolve_allowed(host, port, allow_private=self._allow_private)
        last: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        raise UnsafeAddress("unix sockets are not allowed for remote requests")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def safe_transport(*, allow_private: bool, **kwargs: Any) -> httpx.AsyncHTTPTransport:
    """An httpx transport whose connections pass the address check.

    httpx does not take a network backend as an argument, so we set the pool's; the test
    suite pins this (tests/activitypub/test_net.py) so an httpx upgrade cannot silently
    drop the check.
    """
    transport = httpx.AsyncHTTPTransport(**kwargs)
    pool = transport._pool
    pool._network_backend = SafeNetworkBackend(
        pool._network_backend, allow_private=allow_private
    )
    return transport


async def read_limited(response: httpx.Response, max_bytes: int) -> bytes:
    """Read a streamed response body, refusing more than ``max_bytes``."""
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise ResponseTooLarge(f"response of {declared} bytes is over the {max_bytes} limit")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise ResponseTooLarge(f"response is over the {max_bytes} byte limit")
        chunks.append(chunk)
    return b"".join(chunks)
