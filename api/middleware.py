"""Request context: a request id on every log line and response, and an access log that
never records query strings (they can carry tokens) or cookies. Security headers on every
response. gzip for text answers."""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.middleware import Middleware
from starlette.middleware.gzip import DEFAULT_EXCLUDED_CONTENT_TYPES, GZipMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fediaid.logs import next_request_id, request_id

log = logging.getLogger("fediaid.access")

# Paths that carry a secret in a segment (one-time login links): logged without it.
_SECRET_PATHS = ("/login/",)


def loggable_path(path: str) -> str:
    """The path as the access log may show it: secret segments replaced."""
    for prefix in _SECRET_PATHS:
        if path.startswith(prefix) and len(path) > len(prefix):
            return prefix + "[redacted]"
    return path


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
                log.debug("%s %s %d %.1fms", scope["method"], loggable_path(scope["path"]),
                          status,
                          (time.perf_counter() - start) * 1000)
            request_id.reset(token)


# Answers already compressed, or not worth it: Starlette's list (images, zip, gzip, fonts,
# audio and video, and text/event-stream, so the Mastodon streaming API's events are never
# held back in a compressor), plus the PDF flyer and uploaded files of any type.
_NOT_COMPRESSED = (*DEFAULT_EXCLUDED_CONTENT_TYPES, "image/*", "application/pdf",
                   "application/octet-stream")
GZIP_MINIMUM = 500  # bytes: smaller answers gain nothing


def compression() -> Middleware:
    """gzip for text answers (HTML, CSS, JSON, ActivityPub JSON, CSV) of at least
    ``GZIP_MINIMUM`` bytes, when the client sends ``Accept-Encoding: gzip``; ``Vary:
    Accept-Encoding`` on them. Responses are never signed here, so nothing covers their
    bytes; requests (our deliveries and signed fetches, with their digests) are untouched.
    WebSockets pass through."""
    return Middleware(GZipMiddleware, minimum_size=GZIP_MINIMUM, compresslevel=6,
                      exclude_content_types=_NOT_COMPRESSED)


# Pages have no JavaScript and load nothing from other sites. ``form-action`` also covers
# where a form's answer redirects to: the OAuth consent page widens it to the app's
# redirect_uri (``page_csp``, api/mastodon/oauth.py).
PAGE_CSP = ("default-src 'self'; script-src 'none'; object-src 'none'; base-uri 'none'; "
            "frame-ancestors 'none'; form-action {form_action}")
# JSON, ActivityPub, media and the rest: nothing in them runs, and nothing frames them.
OTHER_CSP = "default-src 'none'; frame-ancestors 'none'; sandbox"
PERMISSIONS = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"
_ALWAYS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
)


def page_csp(*form_targets: str) -> str:
    """The pages' Content-Security-Policy, with more places forms may send to."""
    return PAGE_CSP.format(form_action=" ".join(("'self'", *form_targets)))


class SecurityHeaders:
    """Adds what a response has not set itself: ``nosniff``, ``X-Frame-Options``,
    ``Referrer-Policy`` and a Content-Security-Policy on everything; the pages' CSP and a
    ``Permissions-Policy`` on HTML. Outermost, so the inbox's fast path gets them too."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.page_csp = page_csp().encode()

    @property
    def state(self) -> Any:
        """The wrapped application's state (``app.state.runtime``, api/context.py)."""
        return self.app.state  # type: ignore[attr-defined]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                html = any(k.lower() == b"content-type" and v.startswith(b"text/html")
                           for k, v in headers)
                more = [*_ALWAYS, (b"content-security-policy",
                                   self.page_csp if html else OTHER_CSP.encode())]
                if html:
                    more.append((b"permissions-policy", PERMISSIONS.encode()))
                headers += [(k, v) for k, v in more if k not in present]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
