"""The delivery transport: signed POSTs of activities to remote inboxes.

Two implementations of ``DeliveryTransport``:

``HttpTransport`` (the fast one): a small HTTP/1.1 client built for exactly this job on
asyncio + httptools (the C parser uvicorn uses, already a dependency). A delivery is one POST
whose answer we only need the status and ``Retry-After`` of, so the client does only that:
keep-alive pools per origin (at most 8 connections per server, like before), TLS with
certificate and host name verification, a total timeout, response bodies discarded (and the
connection dropped when a body is unframed or larger than 64 KiB). On the fan-out benchmark
(bench/fanout.py, docs/benchmarks.md) it needs about half the CPU per POST of aiohttp, and
aiohttp needed a quarter of httpx's (PERFORMANCE.md section 2g).

``AiohttpTransport``: the previous aiohttp client, kept for comparison and as a fallback.
aiohttp is imported on its first delivery, not with this module: it is ~8 MB of resident
memory and ~0.15 s of start-up that an idle or inbox-only server never needs
(bench/memory.py, bench/start.py).

Both apply the address policy of fetches: private and special addresses are refused unless
the instance allows them (development), checked on the addresses actually connected to.
"""

from __future__ import annotations

import asyncio
import ipaddress
import math
import socket
import ssl
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote, urlsplit

import httptools

from activitypub.addresses import is_public_address, resolve_allowed
from activitypub.errors import UnsafeAddress

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
        if any(ch in text for item in headers.items() for text in item for ch in "\r\n\0"):
            return PostResult(None, error="a header contains a line break")
        session = self._get_session()
        try:
            async with session.post(url, data=body, headers=headers,
                                    allow_redirects=False) as resp:
                # The answer's body is never used: read it to the end (so the connection
                # can be reused) but at most MAX_RESPONSE_BODY, so an endless body cannot
                # hold the delivery.
                left = MAX_RESPONSE_BODY
                while left > 0 and (chunk := await resp.content.read(min(left, 16384))):
                    left -= len(chunk)
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


# -- HttpTransport --------------------------------------------------------------------------

MAX_RESPONSE_BODY = 64 * 1024
PER_HOST = 8
KEEPALIVE_SECONDS = 30.0
# Time limits are checked on a coarse clock: one timer per tick for all the requests whose
# limit ends in it, instead of one timer per request (the timer was the largest single cost
# of a POST on the event loop in the fan-out benchmark). A limit ends up to one tick late.
DEADLINE_TICK = 0.05
DNS_TTL_SECONDS = 300.0
_SAFE_PATH = "/:@!$&'()*+,;=-._~%?"  # keep what is already valid (and escaped) in a target
_FRAMING = frozenset({"content-length", "transfer-encoding", "connection"})


class _ResponseError(Exception):
    """The connection broke before a usable answer; ``fresh`` says no byte was received."""

    def __init__(self, message: str, *, fresh: bool) -> None:
        super().__init__(message)
        self.fresh = fresh


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection: send a request, parse the answer's status and headers."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.idle_since = 0.0
        self._waiter: asyncio.Future[tuple[int, str | None]] | None = None
        self._reset()

    def _reset(self) -> None:
        self.status: int | None = None
        self.retry_after: str | None = None
        self.framed = False
        self.reusable = False
        self.received = False
        self.body_bytes = 0

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.received = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:  # a 101 (not an HttpParserError subclass)
            self._broken("invalid HTTP response: the server switched protocols")
        except httptools.HttpParserError as exc:
            self._broken(f"invalid HTTP response: {exc}")

    def _broken(self, message: str) -> None:
        self._finish(error=_ResponseError(message, fresh=False))
        # The parser is stuck in its error state: never reuse the connection (the bad bytes
        # may have come while it was idle in the pool, after a complete answer).
        self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.status is not None and self.status >= 200:
            self._finish()  # an answer whose body ends with the connection: we have it
        else:
            reason = f"connection closed: {exc}" if exc else "connection closed by the server"
            self._finish(error=_ResponseError(reason, fresh=not self.received))

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        lname = name.lower()
        if lname == b"retry-after":
            self.retry_after = value.decode("latin-1")[:100]
        elif lname in (b"content-length", b"transfer-encoding"):
            self.framed = True

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if status < 200:
            return  # 1xx: informational, the real answer follows
        self.status = status
        if not self.framed and status not in (204, 304):
            self._finish()  # body runs until the server closes: status is all we need

    def on_body(self, body: bytes) -> None:
        self.body_bytes += len(body)
        if self.body_bytes > MAX_RESPONSE_BODY:
            self._finish()  # we discard bodies anyway; do not read megabytes of one

    def on_message_complete(self) -> None:
        if self.status is None:
            self._reset()  # end of a 1xx answer
            return
        self.reusable = self.parser.should_keep_alive()
        self._finish()

    def _finish(self, *, error: Exception | None = None) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is None or waiter.done():
            return
        if error is not None:
            waiter.set_exception(error)
        else:
            assert self.status is not None
            waiter.set_result((self.status, self.retry_after))

    async def request(self, data: bytes) -> tuple[int, str | None]:
        assert self.transport is not None
        self._reset()
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return await self._waiter

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class _Deadlines:
    """Per-request time limits for tasks, grouped by tick (see DEADLINE_TICK). The same
    contract as ``asyncio.timeout``: the task is cancelled when its limit passes, and the
    owner turns that cancellation (and only that one) into ``TimeoutError``."""

    def __init__(self) -> None:
        self._ticks: dict[int, set[asyncio.Task[Any]]] = {}
        self._expired: set[asyncio.Task[Any]] = set()

    def start(self, task: asyncio.Task[Any], seconds: float) -> int:
        loop = asyncio.get_running_loop()
        tick = math.ceil((loop.time() + seconds) / DEADLINE_TICK)
        tasks = self._ticks.get(tick)
        if tasks is None:
            tasks = self._ticks[tick] = set()
            loop.call_at(tick * DEADLINE_TICK, self._expire, tick)
        tasks.add(task)
        return tick

    def stop(self, tick: int, task: asyncio.Task[Any]) -> None:
        tasks = self._ticks.get(tick)
        if tasks is not None:
            tasks.discard(task)

    def timed_out(self, task: asyncio.Task[Any]) -> bool:
        """After a CancelledError: was it our limit (and no other cancellation)?"""
        if task not in self._expired:
            return False
        self._expired.discard(task)
        return task.uncancel() == 0

    def _expire(self, tick: int) -> None:
        for task in self._ticks.pop(tick, ()):
            if not task.done():
                self._expired.add(task)
                task.cancel()


