"""``/metrics`` for Prometheus, and the request latency histogram behind it.

The endpoint exists only when the operator set a token (``metrics_token`` in fediaid.toml or
``FEDIAID_METRICS_TOKEN``): without one it answers 404 like any unknown path; a request
without the token, or with another, gets 401. The token is compared in constant time.
Prometheus sends it as ``Authorization: Bearer TOKEN`` (``authorization: {credentials:
...}`` or ``bearer_token`` in its scrape configuration). docs/deploy.md, "Metrics and status".
"""

from __future__ import annotations

import hmac
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.context import runtime
from fediaid import metrics

# Set in the scope by handlers that answer in front of the router (the inbox fast path).
ROUTE_KEY = "fediaid.route"
UNMATCHED = "unmatched"  # no route: never the raw path (it could be anything)


def _token_matches(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8", "replace"),
                               expected.encode("utf-8", "replace"))


async def endpoint(request: Request) -> Response:
    expected = runtime(request).settings.metrics_token
    if not expected:
        return PlainTextResponse("Not Found", status_code=404)
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not _token_matches(given.strip(), expected):
        return PlainTextResponse("A valid bearer token is needed.", status_code=401,
                                 headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    overview = await runtime(request).status.overview(media=False, finished=False)
    return Response(metrics.exposition(overview.as_dict()),
                    media_type=metrics.CONTENT_TYPE,
                    headers={"Cache-Control": "no-store"})


def route_template(scope: Scope, root_path: str) -> str:
    """The route a request matched, as declared (``/posts/{id:id}``): never the path itself,
    which holds ids, names and secrets. Mounts here have no parameters, so the part of
    ``root_path`` a mount added is its literal prefix."""
    named = scope.get(ROUTE_KEY)
    if named:
        return str(named)
    route = scope.get("route")
    if isinstance(route, Route):
        return str(scope.get("root_path", ""))[len(root_path):] + route.path
    if isinstance(route, Mount):
        return route.path or "/"
    return UNMATCHED


class RequestMetrics:
    """Times every HTTP request, from its arrival to the end of its answer, into
    ``fediaid_http_request_duration_seconds`` by method, route template and status class.
    Outside everything else, so the inbox fast path and refused requests count too."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    @property
    def state(self) -> Any:
        """The wrapped application's state (``app.state.runtime``, api/context.py)."""
        return self.app.state  # type: ignore[attr-defined]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        root_path = scope.get("root_path", "")
        status = 0

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        except BaseException:
            status = status or 500
            raise
        finally:
            method = scope["method"]
            metrics.observe_request(method if method in _METHODS else "other",
                                    route_template(scope, root_path), status,
                                    time.perf_counter() - start)


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
