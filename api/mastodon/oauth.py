"""App registration and OAuth 2 (RFC 6749, PKCE RFC 7636, revocation RFC 7009, server
metadata RFC 8414) the way Mastodon clients use them (PROTOCOL.md 5.1)."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any
from urllib.parse import quote, unquote, urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from api.context import runtime
from api.mastodon.common import cors, params, text
from api.middleware import page_csp
from api.responses import FastJSON
from api.web.locale import reader
from api.web.render import ENGLISH, form_handler, render
from api.web.session import check_csrf, current_user, require_user
from fediaid.domain import rate_limits
from fediaid.errors import Invalid
from fediaid.i18n import N_, Reader
from fediaid.services.oauth import OOB, SCOPES_SUPPORTED, AuthorizationRequest, OAuthError

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
AUTH_FIELDS = ("response_type", "client_id", "redirect_uri", "scope", "state",
               "code_challenge", "code_challenge_method")


@cors
async def register_app(request: Request) -> Response:
    """``POST /api/v1/apps``: parameters may come as query, form or JSON (Ice Cubes sends
    them in the query string)."""
    p = await params(request)
    redirect = p.get("redirect_uris")
    if isinstance(redirect, list):
        uris: str | list[str] = [str(u) for u in redirect]
    else:
        uris = str(redirect or "")
    registered = await runtime(request).oauth.register_app(
        name=str(p.get("client_name") or ""), redirect_uris=uris, scopes=text(p.get("scopes")),
        website=text(p.get("website")))
    app = registered.app
    return FastJSON({
        "id": str(app.id), "name": app.name, "website": app.website,
        "redirect_uri": "\n".join(app.redirect_uris), "redirect_uris": app.redirect_uris,
        "client_id": app.client_id, "client_secret": registered.client_secret,
        "client_secret_expires_at": 0, "scopes": app.scopes,
        "vapid_key": await runtime(request).push.server_key(),
    })


async def _authorization(request: Request, source: dict[str, Any]) -> AuthorizationRequest:
    try:
        return await runtime(request).oauth.check_authorization(
            **{f: (str(source[f]) if source.get(f) else None) for f in AUTH_FIELDS})
    except OAuthError as exc:
        # Never sent to a redirect_uri that is not verified: shown to the person.
        raise Invalid(exc.public) from exc


def _with_query(uri: str, values: dict[str, str | None]) -> str:
    query = urlencode({k: v for k, v in values.items() if v is not None})
    return uri + ("&" if "?" in uri else "?") + query


_SCOPE_WORDS = {
    "read": N_("see your posts, timelines, notifications, messages and the people you follow"),
    "write": N_("post, answer, favourite, boost, upload pictures and change your profile for "
                "you"),
    "follow": N_("follow and unfollow people for you"),
    "push": N_("send you push notifications"),
    "profile": N_("see your name and profile"),
}
# The parts of Mastodon's granular scopes ("read:statuses", "write:media").
_PART_WORDS = {
    "accounts": N_("accounts"), "blocks": N_("blocks"), "bookmarks": N_("bookmarks"),
    "conversations": N_("conversations"), "favourites": N_("favourites"),
    "filters": N_("filters"), "follows": N_("follows"), "lists": N_("lists"),
    "media": N_("pictures and files"), "mutes": N_("mutes"),
    "notifications": N_("notifications"), "reports": N_("reports"), "search": N_("searches"),
    "statuses": N_("posts"),
}


_HOST_PORT = re.compile(r"[A-Za-z0-9.-]+(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")


def form_target(redirect_uri: str) -> str | None:
    """Where the consent form's answer redirects to, as a CSP source (browsers apply
    ``form-action`` to that redirect too): the redirect_uri's origin."""
    if redirect_uri == OOB:
        return None
    parts = urlsplit(redirect_uri)
    host = parts.netloc.rpartition("@")[2]
    if parts.scheme in ("http", "https") and _HOST_PORT.fullmatch(host):
        return f"{parts.scheme}://{host}"
    return f"{parts.scheme}:" if parts.scheme in ("http", "https") else None


def scope_words(scope: str, t: Reader = ENGLISH) -> str:
    """What a scope lets the app do, in plain words in the reader's language (for the
    consent page)."""
    base, _, part = scope.partition(":")
    if scope in _SCOPE_WORDS:
        return t(_SCOPE_WORDS[scope])
    if base == "admin":
        return t(N_("administer this server"))
    if not part:
        return scope
    what = t(_PART_WORDS[part]) if part in _PART_WORDS else part.replace("_", " ")
    if base == "read":
        return t(N_("see your {what}"), what=what)
    if base == "write":
        return t(N_("change your {what}"), what=what)
    return scope