@dataclass
class _Origin:
    """Connections to one scheme://host:port."""

    limit: asyncio.Semaphore
    idle: list[_Connection] = field(default_factory=list)
    users: int = 0  # requests using or waiting for this origin


class HttpTransport:
    """A lean keep-alive HTTP/1.1 client for deliveries (see the module docstring)."""

    def __init__(self, *, allow_private: bool, timeout: float, concurrency: int,
                 user_agent: str, per_host: int = PER_HOST) -> None:
        self._allow_private = allow_private
        self._timeout = timeout
        self._connect_timeout = min(timeout, 5.0)
        self._limit = asyncio.Semaphore(max(1, concurrency))
        self._per_host = per_host
        self._agent = user_agent.encode("latin-1", "replace")
        self._origins: dict[tuple[str, str, int], _Origin] = {}
        self._dns: dict[tuple[str, int], tuple[float, list[str]]] = {}
        self._ssl: ssl.SSLContext | None = None
        self._deadlines = _Deadlines()
        self._sweeping = False  # a timer will close connections idle for too long

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> PostResult:
        try:
            parts = urlsplit(url)
            scheme, host = parts.scheme, parts.hostname or ""
            if scheme not in ("http", "https") or not host:
                return PostResult(None, error=f"unsupported URL {url[:200]}")
            port = parts.port or (443 if scheme == "https" else 80)
            data = self._encode(parts.path or "/", parts.query, parts.netloc, body, headers)
        except (ValueError, UnicodeError) as exc:
            return PostResult(None, error=f"invalid request: {exc}"[:300])
        key = (scheme, host, port)
        origin = self._origins.get(key)
        if origin is None:
            origin = self._origins[key] = _Origin(asyncio.Semaphore(self._per_host))
        origin.users += 1
        try:
            # The per-server slot first: waiting for a busy server must not hold one of
            # the global slots that other servers' deliveries could use.
            async with origin.limit, self._limit:
                status, retry_after = await self._limited(key, origin, data)
        except UnsafeAddress as exc:
            return PostResult(None, error=exc.reason)
        except TimeoutError:
            return PostResult(None, error=f"TimeoutError: no answer within {self._timeout:g}s")
        except (OSError, _ResponseError) as exc:
            return PostResult(None, error=f"{type(exc).__name__}: {exc}"[:300])
        finally:
            origin.users -= 1
            self._forget_if_unused(key, origin)
        return PostResult(status, retry_after)

    async def _limited(self, key: tuple[str, str, int], origin: _Origin, data: bytes
                       ) -> tuple[int, str | None]:
        """``_exchange`` within the time limit."""
        task = asyncio.current_task()
        if task is None:  # not in a task (cannot be cancelled by a timer)
            async with asyncio.timeout(self._timeout):
                return await self._exchange(key, origin, data)
        tick = self._deadlines.start(task, self._timeout)
        try:
            return await self._exchange(key, origin, data)
        except asyncio.CancelledError:
            if self._deadlines.timed_out(task):
                raise TimeoutError from None
            raise
        finally:
            self._deadlines.stop(tick, task)

    def _forget_if_unused(self, key: tuple[str, str, int], origin: _Origin) -> None:
        if not origin.idle and not origin.users and self._origins.get(key) is origin:
            del self._origins[key]

    def _encode(self, path: str, query: str, netloc: str, body: bytes,
                headers: dict[str, str]) -> bytes:
        target = quote(path, safe=_SAFE_PATH) + ("?" + quote(query, safe=_SAFE_PATH)
                                                 if query else "")
        lines = [f"POST {target} HTTP/1.1"]
        names = set()
        for name, value in headers.items():
            if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
                raise ValueError(f"header {name!r} contains a line break")
            lname = name.lower()
            if lname in _FRAMING:
                continue  # the body's framing is ours to state, exactly once
            names.add(lname)
            lines.append(f"{name}: {value}")
        if "host" not in names:
            lines.append(f"Host: {netloc.rsplit('@', 1)[-1]}")
        head = "\r\n".join(lines).encode("latin-1")
        extra = b"\r\nUser-Agent: " + self._agent if "user-agent" not in names else b""
        return (head + extra + b"\r\nContent-Length: " + str(len(body)).encode()
                + b"\r\n\r\n" + body)

    async def _exchange(self, key: tuple[str, str, int], origin: _Origin, data: bytes
                        ) -> tuple[int, str | None]:
        conn = self._take_idle(origin)
        if conn is not None:
            try:
                result = await conn.request(data)
            except _ResponseError as exc:
                conn.close()
                if not exc.fresh:
                    raise
                # The server closed the idle connection as we reused it, before answering:
                # send again on a new one (deliveries are idempotent by activity id).
            except BaseException:
                conn.close()  # timeout or cancellation: the answer may still come; drop it
                raise
            else:
                self._release(key, origin, conn)
                return result
        conn = await self._connect(*key)
        try:
            result = await conn.request(data)
        except BaseException:
            conn.close()
            raise
        self._release(key, origin, conn)
        return result

    def _take_idle(self, origin: _Origin) -> _Connection | None:
        now = time.monotonic()
        while origin.idle:
            conn = origin.idle.pop()
            transport = conn.transport
            if (not conn.closed and transport is not None and not transport.is_closing()
                    and now - conn.idle_since < KEEPALIVE_SECONDS):
                return conn
            conn.close()
        return None

    def _release(self, key: tuple[str, str, int], origin: _Origin, conn: _Connection) -> None:
        if conn.reusable and not conn.closed:
            conn.idle_since = time.monotonic()
            origin.idle.append(conn)
            # Close it once it has idled for the keep-alive time, so a fan-out to thousands
            # of servers does not leave thousands of sockets open: one sweep timer for all.
            if not self._sweeping:
                self._sweeping = True
                asyncio.get_running_loop().call_later(KEEPALIVE_SECONDS / 4, self._sweep)
        else:
            conn.close()

    def _sweep(self) -> None:
        """Close the connections that idled for the keep-alive time (within a quarter of
        it); come back while any stay idle."""
        self._sweeping = False
        now = time.monotonic()
        for key, origin in list(self._origins.items()):
            keep = [c for c in origin.idle if now - c.idle_since < KEEPALIVE_SECONDS]
            for conn in origin.idle:
                if conn not in keep:
                    conn.close()
            origin.idle[:] = keep
            self._forget_if_unused(key, origin)
        if any(origin.idle for origin in self._origins.values()):
            self._sweeping = True
            asyncio.get_running_loop().call_later(KEEPALIVE_SECONDS / 4, self._sweep)

    async def _connect(self, scheme: str, host: str, port: int) -> _Connection:
        loop = asyncio.get_running_loop()
        addresses = await self._resolve(host, port)
        tls = self._tls() if scheme == "https" else None
        last: Exception | None = None
        for address in addresses:
            try:
                async with asyncio.timeout(self._connect_timeout):
                    _, conn = await loop.create_connection(
                        _Connection, address, port, ssl=tls,
                        server_hostname=host if tls is not None else None)
                return conn
            except (OSError, TimeoutError) as exc:
                last = exc
        assert last is not None
        raise last

    async def _resolve(self, host: str, port: int) -> list[str]:
        """Allowed addresses of ``host``, cached for a while (resolution is per connection,
        and a fan-out opens connections to many servers)."""
        cached = self._dns.get((host, port))
        now = time.monotonic()
        if cached is not None and cached[0] > now:
            return cached[1]
        addresses = await resolve_allowed(host, port, allow_private=self._allow_private)
        if len(self._dns) > 4096:
            self._dns = {k: v for k, v in self._dns.items() if v[0] > now}
        self._dns[(host, port)] = (now + DNS_TTL_SECONDS, addresses)
        return addresses

    def _tls(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = ssl.create_default_context()  # verifies chains and host names
        return self._ssl

    async def aclose(self) -> None:
        for origin in self._origins.values():
            for conn in origin.idle:
                conn.close()
            origin.idle.clear()
        self._origins.clear()
