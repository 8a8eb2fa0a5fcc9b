"""Inboxes (per actor, the shared one, the instance actor's) as a plain ASGI app in front
of Starlette's router.

Inbox POSTs are the one request type a busy instance receives by the thousand (a popular
post's replies and boosts arrive from every server at once). Going through Starlette's
middleware stack, router and Request object costs more than the signature check itself, so
``InboxFastPath`` answers them directly and hands everything else to the full application.
Checks, cheapest first: media type 415, unknown actor 404, size 413, then
``InboxService.accept`` (401 signature, 400 JSON, 403 blocked); errors are mapped by
``api.errors.status_for``; 202 only after the activity is committed.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from activitypub.vocab import is_activitypub_media_type
from api.errors import status_for
from api.limits import address
from fediaid.domain import rate_limits
from fediaid.domain.actors import ActorType
from fediaid.errors import FediaidError, NotFound, TooLarge
from fediaid.logs import next_request_id, request_id
from fediaid.services.runtime import Runtime

log = logging.getLogger("fediaid.api")

_ACTOR_INBOX = re.compile(r"^/(groups|users)/([^/]+)/inbox$")
# The sending server, for its limit: the host of the signature's keyId (draft-cavage
# ``Signature: keyId="..."``, RFC 9421 ``Signature-Input: ...;keyid="..."``).
_KEY_HOST = re.compile(r'keyid="(?:https?://)?([^/"#?]+)', re.IGNORECASE)


class _Refused(Exception):
    def __init__(self, status: int, message: str, retry_after: int | None = None) -> None:
        self.status = status
        self.message = message
        self.retry_after = retry_after


class InboxFastPath:
    def __init__(self, app: ASGIApp, rt: Runtime) -> None:
        self.app = app
        self.rt = rt
        self._known: set[tuple[str, ActorType]] = set()

    @property
    def state(self) -> Any:
        """The wrapped application's state (``app.state.runtime``, api/context.py)."""
        return self.app.state  # type: ignore[attr-defined]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        match = None
        if path not in ("/inbox", "/actor/inbox"):
            match = _ACTOR_INBOX.match(path)
            if match is None:
                await self.app(scope, receive, send)
                return
        # The route for /metrics (api/metrics.py): never the actor's name.
        scope["fediaid.route"] = (path if match is None
                                  else f"/{match.group(1)}/{{name}}/inbox")
        rid = next_request_id()
        token = request_id.set(rid)
        try:
            status, body, retry_after = await self._handle(scope, receive, match)
        finally:
            request_id.reset(token)
        headers = [(b"x-request-id", rid.encode())]
        if retry_after is not None:
            headers.append((b"retry-after", str(retry_after).encode()))
        if body:
            headers += [(b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode())]
        else:
            headers.append((b"content-length", b"0"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _handle(self, scope: Scope, receive: Receive, match: re.Match[str] | None
                      ) -> tuple[int, bytes, int | None]:
        try:
            headers: dict[str, str] = {}
            for raw_key, raw_value in scope["headers"]:
                key, value = raw_key.decode("latin-1").lower(), raw_value.decode("latin-1")
                headers[key] = f"{headers[key]}, {value}" if key in headers else value
            if not is_activitypub_media_type(headers.get("content-type")):
                raise _Refused(415, "Send application/activity+json.")
            await self._limit(scope, headers)
            if match is not None:
                await self._check_actor(match.group(2), match.group(1))
            body = await self._read(receive, headers.get("content-length"))
            query: bytes = scope.get("query_string", b"")
            url = self.rt.settings.base_url + scope["path"]
            if query:
                url += "?" + query.decode("utf-8", "replace")
            await self.rt.inbox.accept(method="POST", url=url, headers=headers, body=body)
            return 202, b"", None
        except _Refused as exc:
            return exc.status, orjson.dumps({"error": exc.message}), exc.retry_after
        except FediaidError as exc:
            status = status_for(exc)
            (log.error if status >= 500 else log.info)("inbox refused (%d): %s", status,
                                                       exc.internal)
            return status, orjson.dumps({"error": exc.public}), None
        except Exception:  # the boundary: never a stack trace to the sender
            log.exception("unexpected error in the inbox")
            return 500, orjson.dumps({"error": "Internal server error."}), None

    async def _limit(self, scope: Scope, headers: dict[str, str]) -> None:
        """Per sending domain and per address (fediaid/domain/rate_limits.py): counted in
        memory, added to the shared count once per batch of requests."""
        found = _KEY_HOST.search(headers.get("signature") or headers.get("signature-input")
                                 or "")
        checks = [(rate_limits.INBOX_ADDRESS, address(scope))]
        if found:
            checks.append((rate_limits.INBOX_DOMAIN, found.group(1).lower()))
        for limit, subject in checks:
            usage = await self.rt.limits.hit(limit, subject)
            if not usage.allowed:
                raise _Refused(429, "Too many activities; slow down.", usage.retry_after)

    async def _check_actor(self, name: str, kind_path: str) -> None:
        kind = ActorType.GROUP if kind_path == "groups" else ActorType.PERSON
        if (name, kind) in self._known:
            return
        try:
            await self.rt.discovery.local_actor(name, kind)
        except NotFound as exc:
            raise _Refused(404, exc.public) from exc
        if len(self._known) < 10000:
            self._known.add((name, kind))

    async def _read(self, receive: Receive, declared: str | None) -> bytes:
        limit = self.rt.settings.inbox_max_bytes
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise TooLarge(f"The body is larger than {limit} bytes.")
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Refused(400, "The request ended early.")
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise TooLarge(f"The body is larger than {limit} bytes.")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)
