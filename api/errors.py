"""The one place where errors become HTTP responses.

Domain errors carry a message safe for the asker; HTTP codes live only here. Requests that
look like they come from a browser get a small HTML page, everything else JSON
``{"error": "..."}`` (the shape Mastodon and its clients use). Unexpected exceptions are
logged with the request id and answered with a plain 500, never a stack trace.
"""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from api.responses import FastJSON
from fediaid.errors import (
    Blocked,
    ConfigError,
    Conflict,
    FediaidError,
    Forbidden,
    Invalid,
    NotFound,
    RateLimited,
    SecondFactorNeeded,
    TooLarge,
    Unauthenticated,
    Unavailable,
    Unprocessable,
)
from fediaid.i18n import N_

log = logging.getLogger("fediaid.api")

STATUS: list[tuple[type[FediaidError], int]] = [
    (TooLarge, 413),
    (Unprocessable, 422),
    (RateLimited, 429),
    (Invalid, 400),
    (NotFound, 404),
    (Unauthenticated, 401),
    (Blocked, 403),
    (Forbidden, 403),
    (Conflict, 409),
    (Unavailable, 503),
    (ConfigError, 500),
]


class UnsupportedMediaType(FediaidError):
    """The request body is not in a format this endpoint reads."""


STATUS.insert(0, (UnsupportedMediaType, 415))


def status_for(exc: FediaidError) -> int:
    for cls, code in STATUS:
        if isinstance(exc, cls):
            return code
    return 500


def wants_html(request: Request) -> bool:
    """Browsers: a page load, or a form they posted (which expects a page back)."""
    accept = request.headers.get("accept", "")
    if "text/html" not in accept:
        return False
    if request.method in ("GET", "HEAD"):
        return True
    content_type = request.headers.get("content-type", "")
    return content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data"))


def _page(request: Request, status: int, message: str) -> HTMLResponse:
    """A bare page (no database asked: it may be what failed), in the language the browser
    or the switch's cookie asks for."""
    from html import escape

    from api.web.locale import LANGUAGE_COOKIE
    from fediaid.i18n import Reader, negotiate

    t = Reader(negotiate(chosen=request.cookies.get(LANGUAGE_COOKIE),
                         accept_language=request.headers.get("accept-language", "")))
    sorry, home = escape(t(N_("Sorry"))), escape(t(N_("Home")))
    body = (
        f"<!doctype html><html lang=\"{t.language}\"><meta charset=utf-8>"
        "<meta name=viewport content='width=device-width,initial-scale=1'>"
        f"<title>{status}</title><link rel=stylesheet href='/static/site.css'>"
        f"<main><h1>{sorry}</h1><p>{escape(t(message))}</p>"
        f"<p><a href='/'>{home}</a></p></main>"
    )
    return HTMLResponse(body, status_code=status)


async def domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, FediaidError)
    status = status_for(exc)
    if status >= 500:
        log.error("request failed: %s", exc.internal)
    else:
        log.info("request refused (%d): %s", status, exc.internal)
    if isinstance(exc, SecondFactorNeeded) and wants_html(request):
        from api.web.notice import NoticeRedirect

        return NoticeRedirect("/settings/two-factor", exc.public)
    headers = None
    if isinstance(exc, RateLimited) and exc.retry_after:
        headers = {"Retry-After": str(exc.retry_after)}
    if wants_html(request):
        page = await _full_page(request, status, exc.public) if status < 500 else _page(
            request, status, exc.public)
        page.headers.update(headers or {})
        return page
    body: dict[str, object] = {"error": exc.public}
    if isinstance(exc, Invalid) and exc.field:
        body["field"] = exc.field
    return FastJSON(body, status_code=status, headers=headers)


async def _full_page(request: Request, status: int, message: str) -> Response:
    """A refusal as a page of the site: its header (navigation), the words in the reader's
    language, a way back."""
    from api.web.locale import reader
    from api.web.render import render, safe_next

    t = await reader(request)
    back = request.url.path if request.method == "GET" else ""
    return await render(request, "error.html", status=status, message=t(message),
                        login_next=safe_next(back, ""))


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = {404: N_("Not found."), 405: N_("Method not allowed.")}.get(exc.status_code,
                                                                          str(exc.detail))
    if wants_html(request) and exc.status_code in (403, 404):
        return await _full_page(request, exc.status_code, message)
    if wants_html(request):
        return _page(request, exc.status_code, message)
    return FastJSON({"error": message}, status_code=exc.status_code, headers=exc.headers)


async def unexpected_error(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    if wants_html(request):
        return _page(request, 500, N_("Something went wrong on our side. Please try again."))
    return FastJSON({"error": "Internal server error."}, status_code=500)


HANDLERS = {
    FediaidError: domain_error,
    HTTPException: http_error,
    Exception: unexpected_error,
}
