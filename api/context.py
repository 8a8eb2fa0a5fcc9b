"""Access to the runtime from a request (set on ``app.state`` by ``create_app``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps

from starlette.requests import Request
from starlette.responses import Response

from fediaid.services.runtime import Runtime


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


def one_read(handler: Callable[[Request], Awaitable[Response]]
             ) -> Callable[[Request], Awaitable[Response]]:
    """For pages that read and write nothing they read back (a page of a timeline, the
    group's home page): every read of the request in one database transaction
    (``Database.one_read``) instead of one per step."""

    @wraps(handler)
    async def wrapped(request: Request) -> Response:
        async with runtime(request).db.one_read():
            return await handler(request)

    return wrapped
