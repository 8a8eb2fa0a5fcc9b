"""Web sessions (a random id in an HttpOnly cookie, stored hashed) and CSRF tokens
(an HMAC of the session id with the instance secret, checked on every form POST)."""

from __future__ import annotations

import hashlib
import hmac

from starlette.requests import Request
from starlette.responses import Response

from api.context import runtime
from fediaid.domain.users import User
from fediaid.errors import Forbidden, Unauthenticated

COOKIE = "fediaid_session"


async def current_user(request: Request) -> User | None:
    if "user" in request.scope:
        return request.scope["user"]  # type: ignore[no-any-return]
    session = request.cookies.get(COOKIE)
    user = await runtime(request).accounts.session_user(session) if session else None
    request.scope["user"] = user
    return user


async def require_user(request: Request) -> User:
    user = await current_user(request)
    if user is None:
        raise Unauthenticated("Please log in first.")
    return user


async def require_coordinator(request: Request) -> User:
    user = await require_user(request)
    if not user.is_coordinator:
        raise Forbidden("Only coordinators can do that.")
    return user


def csrf_token(request: Request) -> str:
    session = request.cookies.get(COOKIE, "")
    secret = runtime(request).settings.secret_key.encode()
    return hmac.new(secret, session.encode(), hashlib.sha256).hexdigest()[:40]


def check_csrf(request: Request, submitted: object) -> None:
    if not isinstance(submitted, str) or not hmac.compare_digest(submitted, csrf_token(request)):
        raise Forbidden("This form has expired. Go back, reload the page and try again.")


def set_session_cookie(request: Request, response: Response, session: str) -> None:
    response.set_cookie(COOKIE, session, max_age=30 * 24 * 3600, httponly=True,
                        secure=not runtime(request).settings.dev, samesite="lax", path="/")
