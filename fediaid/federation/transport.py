"""The delivery transport: signed POSTs of activities to remote inboxes.

Deliveries use aiohttp rather than httpx: on this hardware httpx 0.28's connection pool caps
signed fan-out near 220 POSTs/s per process while aiohttp reaches ~840 (PERFORMANCE.md
section 2g; bench/fanout.py measures ours). Fetches keep using httpx (activitypub.client).

aiohttp is imported on the first delivery, not with this module: it is ~8 MB of resident
memory and ~0.15 s of start-up that an idle or inbox-only server never needs
(bench/memory.py, bench/start.py).

The same address policy as fetches applies: a resolver that drops private and special
addresses (checked on the addresses actually connected to), and an explicit check for IP
literals, which aiohttp never passes to the resolver.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from activitypub.errors import UnsafeAddress
from activitypub.net import is_public_address

if TYPE_CHECKING:
    import aiohttp


@dataclass(frozen=True)
class PostResult:
    status: int | None  # None: no HTTP answer (network error, timeout, refused address)
    retry_after: str | None = None
    error: str | None = None


class DeliveryTransport(Protocol):
    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> PostResult: ...

    async def aclose(self) -> None: ...


def _safe_resolver(allow_private: bool) -> Any:
    """An aiohttp resolver that refuses private and special addresses (built lazily, since
    its base class lives in aiohttp)."""
    import aiohttp
    from aiohttp.abc import AbstractResolver, ResolveResult

    class SafeResolver(AbstractResolver):
        def __init__(self) -> None:
            self._inner = aiohttp.ThreadedResolver()

        async def resolve(self, host: str, port: int = 0,
                          family: socket.AddressFamily = socket.AF_INET
                          ) -> list[ResolveResult]:
            results = await self._inner.resolve(host, port, family)
            allowed = [r for r in results if allow_private or is_public_address(r["host"])]
            if not allowed:
                raise OSError(f"{host} resolves only to private or special addresses")
            return allowed

        async def close(self) -> None:
            await self._inner.close()

    return SafeResolver()


class AiohttpTransport:
    def __init__(self, *, allow_private: bool, timeout: float, concurrency: int,
                 user_agent: str) -> None:
        self._allow_private = allow_private
        self._timeout_seconds = timeout
        self._concurrency = concurrency
        self._user_agent = user_agent
        self._session: aiohttp.ClientSession | None = None
        self._errors: tuple[type[BaseException], ...] = (TimeoutError, OSError)

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            import aiohttp

            self._errors = (TimeoutError, aiohttp.ClientError, OSError)
            connector = aiohttp.TCPConnector(
                limit=self._concurrency,
                limit_per_host=8,
                resolver=_safe_resolver(self._allow_private),
                ttl_dns_cache=300,
                keepalive_timeout=30,
            )
            timeout = aiohttp.ClientTimeout(total=self._timeout_seconds,
                                            connect=min(self._timeout_seconds, 5.0))
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=timeout,
                headers={"User-Agent": self._user_agent}, auto_decompress=False,
                # Deliveries never use cookies; the default jar filters every request and
                # stores every Set-Cookie (measurable per-request cost in a fan-out).
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        return self._session

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> PostResult:
        host = urlsplit(url).hostname or ""
        if not self._allow_private and _is_ip(host) and not is_public_address(host):
            return PostResult(None, error=UnsafeAddress(f"{host} is not a public address").reason)
        session = self._get_session()
        try:
            async with session.post(url, data=body, headers=headers,
                                    allow_redirects=False) as resp:
                await resp.read()
                return PostResult(resp.status, resp.headers.get("Retry-After"))
        except self._errors as exc:
            return PostResult(None, error=f"{type(exc).__name__}: {exc}"[:300])

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True
