"""The one answer ``api/errors.py`` cannot give yet: a privacy warning (``NeedsConfirmation``,
an ``Invalid``) is a 422 that lists every warning and says how to publish anyway, instead of
the plain 400 every other ``Invalid`` gets.

Only the handlers that create or edit posts are wrapped. If ``api/errors.py`` learns to
map ``NeedsConfirmation`` itself, this module goes away.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from api.responses import FastJSON
from fediaid.services.posts import NeedsConfirmation

log = logging.getLogger("fediaid.api")

Handler = Callable[[Request], Awaitable[Response]]


def answer(exc: NeedsConfirmation) -> Response:
    return FastJSON({
        "error": exc.public, "field": exc.field,
        "warnings": [{"field": w.field, "message": w.message} for w in exc.warnings],
        "confirm_with": {"confirm": True},
    }, status_code=422)


def confirmable(handler: Handler) -> Handler:
    """Answer ``NeedsConfirmation`` from ``handler`` with a 422 (nothing was saved)."""

    @functools.wraps(handler)
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except NeedsConfirmation as exc:
            log.info("request refused (422): %s", exc.internal)
            return answer(exc)

    return wrapped
