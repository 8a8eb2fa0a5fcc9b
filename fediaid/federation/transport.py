"""The delivery transport: signed POSTs of activities to remote inboxes.

``HttpxTransport`` sends through the one HTTP client of every outgoing request
(``activitypub.net.make_client``: httpx over aiohttp's pools, the address policy checked on
the address actually connected to, environment proxies, TLS verification). What is particular
to deliveries:

- a total deadline per POST (``[delivery] timeout_seconds``), connection to last byte read;
- only the status, ``Retry-After`` and ``Location`` of an answer matter: at most 64 KiB of
  its body is read, then the connection is dropped, so an endless body cannot hold a delivery
  (the status, once known, is kept);
- no redirect is followed here: a signature covers its target, so a redirected delivery must
  be signed again. The delivery worker does that (fediaid/jobs/delivery.py) for 307/308 to the
  same host, at most ``MAX_REDIRECTS`` times; ``redirect_target`` says which are followed;
- the body's framing is the client's: a caller's ``Content-Length``, ``Transfer-Encoding`` or
  ``Connection`` is dropped, a header with a line break refused before anything is sent.

httpx and aiohttp load on the first delivery, not with this module: an idle or inbox-only
server never needs them (bench/memory.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urljoin, urlsplit

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

MAX_RESPONSE_BODY = 64 * 1024
PER_HOST = 8
# Redirects a delivery follows (307/308 only; each is signed again for its new target).
MAX_REDIRECTS = 3
_FRAMING = frozenset({"content-length", "transfer-encoding", "connection"})
_KEEP_METHOD = frozenset({307, 308})


@dataclass(frozen=True)
class PostResult:
    status: int | None  # None: no HTTP answer (network error, timeout, refused address)
    retry_after: str | None = None
    error: str | None = None
    location: str | None = None  # of a 3xx answer
    # The answer's first MAX_RESPONSE_BODY bytes (an SMS gateway's error code); not part of
    # a result's equality.
    body: bytes = field(default=b"", compare=False)


class DeliveryTransport(Protocol):
    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> PostResult: ...

    async def aclose(self) -> None: ...


def redirect_target(url: str, result: PostResult) -> str | None:
    """Where a delivery answered with ``result`` may be sent again, signed anew: a 307 or 308
    (which keep the method and body) to the same host, never from https to http. Any other
    redirect, including one to another server, is not followed: the inbox a follower gave is
    the only place her server asked us to send to, and a redirect to a third server would
    get a valid signature from us for a destination nobody chose (or domain policy vetted)."""
    if result.status not in _KEEP_METHOD or not result.location:
        return None
    target = urljoin(url, result.location)
    old, new = urlsplit(url), urlsplit(target)
    if new.scheme not in ("http", "https") or (old.scheme, new.scheme) == ("https", "http"):
        return None
    if (new.hostname or "").lower() != (old.hostname or "").lower():
        return None
    return target


class HttpxTransport:
    """Deliveries through ``activitypub.net.make_client`` (see the module docstring)."""

    def __init__(self, *, allow_private: bool, timeout: float, concurrency: int,
                 user_agent: str, per_host: int = PER_HOST, keepalive: float = 30.0,
                 also_allow: frozenset[str] = frozenset()) -> None:
        self._allow_private = allow_private
        self._also_allow = also_allow
        self._keepalive = keepalive
        self._timeout = timeout
        self._concurrency = concurrency
        self._per_host = per_host
        self._user_agent = user_agent
        self._client: httpx.AsyncClient | None = None
        self._errors: tuple[type[BaseException], ...] = ()

    def _get_client(self) -> httpx.AsyncClient:
        if self._client is None:
            import httpx

            from activitypub.errors import FetchError
            from activitypub.net import ClientPolicy, make_client

            self._errors = (httpx.HTTPError, FetchError, OSError, ValueError, TimeoutError)
            self._client = make_client(ClientPolicy(
                allow_private=self._allow_private, also_allow=self._also_allow,
                deadline=self._timeout,
                connect_timeout=min(self._timeout, 5.0),
                # Larger answers still give their status; only the first 64 KiB are read.
                max_bytes=1 << 62, max_redirects=0, max_connections=max(1, self._concurrency),
                per_host=self._per_host, keepalive=self._keepalive,
                user_agent=self._user_agent))
        return self._client

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> PostResult:
        if any(ch in text for item in headers.items() for text in item for ch in "\r\n\0"):
            return PostResult(None, error="a header contains a line break")
        sent = {k: v for k, v in headers.items() if k.lower() not in _FRAMING}
        client = self._get_client()
        try:
            # The client's policy bounds the whole exchange, connection to the last byte
            # read, by ``timeout`` (activitypub.net: one deadline per exchange).
            async with client.stream("POST", url, content=body, headers=sent) as resp:
                chunks: list[bytes] = []
                try:
                    read = 0
                    async for chunk in resp.aiter_raw():
                        read += len(chunk)
                        if read > MAX_RESPONSE_BODY:
                            break  # the connection is dropped, not reused
                        chunks.append(chunk)
                except self._errors as exc:
                    # A receiver that drops the connection after answering: the status is
                    # what counts, and we have it.
                    log.debug("reading the answer of %s failed: %s", url, _describe(exc))
                return PostResult(resp.status_code, resp.headers.get("retry-after"),
                                  location=resp.headers.get("location"),
                                  body=b"".join(chunks))
        except self._errors as exc:
            return PostResult(None, error=_describe(exc))

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def _describe(exc: BaseException) -> str:
    """``Type: message`` of the error that happened (the adapter maps aiohttp's errors onto
    httpx's: name the original when there is one)."""
    shown = exc
    if type(exc).__module__.startswith("httpx") and exc.__cause__ is not None:
        shown = exc.__cause__
    return f"{type(shown).__name__}: {shown}"[:300]
