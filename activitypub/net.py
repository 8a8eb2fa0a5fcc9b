"""The one HTTP client of every outgoing request: fetches, WebFinger, key fetches and
deliveries alike.

``make_client(policy)`` builds an ``httpx.AsyncClient`` that runs over aiohttp's connection
pools through the ``httpx-aiohttp`` adapter (httpx's API, aiohttp's speed: about 3x httpx's
own transport on the fan-out benchmark, docs/benchmarks.md). Everything about the network is
decided here, once:

- **Address policy** (``activitypub.addresses``): private, loopback and other special
  addresses are refused unless ``policy.allow_private`` (development instances). The check
  is made on the address a socket is actually about to connect to (aiohttp's
  ``socket_factory``), so neither an IP literal, nor a DNS answer that changes between check
  and use (rebinding), nor a redirect gets around it; names are also filtered when they are
  resolved, for a clear error (``UnsafeAddress``) without a connection attempt.
  ``policy.also_allow`` names exact private addresses one client may still reach (the
  group's SMS gateway phone, allowed by its coordinators): never a range or a name.
- **Deadlines**: ``policy.deadline`` bounds each exchange as a whole, connection, request,
  answer and body read (a server trickling one byte a second cannot hold a request past it);
  ``send()`` bounds a whole request, redirects included.
- **Capped bodies**: no answer is read past ``policy.max_bytes`` (``ResponseTooLarge``).
- **Redirects**: never followed by httpx itself (a signature covers the target, so each hop
  must be signed again): ``send()`` follows at most ``policy.max_redirects``; which ones,
  the caller says (fetches follow any redirect of a GET; deliveries only 307/308, see
  fediaid/federation/transport.py).
- **Proxies**: ``HTTP_PROXY``/``HTTPS_PROXY``/``ALL_PROXY``/``NO_PROXY`` from the environment
  are honoured (as httpx does, through its public ``mounts``). The proxy makes the
  connection, so the policy is checked on the target's addresses as we resolve them before
  handing the request over; a target we cannot resolve ourselves is refused.
- Pools: at most ``policy.max_connections`` connections, ``policy.per_host`` per server,
  kept alive ``policy.keepalive`` seconds; TLS with certificate and host name verification
  (certifi's roots, or ``SSL_CERT_FILE``/``SSL_CERT_DIR``); no cookies.

aiohttp and httpx are imported with this module, which nothing imports at start-up
(idle memory of ``fediaid serve``, docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import socket
import ssl
import urllib.request
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import httpx
from aiohttp.abc import AbstractResolver, ResolveResult
from httpx_aiohttp import AiohttpTransport

from activitypub.addresses import is_public_address, resolve_allowed
from activitypub.errors import ResponseTooLarge, UnsafeAddress

__all__ = ["Answer", "ClientPolicy", "RedirectRule", "is_public_address", "make_client",
           "read_limited", "resolve_allowed", "send"]

# Which redirects ``send`` follows: all of them for a GET (each hop stays a GET), only those
# that keep the method and body (307, 308) for anything else. 301/302/303 to a POST would
# turn it into a GET without its body: never followed.
RedirectRule = Callable[[httpx.Request, httpx.Response], httpx.URL | None]
_KEEP_METHOD = frozenset({307, 308})
_ANY = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True)
class ClientPolicy:
    """Everything network-related about outgoing requests (one per client)."""

    allow_private: bool = False
    # Exact private addresses this one client may connect to anyway (an SMS gateway phone on
    # the group's network, allowed by its coordinators): not a range, not a name.
    also_allow: frozenset[str] = frozenset()
    deadline: float = 10.0  # seconds for a whole exchange (and for send(), all its hops)
    connect_timeout: float = 5.0
    max_bytes: int = 2 * 1024 * 1024  # of an answer's body
    max_redirects: int = 3
    max_connections: int = 100
    per_host: int = 8
    keepalive: float = 30.0
    user_agent: str = "activitypub"


class _Refused(OSError):
    """A socket was about to connect to an address the policy refuses."""


class _SafeResolver(AbstractResolver):
    """aiohttp's resolver, keeping only the addresses the policy allows (names only: aiohttp
    does not resolve IP literals; the socket factory checks every address anyway)."""

    def __init__(self, allow_private: bool, also_allow: frozenset[str] = frozenset()) -> None:
        self._inner = aiohttp.ThreadedResolver()
        self._allow_private = allow_private
        self._also_allow = also_allow

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        allowed = [r for r in results if self._allow_private or is_public_address(r["host"])
                   or _normal(r["host"]) in self._also_allow]
        if not allowed:
            raise UnsafeAddress(f"{host} resolves only to private or special addresses")
        return allowed

    async def close(self) -> None:
        await self._inner.close()


def _socket_factory(allow_private: bool, also_allow: frozenset[str] = frozenset()
                    ) -> Callable[[Any], socket.socket]:
    def make(addr_info: Any) -> socket.socket:
        family, type_, proto, _, address = addr_info
        if not allow_private and not is_public_address(str(address[0])) and (
                _normal(str(address[0])) not in also_allow):
            raise _Refused(errno.EACCES, f"refused to connect to {address[0]}: not a public "
                                         "address")
        return socket.socket(family=family, type=type_, proto=proto)

    return make


def _normal(address: str) -> str:
    """An IP address in one spelling (for ``also_allow``); anything else as it is."""
    try:
        return str(ipaddress.ip_address(address.split("%", 1)[0].strip("[]")))
    except ValueError:
        return address


def _ip_literal(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return None


class _Stream(httpx.AsyncByteStream):
    """An answer's body, read within the exchange's deadline and up to ``max_bytes``."""

    def __init__(self, inner: httpx.AsyncByteStream, deadline: float, max_bytes: int) -> None:
        self._inner = inner
        self._deadline = deadline
        self._max_bytes = max_bytes

    async def __aiter__(self) -> AsyncIterator[bytes]:
        size = 0
        chunks = self._inner.__aiter__()
        while True:
            try:
                async with asyncio.timeout_at(self._deadline):
                    chunk = await chunks.__anext__()
            except StopAsyncIteration:
                return
            except TimeoutError:
                raise httpx.ReadTimeout("no complete answer within the deadline") from None
            except aiohttp.ClientError as exc:  # one the adapter does not map onto httpx's
                raise httpx.RemoteProtocolError(str(exc)) from exc
            size += len(chunk)
            if size > self._max_bytes:
                raise ResponseTooLarge(f"response is over the {self._max_bytes} byte limit")
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


class _Guard(httpx.AsyncBaseTransport):
    """Applies the policy around the transport that makes the connections."""

    def __init__(self, inner: httpx.AsyncBaseTransport, policy: ClientPolicy, *,
                 resolve_first: bool) -> None:
        self._inner = inner
        self._policy = policy
        self._resolve_first = resolve_first  # through a proxy: we do not connect ourselves

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        policy = self._policy
        url = request.url
        if url.scheme not in ("http", "https") or not url.host:
            raise httpx.UnsupportedProtocol(f"unsupported URL {str(url)[:200]}")
        if not policy.allow_private:
            literal = _ip_literal(url.host)
            if literal is not None and not is_public_address(literal) and (
                    literal not in policy.also_allow):
                raise UnsafeAddress(f"{url.host} is not a public address")
        if self._resolve_first and _normal(url.host) not in policy.also_allow:
            await resolve_allowed(url.host, url.port or (443 if url.scheme == "https" else 80),
                                  allow_private=policy.allow_private)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + policy.deadline
        try:
            async with asyncio.timeout_at(deadline):
                response = await self._inner.handle_async_request(request)
        except TimeoutError:
            raise httpx.ReadTimeout(f"no answer within {policy.deadline:g}s") from None
        except aiohttp.ClientError as exc:  # one the adapter does not map (a garbled answer)
            raise httpx.RemoteProtocolError(str(exc)) from exc
        except httpx.ConnectTimeout as exc:
            # The adapter maps every aiohttp connection error onto ConnectTimeout: say what
            # it was (a refused address above all).
            cause = exc.__cause__
            refused = getattr(cause, "os_error", None)
            if isinstance(refused, _Refused):
                raise UnsafeAddress(refused.strerror) from exc
            if isinstance(cause, aiohttp.ClientConnectorError):
                raise httpx.ConnectError(str(exc)) from cause
            raise
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > policy.max_bytes:
            await response.aclose()
            raise ResponseTooLarge(f"response of {declared} bytes is over the "
                                   f"{policy.max_bytes} limit")
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _Stream(response.stream, deadline, policy.max_bytes)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


def _ssl_context() -> ssl.SSLContext:
    return httpx.create_ssl_context(trust_env=True)


def _aiohttp_transport(policy: ClientPolicy, tls: ssl.SSLContext) -> AiohttpTransport:
    def session() -> aiohttp.ClientSession:  # made on first use, inside the running loop
        connector = aiohttp.TCPConnector(
            limit=policy.max_connections, limit_per_host=policy.per_host,
            resolver=_SafeResolver(policy.allow_private, policy.also_allow),
            ttl_dns_cache=300,
            keepalive_timeout=policy.keepalive, ssl=tls,
            socket_factory=_socket_factory(policy.allow_private, policy.also_allow))
        return aiohttp.ClientSession(
            connector=connector, trust_env=False, auto_decompress=False,
            # No request of ours uses cookies; the default jar filters every request.
            cookie_jar=aiohttp.DummyCookieJar())

    return AiohttpTransport(verify=tls, client=session)


def _proxy_mounts(policy: ClientPolicy, tls: ssl.SSLContext
                  ) -> dict[str, httpx.AsyncBaseTransport | None]:
    """Transports for the proxies named in the environment, as httpx's ``trust_env`` would
    mount them (``NO_PROXY`` hosts go direct)."""
    found = urllib.request.getproxies_environment()
    proxies = {scheme: found[scheme] for scheme in ("http", "https", "all") if found.get(scheme)}
    if not proxies:
        return {}
    mounts: dict[str, httpx.AsyncBaseTransport | None] = {}
    limits = httpx.Limits(max_connections=policy.max_connections,
                          keepalive_expiry=policy.keepalive)
    for scheme, url in proxies.items():
        proxy = url if "://" in url else f"http://{url}"
        mounts[f"{scheme}://"] = _Guard(
            httpx.AsyncHTTPTransport(proxy=proxy, verify=tls, limits=limits, retries=0),
            policy, resolve_first=True)
    for host in (h.strip() for h in found.get("no", "").split(",")):
        if host == "*":
            return {}
        if not host:
            continue
        if "://" in host:
            mounts[host] = None
        elif _ip_literal(host) is not None:
            mounts[f"all://[{host}]" if ":" in host else f"all://{host}"] = None
        elif host.lower() == "localhost":
            mounts[f"all://{host}"] = None
        else:
            mounts[f"all://*{host}"] = None
    return mounts


def make_client(policy: ClientPolicy, *, auth: httpx.Auth | None = None,
                headers: Mapping[str, str] | None = None) -> httpx.AsyncClient:
    """The HTTP client for outgoing requests under ``policy`` (see the module docstring)."""
    tls = _ssl_context()
    timeout = httpx.Timeout(policy.deadline, connect=policy.connect_timeout)
    return httpx.AsyncClient(
        transport=_Guard(_aiohttp_transport(policy, tls), policy, resolve_first=False),
        mounts=_proxy_mounts(policy, tls),
        timeout=timeout, follow_redirects=False, trust_env=False, auth=auth,
        headers={"User-Agent": policy.user_agent, **(headers or {})},
    )


@dataclass(frozen=True)
class Answer:
    """A complete answer to ``send``: the last hop's status, headers and (capped) body."""

    status: int
    headers: httpx.Headers
    body: bytes
    url: str  # the URL that answered (after redirects)