@form_handler
async def authorize(request: Request) -> Response:
    """``GET /oauth/authorize``: log in (our login page, then back here), then a consent
    page. ``POST``: the person's decision (CSRF-checked). ``force_login`` and ``lang`` are
    accepted and ignored."""
    if request.method == "GET":
        source: dict[str, Any] = dict(request.query_params)
        auth = await _authorization(request, source)
        if await current_user(request) is None:
            here = request.url.path + "?" + urlencode(
                {k: v for k, v in source.items() if k in AUTH_FIELDS and v},
                quote_via=quote)
            return RedirectResponse("/login?next=" + quote(here, safe=""), status_code=303)
        page = await render(request, "oauth_authorize.html", app=auth.app,
                            scopes=[(s, scope_words(s, await reader(request)))
                                    for s in auth.scopes],
                            fields={f: source.get(f) or "" for f in AUTH_FIELDS},
                            redirect_uri=auth.redirect_uri)
        target = form_target(auth.redirect_uri)
        page.headers["Content-Security-Policy"] = page_csp(*([target] if target else []))
        return page
    form = await request.form()
    check_csrf(request, form.get("csrf"))
    user = await require_user(request)
    source = {k: v for k, v in form.items() if isinstance(v, str)}
    auth = await _authorization(request, source)
    if form.get("decision") != "approve":
        if auth.redirect_uri == OOB:
            return await render(request, "oauth_code.html", app=auth.app, code=None)
        return RedirectResponse(_with_query(auth.redirect_uri, {
            "error": "access_denied", "error_description": "The person said no.",
            "state": auth.state}), status_code=302)
    code = await runtime(request).oauth.create_code(auth, user)
    if auth.redirect_uri == OOB:
        return await render(request, "oauth_code.html", app=auth.app, code=code)
    return RedirectResponse(_with_query(auth.redirect_uri, {"code": code, "state": auth.state}),
                            status_code=302)


def _oauth_error(exc: OAuthError) -> Response:
    status = 401 if exc.error == "invalid_client" else 400
    headers = dict(NO_STORE)
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="oauth"'
    return FastJSON({"error": exc.error, "error_description": exc.public}, status_code=status,
                    headers=headers)


def _client_credentials(request: Request, p: dict[str, Any]) -> tuple[str | None, str | None]:
    """client_id/client_secret from the body or HTTP Basic (RFC 6749 2.3.1)."""
    header = request.headers.get("authorization", "")
    kind, _, value = header.partition(" ")
    if kind.lower() == "basic" and value:
        try:
            raw = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None, None
        cid, _, secret = raw.partition(":")
        return unquote(cid), unquote(secret)
    return text(p.get("client_id")), text(p.get("client_secret"))


@cors
async def token(request: Request) -> Response:
    """``POST /oauth/token``: authorization_code (with PKCE when the code was bound to a
    challenge) and client_credentials. Tokens do not expire."""
    p = await params(request)
    oauth = runtime(request).oauth
    try:
        grant = text(p.get("grant_type"))
        if grant not in ("authorization_code", "client_credentials"):
            raise OAuthError("unsupported_grant_type",
                             "grant_type must be authorization_code or client_credentials.")
        client_id, client_secret = _client_credentials(request, p)
        if client_id:
            await runtime(request).limits.enforce(
                rate_limits.OAUTH_CLIENT, client_id,
                "Too many token requests for this app. Please wait a little.")
        app = await oauth.authenticate_client(client_id, client_secret)
        if grant == "authorization_code":
            issued = await oauth.exchange_code(
                app, code=text(p.get("code")), redirect_uri=text(p.get("redirect_uri")),
                code_verifier=text(p.get("code_verifier")))
        else:
            issued = await oauth.client_credentials(app, scope=text(p.get("scope")))
    except OAuthError as exc:
        return _oauth_error(exc)
    return FastJSON({"access_token": issued.access_token, "token_type": "Bearer",
                     "scope": " ".join(issued.scopes),
                     "created_at": int(issued.created_at.timestamp())}, headers=NO_STORE)


@cors
async def revoke(request: Request) -> Response:
    """``POST /oauth/revoke``: 200 ``{}`` whether or not the token was known (RFC 7009);
    only the app's own tokens are revoked."""
    p = await params(request)
    oauth = runtime(request).oauth
    try:
        app = await oauth.authenticate_client(*_client_credentials(request, p))
    except OAuthError as exc:
        return _oauth_error(exc)
    await oauth.revoke(app, text(p.get("token")))
    return FastJSON({})


@cors
async def server_metadata(request: Request) -> Response:
    """``GET /.well-known/oauth-authorization-server`` (RFC 8414)."""
    base = runtime(request).settings.base_url
    return FastJSON({
        "issuer": base + "/",
        "service_documentation": "https://docs.joinmastodon.org/",
        "authorization_endpoint": base + "/oauth/authorize",
        "token_endpoint": base + "/oauth/token",
        "revocation_endpoint": base + "/oauth/revoke",
        "app_registration_endpoint": base + "/api/v1/apps",
        "scopes_supported": SCOPES_SUPPORTED,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "client_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic",
                                                  "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
    })
