"""OAuth 2 for Mastodon client apps: app registration, authorization codes (with PKCE
S256), the token endpoint's grants and revocation. Tokens are ordinary API tokens
(``access_tokens``, stored hashed) tied to the app that obtained them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from fediaid.errors import FediaidError, Invalid
from fediaid.services.core import Core, Service
from fediaid.storage import oauth as oauth_repo
from fediaid.storage import users as users_repo
from fediaid.storage.oauth import App
from fediaid.storage.types import utcnow

if TYPE_CHECKING:
    from fediaid.domain.users import User

OOB = "urn:ietf:wg:oauth:2.0:oob"
CODE_TTL = timedelta(minutes=10)

_READ = ("accounts", "blocks", "bookmarks", "favourites", "filters", "follows", "lists",
         "mutes", "notifications", "search", "statuses")
_WRITE = ("accounts", "blocks", "bookmarks", "conversations", "favourites", "filters",
          "follows", "lists", "media", "mutes", "notifications", "reports", "statuses")
_ADMIN = ("accounts", "reports", "domain_allows", "domain_blocks", "ip_blocks",
          "email_domain_blocks", "canonical_email_blocks")
#: Mastodon's scopes (top-level and granular).
SCOPES: frozenset[str] = frozenset(
    ["read", "write", "follow", "push", "profile", "admin:read", "admin:write"]
    + [f"read:{s}" for s in _READ] + [f"write:{s}" for s in _WRITE]
    + [f"admin:read:{s}" for s in _ADMIN] + [f"admin:write:{s}" for s in _ADMIN])
#: What the metadata document advertises (the same list, in a stable order).
SCOPES_SUPPORTED = sorted(SCOPES)


class OAuthError(FediaidError):
    """An RFC 6749 error: ``error`` is the code (invalid_grant, invalid_client, ...)."""

    def __init__(self, error: str, public: str) -> None:
        super().__init__(public)
        self.error = error


def allows(scopes: frozenset[str], needed: str) -> bool:
    """Whether a token's scopes cover ``needed`` (``read`` covers ``read:accounts``)."""
    if needed in scopes:
        return True
    parts = needed.split(":")
    return any(":".join(parts[:i]) in scopes for i in range(1, len(parts)))


def parse_scopes(value: str | None, *, default: str = "read") -> list[str]:
    words = (value or "").replace("+", " ").split() or default.split()
    unknown = sorted(set(words) - SCOPES)
    if unknown:
        raise OAuthError("invalid_scope", f"Unknown scopes: {', '.join(unknown)}")
    return list(dict.fromkeys(words))


def _valid_redirect(uri: str) -> bool:
    if uri == OOB:
        return True
    parts = urlsplit(uri)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and not parts.fragment


def pkce_challenge(verifier: str) -> str:
    raw = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass(frozen=True)
class Registered:
    app: App
    client_secret: str


@dataclass(frozen=True)
class Issued:
    access_token: str
    scopes: list[str]
    created_at: datetime


@dataclass(frozen=True)
class AuthorizationRequest:
    """A checked ``/oauth/authorize`` request, ready for the consent page."""

    app: App
    redirect_uri: str
    scopes: list[str]
    state: str | None
    code_challenge: str | None
    code_challenge_method: str | None