def follow_any(request: httpx.Request, response: httpx.Response) -> httpx.URL | None:
    """Follow every redirect of a GET or HEAD, 307/308 of anything else."""
    codes = _ANY if request.method in ("GET", "HEAD") else _KEEP_METHOD
    if response.status_code not in codes or "location" not in response.headers:
        return None
    return request.url.join(response.headers["location"])


async def send(client: httpx.AsyncClient, method: str, url: str, *,
               headers: Mapping[str, str] | None = None, content: bytes | None = None,
               deadline: float, max_bytes: int, max_redirects: int = 3,
               follow: RedirectRule = follow_any, auth: httpx.Auth | None = None) -> Answer:
    """One request with everything bounded: the whole of it, redirects and body reads
    included, within ``deadline`` seconds (``TimeoutError``), at most ``max_redirects``
    redirects that ``follow`` accepts (each hop a new request, so the client's auth signs
    it for its own target and the address policy applies to its connection), and at most
    ``max_bytes`` of the body (``ResponseTooLarge``). ``auth``: sign with it instead of the
    client's own (another actor's key, whose signature goes only where the caller chose):
    then a redirect is followed only within the first URL's origin; one to another origin
    is the answer (so a server cannot make us sign, as that actor, a request to any host)."""
    async with asyncio.timeout(deadline):
        target = first = httpx.URL(url)
        for _hop in range(max_redirects + 1):
            request = client.build_request(method, target, headers=headers, content=content)
            if auth is None:
                response = await client.send(request, stream=True)
            else:
                response = await client.send(request, stream=True, auth=auth)
            try:
                nxt = follow(request, response)
                if nxt is not None and auth is not None and _origin(nxt) != _origin(first):
                    nxt = None
                if nxt is None or _hop == max_redirects:
                    body = await read_limited(response, max_bytes)
                    return Answer(response.status_code, response.headers, body,
                                  str(response.url))
            finally:
                await response.aclose()
            target = nxt
    raise AssertionError("unreachable")  # pragma: no cover


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port


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
