"""Access to the runtime from a request (set on ``app.state`` by ``create_app``)."""

from __future__ import annotations

from starlette.requests import Request

from fediaid.services.runtime import Runtime


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt
