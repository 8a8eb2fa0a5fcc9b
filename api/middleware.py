"""Request context: a request id on every log line and response, and an access log that
never records query strings (they can carry tokens) or cookies."""

from __future__ import annotations

import logging
import time

from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fediaid.logs import next_request_id, request_id

log = logging.getLogger("fediaid.access")


class RequestContext:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    @classmethod
    def middleware(cls) -> Middleware:
        return Middleware(cls)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = next_request_id()
        token = request_id.set(rid)
        start = time.perf_counter()
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if log.isEnabledFor(logging.DEBUG):
                log.debug("%s %s %d %.1fms", scope["method"], scope["path"], status,
                          (time.perf_counter() - start) * 1000)
            request_id.reset(token)
