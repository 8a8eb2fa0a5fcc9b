"""The Mastodon client API's first slice: app registration, OAuth 2 (authorization code
with PKCE through the real login and consent pages, client credentials, revocation),
instance information, verify_credentials, scopes and CORS."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from sqlalchemy import func, select

from fediaid.services.runtime import Runtime
from fediaid.storage.tables import access_tokens

REDIRECT = "https://app.example/callback"
PASSWORD = "correct horse battery"


def challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()
                                    ).rstrip(b"=").decode()


def hidden(page: str, name: str) -> str:
    m = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert m, f"no {name} field in the page"
    return unescape(m.group(1))


async def register(client: httpx.AsyncClient, scopes: str = "read write follow push",
                   redirect: str = REDIRECT) -> dict[str, Any]:
    r = await client.post("/api/v1/apps", data={"client_name": "Tusky", "redirect_uris": redirect,
                                                "scopes": scopes, "website": "https://tusky.app"})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def log_in(client: httpx.AsyncClient, runtime: Runtime, next_url: str) -> str:
    """Follow the authorize URL to the login page, log in there, come back: the consent
    page's HTML."""
    user = await runtime.accounts.get_user("admin")
    await runtime.accounts.set_password(user, PASSWORD)
    r = await client.get(next_url)
    assert r.status_code == 303
    login = r.headers["location"]
    assert login.startswith("/login?next=")
    page = await client.get(login)
    nxt = hidden(page.text, "next")
    assert nxt.startswith("/oauth/authorize?")
    r = await client.post("/login", data={"username": "admin", "password": PASSWORD,
                                          "next": nxt, "csrf": hidden(page.text, "csrf")})
    assert r.status_code == 303
    consent = await client.get(r.headers["location"])
    assert consent.status_code == 200
    return consent.text


async def authorize(client: httpx.AsyncClient, runtime: Runtime, app: dict[str, Any], *,
                    verifier: str | None, scope: str = "read write",
                    redirect: str = REDIRECT) -> str:
    params = {"response_type": "code", "client_id": app["client_id"], "redirect_uri": redirect,
              "scope": scope, "state": "xyz"}
    if verifier:
        params |= {"code_challenge": challenge(verifier), "code_challenge_method": "S256"}
    url = str(httpx.URL("/oauth/authorize", params=params))
    consent = await log_in(client, runtime, url)
    assert "Tusky" in consent
    assert all(f"<code>{s}</code>" in consent for s in scope.split())
    form = {k: hidden(consent, k) for k in ("csrf", "client_id", "redirect_uri", "scope",
                                            "state", "response_type")}
    if verifier:
        form |= {k: hidden(consent, k) for k in ("code_challenge", "code_challenge_method")}
    r = await client.post("/oauth/authorize", data=form | {"decision": "approve"})
    if redirect == "urn:ietf:wg:oauth:2.0:oob":
        assert r.status_code == 200
        return hidden(r.text.replace('readonly value=', 'name="code" value='), "code")
    assert r.status_code == 302
    location = urlsplit(r.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == redirect
    query = parse_qs(location.query)
    assert query["state"] == ["xyz"]
    return query["code"][0]


async def exchange(client: httpx.AsyncClient, app: dict[str, Any], code: str,
                   verifier: str | None, **kw: Any) -> httpx.Response:
    data = {"grant_type": "authorization_code", "code": code, "client_id": app["client_id"],
            "client_secret": app["client_secret"], "redirect_uri": REDIRECT}
    if verifier:
        data["code_verifier"] = verifier
    return await client.post("/oauth/token", data=data, **kw)


async def token_count(runtime: Runtime) -> int:
    async with runtime.db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(access_tokens))
                    ).scalar_one())


async def test_register_app_from_form_json_and_query(client: httpx.AsyncClient) -> None:
    app = await register(client)
    assert app["name"] == "Tusky" and app["website"] == "https://tusky.app"
    assert app["redirect_uri"] == REDIRECT and app["redirect_uris"] == [REDIRECT]
    assert isinstance(app["id"], str) and app["client_id"] and app["client_secret"]
    assert app["scopes"] == ["read", "write", "follow", "push"]
    # The instance's VAPID key (Web Push), as /api/v2/instance shows it.
    assert len(app["vapid_key"]) == 88 and app["vapid_key"].startswith("B")
    r = await client.post("/api/v1/apps", json={
        "client_name": "Elk", "redirect_uris": [REDIRECT, "urn:ietf:wg:oauth:2.0:oob"],
        "scopes": "read:accounts write:statuses"})
    assert r.status_code == 200, r.text
    assert r.json()["redirect_uris"] == [REDIRECT, "urn:ietf:wg:oauth:2.0:oob"]
    assert r.json()["scopes"] == ["read:accounts", "write:statuses"]
    r = await client.post("/api/v1/apps", params={"client_name": "Ice Cubes",
                                                  "redirect_uris": "icecubes://x" and REDIRECT})
    assert r.status_code == 200 and r.json()["scopes"] == ["read"]
    assert r.json()["client_id"] != app["client_id"]
    for bad in ({"client_name": "x", "redirect_uris": "javascript:alert(1)"},
                {"client_name": "x", "redirect_uris": REDIRECT, "scopes": "read everything"},
                {"redirect_uris": REDIRECT}):
        r = await client.post("/api/v1/apps", data=bad)
        assert r.status_code == 400 and "error" in r.json()


