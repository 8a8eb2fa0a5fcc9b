"""Network safety for outgoing requests: never let a remote document make us connect to a
private, loopback, link-local or otherwise special address (SSRF), unless the caller allows
it explicitly (development instances on 127.0.0.1).

The check happens when the connection is made, on the addresses actually connected to, so a
DNS answer that changes between check and use (rebinding) cannot get around it.
"""

from __future__ import annotations

from typing import Any

import httpcore
import httpx

from activitypub.addresses import is_public_address, resolve_allowed
from activitypub.errors import ResponseTooLarge, UnsafeAddress

__all__ = ["SafeNetworkBackend", "is_public_address", "read_limited", "resolve_allowed",
           "safe_transport"]


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
