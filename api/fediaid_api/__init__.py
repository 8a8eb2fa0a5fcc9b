"""The fediaid JSON API, mounted at ``/api/fediaid/v1`` (described by ``openapi.py`` and
served at ``/api/fediaid/v1/openapi.json``).

Handlers are thin: parse (``parse``), authorise (``auth``), call one service, serialise
(``present``). Errors are mapped in ``api/errors.py``, except the privacy-warning 422
(``confirm``).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.fediaid_api import audit, exchanges, meta, posts
from api.fediaid_api.confirm import Handler
from api.fediaid_api.present import PREFIX

__all__ = ["PREFIX", "routes"]


def _route(path: str, **handlers: Handler) -> Route:
    """One route per path, so a 405 lists every method the path has in ``Allow``. Answers
    may hold what only the asker may see: no cache keeps them unless a handler says so."""
    table = {method.upper(): handler for method, handler in handlers.items()}
    if "GET" in table:
        table["HEAD"] = table["GET"]

    async def endpoint(request: Request) -> Response:
        response = await table[request.method](request)
        response.headers.setdefault("Cache-Control", "private, no-store")
        return response

    return Route(path, endpoint, methods=list(table))


def routes() -> list[Route]:
    return [
        _route("/posts", get=posts.list_posts, post=posts.create_post),
        _route("/posts/{id}", get=posts.get_post, patch=posts.edit_post),
        _route("/posts/{id}/close", post=posts.close_post),
        _route("/posts/{id}/responses", get=exchanges.post_responses,
               post=exchanges.respond),
        _route("/posts/{id}/intake", get=posts.intake_record),
        _route("/intake", post=posts.create_intake),
        _route("/responses/{id}/accept", post=exchanges.accept),
        _route("/responses/{id}/decline", post=exchanges.decline),
        _route("/responses/{id}/withdraw", post=exchanges.withdraw),
        _route("/conversations", get=exchanges.conversations),
        _route("/conversations/{id}", get=exchanges.conversation),
        _route("/conversations/{id}/messages", post=exchanges.send),
        _route("/conversations/{id}/reopen", post=exchanges.reopen),
        _route("/categories", get=meta.categories),
        _route("/areas", get=meta.areas),
        _route("/me/limits", get=meta.my_limits, put=meta.set_limits),
        _route("/audit", get=audit.audit_log),
        _route("/openapi.json", get=meta.openapi),
    ]
