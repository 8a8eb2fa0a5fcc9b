"""Request limits applied by path, before the router (the numbers and names are in
``fediaid/domain/rate_limits.py``, the counting in ``fediaid/services/rate_limits.py``):

- the client APIs (``/api/...``): per token (a SHA-256 of it), and per address (a lower
  limit without a token), with Mastodon's ``X-RateLimit-Limit``, ``-Remaining`` and
  ``-Reset`` on every answer;
- OAuth (``/oauth/authorize``, ``/oauth/token``, ``/oauth/revoke``) and app registration,
  per address (``/oauth/token`` is limited per client too, in ``api/mastodon/oauth.py``);
- one-time login links (``/login/{secret}``), per address.

A refused request gets 429 with ``Retry-After`` (JSON with CORS headers for the APIs, a
small page otherwise). Inbox POSTs are limited in their fast path
(``api/activitypub/inbox.py``); logging in by its own locks; posting and answering by the
services."""

from __future__ import annotations

import hashlib
from datetime import UTC
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fediaid.domain import rate_limits as limits
from fediaid.services.rate_limits import Usage
from fediaid.services.runtime import Runtime

_OAUTH_PATHS = ("/oauth/authorize", "/oauth/token", "/oauth/revoke", "/api/v1/apps")
_CORS = [(b"access-control-allow-origin", b"*"),
         (b"access-control-expose-headers",
          b"Link, Retry-After, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset")]
MESSAGE = "Too many requests. Please wait a little and try again."


def address(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def bearer_digest(scope: Scope) -> str | None:
    for key, value in scope["headers"]:
        if key == b"authorization":
            kind, _, token = value.decode("latin-1").strip().partition(" ")
            if kind.lower() == "bearer" and token.strip():
                return hashlib.sha256(token.strip().encode()).hexdigest()
    return None


def iso(usage: Usage) -> str:
    return usage.reset.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


class RequestLimits:
    def __init__(self, app: ASGIApp, rt: Runtime) -> None:
        self.app = app
        self.rt = rt

    @property
    def state(self) -> Any:
        return self.app.state  # type: ignore[attr-defined]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope.get("method") == "OPTIONS":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        hit = self.rt.limits.hit
        where = address(scope)
        if path.startswith("/login/") and path != "/login/code":
            usage = await hit(limits.LOGIN_LINK_ADDRESS, where)
            if not usage.allowed:
                await self._refuse(scope, receive, send, usage, api=False)
                return
        elif path in _OAUTH_PATHS:
            usage = await hit(limits.OAUTH_ADDRESS, where)
            if not usage.allowed:
                await self._refuse(scope, receive, send, usage, api=path != "/oauth/authorize")
                return
        if not path.startswith("/api/"):
            await self.app(scope, receive, send)
            return
        token = bearer_digest(scope)
        if token is None:
            shown = await hit(limits.API_ADDRESS, where)
            refused = shown if not shown.allowed else None
        else:
            shown = await hit(limits.API_TOKEN, token)
            by_address = await hit(limits.API_ADDRESS_AUTHENTICATED, where)
            refused = next((u for u in (shown, by_address) if not u.allowed), None)
        if refused is not None:
            await self._refuse(scope, receive, send, refused, api=True)
            return
        extra = _rate_headers(shown)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, usage: Usage, *,
                      api: bool) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        headers = [(b"retry-after", str(usage.retry_after).encode())]
        if api:
            body = orjson.dumps({"error": MESSAGE})
            headers += [(b"content-type", b"application/json"), *_CORS,
                        *_rate_headers(usage)]
        else:
            from html import escape

            body = ("<!doctype html><html lang=en><meta charset=utf-8><title>429</title>"
                    "<link rel=stylesheet href='/static/site.css'><main><h1>Sorry</h1>"
                    f"<p>{escape(MESSAGE)}</p></main>").encode()
            headers.append((b"content-type", b"text/html; charset=utf-8"))
        headers += [(b"content-length", str(len(body)).encode()),
                    (b"cache-control", b"no-store")]
        await send({"type": "http.response.start", "status": 429, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _rate_headers(usage: Usage) -> list[tuple[bytes, bytes]]:
    return [(b"x-ratelimit-limit", str(usage.limit).encode()),
            (b"x-ratelimit-remaining", str(usage.remaining).encode()),
            (b"x-ratelimit-reset", iso(usage).encode())]
