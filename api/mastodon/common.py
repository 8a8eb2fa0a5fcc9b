"""Shared pieces of the Mastodon client API: parameters from query/form/JSON, CORS,
JSON errors, bearer tokens and scope checks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from api.context import runtime
from api.errors import status_for
from api.responses import FastJSON
from fediaid.domain.users import User
from fediaid.errors import FediaidError, Forbidden, Invalid, RateLimited, Unauthenticated
from fediaid.services.oauth import allows

CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, PUT, PATCH, DELETE, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type, Idempotency-Key",
    "Access-Control-Expose-Headers": "Link",
    "Access-Control-Max-Age": "86400",
}

Handler = Callable[[Request], Awaitable[Response]]


def cors(handler: Handler) -> Handler:
    """Answer preflights, add CORS headers (errors too: web clients must read them) and
    turn domain errors into Mastodon's ``{"error": ...}``."""

    @wraps(handler)
    async def wrapped(request: Request) -> Response:
        if request.method == "OPTIONS":
            response: Response = Response(status_code=204)
        else:
            try:
                response = await handler(request)
            except FediaidError as exc:
                response = FastJSON({"error": exc.public}, status_code=status_for(exc))
                if isinstance(exc, RateLimited) and exc.retry_after:
                    response.headers["Retry-After"] = str(exc.retry_after)
        response.headers.update(CORS_HEADERS)
        return response

    return wrapped


async def params(request: Request) -> dict[str, Any]:
    """Parameters from the query string, a form (urlencoded or multipart) and a JSON body;
    the body wins. Repeated form keys (``redirect_uris[]``) become lists."""
    out: dict[str, Any] = {}
    for key in request.query_params:
        values = request.query_params.getlist(key)
        out[key.removesuffix("[]")] = values if key.endswith("[]") else values[-1]
    if request.method not in ("POST", "PUT", "PATCH"):
        return out
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        body = await request.body()
        if body.strip():
            try:
                data = orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                raise Invalid("The body is not valid JSON.") from exc
            if not isinstance(data, dict):
                raise Invalid("The JSON body must be an object.")
            out.update(data)
    elif content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.form()
        for key in form:
            values = [v for v in form.getlist(key) if isinstance(v, str)]
            if values:
                out[key.removesuffix("[]")] = values if key.endswith("[]") else values[-1]
    return out


def text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return str(value)


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    kind, _, token = header.strip().partition(" ")
    if kind.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def token_user(request: Request, needed: str) -> User:
    """The account behind the bearer token, if the token's scopes cover ``needed``."""
    token = bearer(request)
    if token is None:
        raise Unauthenticated("The access token is invalid")
    try:
        user, scopes = await runtime(request).accounts.authenticate_token(token)
    except Unauthenticated as exc:
        raise Unauthenticated("The access token is invalid") from exc
    if not allows(scopes, needed):
        raise Forbidden("This action is outside the authorized scopes")
    if user is None:
        raise Unauthenticated("This method requires an authenticated user")
    return user


async def optional_user(request: Request, scope: str) -> User | None:
    """For public endpoints: no token -> anonymous; a token must be valid and cover
    ``scope`` (Mastodon's ``authorize_if_got_token!``); an app-only token is anonymous."""
    token = bearer(request)
    if token is None:
        return None
    try:
        user, scopes = await runtime(request).accounts.authenticate_token(token)
    except Unauthenticated as exc:
        raise Unauthenticated("The access token is invalid") from exc
    if not allows(scopes, scope):
        raise Forbidden("This action is outside the authorized scopes")
    return user
