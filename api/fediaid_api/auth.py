"""Who is asking: a bearer token (with scopes), the web session cookie (with a CSRF header
on changes), or nobody.

- ``Authorization: Bearer <token>`` wins when present; tokens carry scopes (``read`` for
  GETs, ``write`` for changes) and a missing scope is 403.
- The ``fediaid_session`` cookie of the web pages acts with both scopes, but a request that
  changes something must also carry ``X-CSRF-Token`` (the form token of the pages): a
  browser sends cookies cross-site, never that header.
- Anonymous readers may read what is public; anything else is 401.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from api.context import runtime
from api.fediaid_api.parse import SAFE_METHODS
from api.web.session import COOKIE, csrf_valid, current_user
from fediaid.domain.users import User
from fediaid.domain.visibility import Viewer
from fediaid.errors import Forbidden, Unauthenticated

READ = "read"
WRITE = "write"
CSRF_HEADER = "x-csrf-token"


@dataclass(frozen=True)
class Caller:
    user: User | None
    viewer: Viewer

    @property
    def member(self) -> User:
        if self.user is None:
            raise Unauthenticated("Please sign in: send an access token "
                                  "(Authorization: Bearer ...) or log in on the web pages.")
        return self.user


async def caller(request: Request, scope: str) -> Caller:
    """Identify the asker and check that they may use ``scope``."""
    user = await _token_user(request, scope)
    if user is None:
        user = await _session_user(request)
    viewer = await runtime(request).posts.viewer_for_user(user)
    return Caller(user, viewer)


async def member(request: Request, scope: str) -> User:
    """A signed-in account, or 401."""
    return (await caller(request, scope)).member


async def _token_user(request: Request, scope: str) -> User | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    kind, _, token = header.strip().partition(" ")
    if kind.lower() != "bearer" or not token.strip():
        raise Unauthenticated("Send the access token as: Authorization: Bearer <token>.")
    user, scopes = await runtime(request).accounts.authenticate_token(token.strip())
    if scope not in scopes:
        raise Forbidden(f"This access token does not allow that: it needs the {scope} scope.")
    return user


async def _session_user(request: Request) -> User | None:
    if not request.cookies.get(COOKIE):
        return None
    user = await current_user(request)
    if user is not None and request.method not in SAFE_METHODS:
        if not csrf_valid(request, request.headers.get(CSRF_HEADER, "")):
            raise Forbidden("Requests that change something need the X-CSRF-Token header "
                            "of your session.")
    return user