class OAuthService(Service):
    def __init__(self, core: Core) -> None:
        super().__init__(core)

    async def register_app(self, *, name: str, redirect_uris: str | list[str],
                           scopes: str | None, website: str | None) -> Registered:
        name = name.strip()
        if not name or len(name) > 255:
            raise Invalid("client_name is required (at most 255 characters).",
                          field="client_name")
        if isinstance(redirect_uris, str):
            uris = redirect_uris.split()
        else:
            uris = [u for raw in redirect_uris for u in raw.split()]
        if not uris or not all(_valid_redirect(u) and len(u) <= 2048 for u in uris):
            raise Invalid("redirect_uris must be urn:ietf:wg:oauth:2.0:oob or http(s) URLs.",
                          field="redirect_uris")
        try:
            scope_list = parse_scopes(scopes)
        except OAuthError as exc:
            raise Invalid(exc.public, field="scopes") from exc
        website = (website or "").strip() or None
        if website and (len(website) > 2048 or urlsplit(website).scheme not in ("http", "https")):
            raise Invalid("website must be an http(s) URL.", field="website")
        secret = secrets.token_urlsafe(32)
        async with self.db.write() as conn:
            app = await oauth_repo.create_app(
                conn, client_id=secrets.token_urlsafe(32), client_secret=secret, name=name,
                redirect_uris=list(dict.fromkeys(uris)), scopes=scope_list, website=website)
        return Registered(app, secret)

    async def _app(self, client_id: str | None) -> App | None:
        if not client_id:
            return None
        async with self.db.read() as conn:
            return await oauth_repo.find_app(conn, client_id)

    async def authenticate_client(self, client_id: str | None,
                                  client_secret: str | None) -> App:
        app = await self._app(client_id)
        if app is None or not client_secret or not hmac.compare_digest(
                users_repo.digest(client_secret), app.client_secret_hash):
            raise OAuthError("invalid_client", "Client authentication failed.")
        return app

    async def check_authorization(self, *, response_type: str | None, client_id: str | None,
                                  redirect_uri: str | None, scope: str | None,
                                  state: str | None, code_challenge: str | None,
                                  code_challenge_method: str | None) -> AuthorizationRequest:
        """Validate an authorization request. Errors here are shown to the person, never
        sent to an unverified redirect_uri."""
        app = await self._app(client_id)
        if app is None:
            raise OAuthError("invalid_client", "This app is not registered here.")
        if redirect_uri is None and len(app.redirect_uris) == 1:
            redirect_uri = app.redirect_uris[0]
        if redirect_uri not in app.redirect_uris:
            raise OAuthError("invalid_request", "The redirect_uri does not match the app's.")
        if response_type != "code":
            raise OAuthError("unsupported_response_type", "Only response_type=code works.")
        scopes = parse_scopes(scope)
        if not set(scopes) <= set(app.scopes):
            raise OAuthError("invalid_scope", "The app asks for more than it registered for.")
        if code_challenge_method and not code_challenge:
            raise OAuthError("invalid_request", "code_challenge_method without code_challenge.")
        if code_challenge:
            code_challenge_method = code_challenge_method or "plain"
            if code_challenge_method != "S256":
                raise OAuthError("invalid_request", "Only code_challenge_method=S256 works.")
            if not 43 <= len(code_challenge) <= 128:
                raise OAuthError("invalid_request", "The code_challenge is malformed.")
        return AuthorizationRequest(app, redirect_uri, scopes, state, code_challenge or None,
                                    code_challenge_method if code_challenge else None)

    async def create_code(self, request: AuthorizationRequest, user: User) -> str:
        """After the person logged in and approved: a one-time code for the app."""
        code = secrets.token_urlsafe(32)
        async with self.db.write() as conn:
            await oauth_repo.add_code(
                conn, code=code, app_id=request.app.id, user_id=user.id,
                redirect_uri=request.redirect_uri, scopes=" ".join(request.scopes),
                code_challenge=request.code_challenge,
                code_challenge_method=request.code_challenge_method,
                expires_at=utcnow() + CODE_TTL)
        return code

    async def exchange_code(self, app: App, *, code: str | None, redirect_uri: str | None,
                            code_verifier: str | None) -> Issued:
        if not code:
            raise OAuthError("invalid_request", "The code is missing.")
        bad = OAuthError("invalid_grant", "The authorization code is invalid, expired or used.")
        secret = secrets.token_urlsafe(32)
        async with self.db.write() as conn:
            found = await oauth_repo.find_code(conn, code)
            if (found is None or found.app_id != app.id or found.used_at is not None
                    or found.expires_at.astimezone(UTC) <= utcnow()):
                raise bad
            if redirect_uri != found.redirect_uri:
                raise OAuthError("invalid_grant", "The redirect_uri does not match.")
            if found.code_challenge is not None:
                if not code_verifier or not hmac.compare_digest(
                        pkce_challenge(code_verifier), found.code_challenge):
                    raise OAuthError("invalid_grant", "The code_verifier does not match.")
            if not await oauth_repo.use_code(conn, code):
                raise bad
            await users_repo.add_token(conn, user_id=found.user_id, secret=secret,
                                       scopes=found.scopes, name=app.name, app_id=app.id)
        return Issued(secret, found.scopes.split(), utcnow())

    async def client_credentials(self, app: App, *, scope: str | None) -> Issued:
        """An app-only token: it identifies the app, not any account."""
        scopes = parse_scopes(scope)
        if not set(scopes) <= set(app.scopes):
            raise OAuthError("invalid_scope", "The app asks for more than it registered for.")
        secret = secrets.token_urlsafe(32)
        async with self.db.write() as conn:
            await users_repo.add_token(conn, user_id=None, secret=secret,
                                       scopes=" ".join(scopes), name=app.name, app_id=app.id)
        return Issued(secret, scopes, utcnow())

    async def revoke(self, app: App, token: str | None) -> None:
        """Revoke one of the app's tokens; unknown tokens are ignored (RFC 7009)."""
        if not token:
            return
        async with self.db.write() as conn:
            await oauth_repo.revoke_app_token(conn, app_id=app.id, token=token)
