"""Web sessions (a random id in an HttpOnly cookie, stored hashed) and CSRF tokens
(an HMAC of the session id with the instance secret, checked on every form POST).

Visitors who are not logged in (the login form) get a token too: an HMAC of a random
visitor id kept in its own HttpOnly cookie, set by the page that shows the form. Another
site can make a browser post the form, but cannot read the cookie to make the token.

Every token shown is masked afresh (a random pad, XORed in, sent with it, as Django does):
pages are gzip-compressed, and a secret repeated in the same bytes on every page, beside
text an attacker can put there (a search word), would leak through the compressed size
(BREACH)."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from starlette.requests import Request
from starlette.responses import Response

from api.context import runtime
from fediaid.domain.roles import Permission, refusal
from fediaid.domain.users import User
from fediaid.errors import Forbidden, SecondFactorNeeded, Unauthenticated
from fediaid.i18n import N_

COOKIE = "fediaid_session"
VISITOR_COOKIE = "fediaid_visitor"
# A browser that has logged in to an account before (fediaid/services/login_limits.py):
# a lock on the account's name does not keep it out.
DEVICE_COOKIE = "fediaid_device"
_NEW_VISITOR = "fediaid.new_visitor"


async def current_user(request: Request) -> User | None:
    if "user" in request.scope:
        return request.scope["user"]  # type: ignore[no-any-return]
    session = request.cookies.get(COOKIE)
    user = await runtime(request).accounts.session_user(session) if session else None
    request.scope["user"] = user
    return user


async def require_user(request: Request) -> User:
    """A logged-in member. A coordinator the group requires two-factor login of, who has
    not set it up, gets nowhere but the page that sets it up (``SecondFactorNeeded``
    redirects there)."""
    user = await current_user(request)
    if user is None:
        raise Unauthenticated(N_("Please log in first."))
    if user.is_coordinator and await runtime(request).two_factor.required_for(user):
        raise SecondFactorNeeded(N_("This group asks coordinators to turn on two-factor "
                                    "login first."))
    return user


async def require_permission(request: Request, permission: Permission) -> User:
    """A logged-in account whose role may do ``permission`` (fediaid/domain/roles.py)."""
    user = await require_user(request)
    if not user.may(permission):
        raise Forbidden(refusal(permission))
    return user


async def require_coordinator(request: Request) -> User:
    """The coordinators' pages (coordinators and admins)."""
    return await require_permission(request, Permission.COORDINATE)


def _bound_to(request: Request, *, create: bool) -> str | None:
    """What the token is bound to: the session cookie, else the visitor cookie (made up
    when ``create``; ``set_visitor_cookie`` sends it)."""
    session = request.cookies.get(COOKIE)
    if session:
        return session
    visitor = request.cookies.get(VISITOR_COOKIE) or request.scope.get(_NEW_VISITOR)
    if not visitor and create:
        visitor = request.scope[_NEW_VISITOR] = secrets.token_urlsafe(24)
    return "visitor:" + visitor if visitor else None


def _csrf_secret(request: Request, *, create: bool) -> bytes | None:
    bound = _bound_to(request, create=create)
    if bound is None:
        return None
    secret = runtime(request).settings.secret_key.encode()
    return hmac.new(secret, bound.encode(), hashlib.sha256).digest()[:20]


def csrf_token(request: Request) -> str:
    """A token for a form (or the JSON API's ``X-CSRF-Token``): the session's secret under a
    fresh random pad, so no two pages carry the same bytes."""
    raw = _csrf_secret(request, create=True) or b""
    pad = secrets.token_bytes(len(raw))
    return (pad + bytes(a ^ b for a, b in zip(pad, raw, strict=True))).hex()


def csrf_valid(request: Request, submitted: object) -> bool:
    """Whether ``submitted`` is a token made by ``csrf_token`` for this session or visitor."""
    raw = _csrf_secret(request, create=False)
    if raw is None or not isinstance(submitted, str) or len(submitted) != 4 * len(raw):
        return False
    try:
        data = bytes.fromhex(submitted)
    except ValueError:
        return False
    pad, masked = data[:len(raw)], data[len(raw):]
    return hmac.compare_digest(bytes(a ^ b for a, b in zip(pad, masked, strict=True)), raw)


def check_csrf(request: Request, submitted: object) -> None:
    if not csrf_valid(request, submitted):
        raise Forbidden(N_("This form has expired. Go back, reload the page and try again."))


def _secure(request: Request) -> bool:
    return runtime(request).settings.base_url.startswith("https://")


def set_session_cookie(request: Request, response: Response, session: str) -> None:
    response.set_cookie(COOKIE, session, max_age=30 * 24 * 3600, httponly=True,
                        secure=_secure(request), samesite="lax", path="/")


async def set_device_cookie(request: Request, response: Response, user: User) -> None:
    """Remember that this browser has logged in as ``user`` (a year, renewed each time;
    void once their password changes)."""
    value = await runtime(request).accounts.remember_device(
        user, request.cookies.get(DEVICE_COOKIE))
    response.set_cookie(DEVICE_COOKIE, value, max_age=365 * 24 * 3600, httponly=True,
                        secure=_secure(request), samesite="lax", path="/")


def set_visitor_cookie(request: Request, response: Response) -> None:
    """Send the visitor id a page's CSRF token was just made from (if one was)."""
    visitor = request.scope.get(_NEW_VISITOR)
    if visitor:
        response.set_cookie(VISITOR_COOKIE, visitor, httponly=True, secure=_secure(request),
                            samesite="lax", path="/")