async def test_authorization_code_flow_with_pkce(client: httpx.AsyncClient,
                                                 runtime: Runtime) -> None:
    app = await register(client)
    verifier = secrets.token_urlsafe(48)
    code = await authorize(client, runtime, app, verifier=verifier)
    before = await token_count(runtime)
    # A wrong verifier: refused, nothing issued.
    r = await exchange(client, app, code, "x" * 50)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    assert "error_description" in r.json()
    r = await exchange(client, app, code, None)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    assert await token_count(runtime) == before
    # A wrong secret: 401 invalid_client.
    r = await exchange(client, app | {"client_secret": "nope"}, code, verifier)
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    # JSON body works too.
    r = await client.post("/oauth/token", json={
        "grant_type": "authorization_code", "code": code, "client_id": app["client_id"],
        "client_secret": app["client_secret"], "redirect_uri": REDIRECT,
        "code_verifier": verifier})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "Bearer" and body["scope"] == "read write"
    assert isinstance(body["created_at"], int)
    assert r.headers["cache-control"] == "no-store"
    # The code works once.
    r = await exchange(client, app, code, verifier)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"

    client.cookies.clear()
    auth = {"Authorization": f"Bearer {body['access_token']}"}
    me = await client.get("/api/v1/accounts/verify_credentials", headers=auth)
    assert me.status_code == 200, me.text
    account = me.json()
    assert account["username"] == "admin" and account["acct"] == "admin"
    assert isinstance(account["id"], str) and account["display_name"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", account["created_at"])
    for key in ("avatar", "avatar_static", "header", "header_static", "url"):
        assert account[key].startswith("http")
    for key in ("followers_count", "following_count", "statuses_count"):
        assert isinstance(account[key], int)
    assert account["source"]["sensitive"] is False and "privacy" in account["source"]
    avatar = await client.get(urlsplit(account["avatar"]).path)
    assert avatar.status_code == 200 and avatar.content.startswith(b"\x89PNG")

    # Revoke (multipart form), then the token is refused; unknown tokens are fine too.
    revoke = {"client_id": app["client_id"], "client_secret": app["client_secret"],
              "token": body["access_token"]}
    r = await client.post("/oauth/revoke", files={k: (None, v) for k, v in revoke.items()})
    assert r.status_code == 200 and r.json() == {}
    r = await client.post("/oauth/revoke", data=revoke | {"token": "unknown"})
    assert r.status_code == 200 and r.json() == {}
    me = await client.get("/api/v1/accounts/verify_credentials", headers=auth)
    assert me.status_code == 401 and me.json() == {"error": "The access token is invalid"}


async def test_out_of_band_code_and_multipart_token(client: httpx.AsyncClient,
                                                   runtime: Runtime) -> None:
    oob = "urn:ietf:wg:oauth:2.0:oob"
    app = await register(client, redirect=oob)
    code = await authorize(client, runtime, app, verifier=None, scope="read", redirect=oob)
    data = {"grant_type": "authorization_code", "code": code, "client_id": app["client_id"],
            "client_secret": app["client_secret"], "redirect_uri": oob}
    r = await client.post("/oauth/token", files={k: (None, v) for k, v in data.items()})
    assert r.status_code == 200, r.text
    assert r.json()["scope"] == "read"


async def test_deny_and_csrf(client: httpx.AsyncClient, runtime: Runtime) -> None:
    app = await register(client)
    url = str(httpx.URL("/oauth/authorize", params={
        "response_type": "code", "client_id": app["client_id"], "redirect_uri": REDIRECT,
        "scope": "read", "state": "s1"}))
    consent = await log_in(client, runtime, url)
    form = {k: hidden(consent, k) for k in ("client_id", "redirect_uri", "scope", "state",
                                            "response_type")}
    r = await client.post("/oauth/authorize", data=form | {"decision": "approve",
                                                            "csrf": "0" * 40})
    assert r.status_code == 403 and "location" not in r.headers
    r = await client.post("/oauth/authorize", data=form | {"decision": "deny",
                                                            "csrf": hidden(consent, "csrf")})
    assert r.status_code == 302
    query = parse_qs(urlsplit(r.headers["location"]).query)
    assert query["error"] == ["access_denied"] and query["state"] == ["s1"]
    # A redirect_uri the app did not register: an error page, no redirect.
    r = await client.get("/oauth/authorize", params={
        "response_type": "code", "client_id": app["client_id"],
        "redirect_uri": "https://evil.example/", "scope": "read"})
    assert r.status_code == 400 and "location" not in r.headers


async def test_scopes_are_enforced(client: httpx.AsyncClient, runtime: Runtime) -> None:
    app = await register(client)
    code = await authorize(client, runtime, app, verifier=None, scope="write")
    r = await exchange(client, app, code, None)
    assert r.status_code == 200 and r.json()["scope"] == "write"
    client.cookies.clear()
    r = await client.get("/api/v1/accounts/verify_credentials",
                         headers={"Authorization": f"Bearer {r.json()['access_token']}"})
    assert r.status_code == 403
    assert r.json() == {"error": "This action is outside the authorized scopes"}
    token = await runtime.accounts.create_token("admin", scopes=["read:accounts"])
    r = await client.get("/api/v1/accounts/verify_credentials",
                         headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200
    r = await client.get("/api/v1/accounts/verify_credentials",
                         headers={"Authorization": "Bearer nonsense"})
    assert r.status_code == 401 and r.json() == {"error": "The access token is invalid"}
    # Asking for more than the app registered for is refused.
    narrow = await register(client, scopes="read")
    r = await client.get("/oauth/authorize", params={
        "response_type": "code", "client_id": narrow["client_id"], "redirect_uri": REDIRECT,
        "scope": "read write"})
    assert r.status_code == 400


async def test_client_credentials_token_is_app_only(client: httpx.AsyncClient,
                                                    runtime: Runtime) -> None:
    app = await register(client)
    basic = base64.b64encode(f"{app['client_id']}:{app['client_secret']}".encode()).decode()
    r = await client.post("/oauth/token", data={"grant_type": "client_credentials",
                                                "scope": "read"},
                          headers={"Authorization": f"Basic {basic}"})
    assert r.status_code == 200, r.text
    token = r.json()["access_token"]
    user, scopes = await runtime.accounts.authenticate_token(token)
    assert user is None and scopes == {"read"}
    r = await client.get("/api/v1/accounts/verify_credentials",
                         headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401
    r = await client.post("/oauth/token", data={"grant_type": "client_credentials",
                                                "client_id": app["client_id"],
                                                "client_secret": "wrong"})
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    r = await client.post("/oauth/token", data={"grant_type": "password"})
    assert r.status_code == 400 and r.json()["error"] == "unsupported_grant_type"


async def test_instance_and_metadata(client: httpx.AsyncClient) -> None:
    for path in ("/api/v2/instance", "/api/v2/instance/"):
        r = await client.get(path)
        assert r.status_code == 200
        v2 = r.json()
        assert v2["version"] == "4.3.0 (compatible; fediaid 0.1.0)"
        assert v2["version"].split(" ")[0] == "4.3.0"
        assert v2["api_versions"] == {"mastodon": 2}
        assert v2["title"] == "Elm St Mutual Aid" and v2["domain"] == "a.test"
        assert v2["registrations"]["enabled"] is False and v2["rules"] == []
        assert v2["configuration"]["statuses"]["max_characters"] == 5000
        assert v2["contact"]["account"]["username"] == "elm"
        assert r.headers["access-control-allow-origin"] == "*"
    for path in ("/api/v1/instance", "/api/v1/instance/"):
        v1 = (await client.get(path)).json()
        assert v1["uri"] == "a.test" and v1["registrations"] is False
        assert v1["configuration"]["statuses"]["max_characters"] == 5000
        assert isinstance(v1["stats"]["user_count"], int) and v1["rules"] == []
    meta = (await client.get("/.well-known/oauth-authorization-server")).json()
    assert meta["authorization_endpoint"] == "http://a.test/oauth/authorize"
    assert meta["token_endpoint"] == "http://a.test/oauth/token"
    assert meta["revocation_endpoint"] == "http://a.test/oauth/revoke"
    assert meta["app_registration_endpoint"] == "http://a.test/api/v1/apps"
    assert meta["response_types_supported"] == ["code"]
    assert meta["grant_types_supported"] == ["authorization_code", "client_credentials"]
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert {"read", "write", "read:accounts"} <= set(meta["scopes_supported"])


async def test_cors_preflight(client: httpx.AsyncClient) -> None:
    for path in ("/api/v1/apps", "/oauth/token", "/oauth/revoke", "/api/v2/instance",
                 "/api/v1/accounts/verify_credentials", "/.well-known/oauth-authorization-server"):
        r = await client.options(path, headers={
            "Origin": "https://elk.zone", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type"})
        assert r.status_code == 204, path
        assert r.headers["access-control-allow-origin"] == "*"
        allowed = r.headers["access-control-allow-headers"].lower()
        assert "authorization" in allowed and "content-type" in allowed
    r = await client.get("/api/v1/accounts/verify_credentials")
    assert r.status_code == 401 and r.headers["access-control-allow-origin"] == "*"
