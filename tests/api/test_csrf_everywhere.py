"""Every POST route of the web application refuses a form without its CSRF token, for a
logged-in coordinator (so the refusal is the token's, not a missing login). Walks the routes
the application has, so a new form handler without the check fails here.

Not cookie-authenticated, so not CSRF-checked (listed, and each must stay so): the client
APIs under /api/ (bearer tokens; they ignore cookies), OAuth's token and revocation
endpoints (client credentials), the inboxes (HTTP signatures; api/activitypub/inbox.py
answers them before the router), the one-click unsubscribe of e-mails (RFC 8058: a mail
program POSTs it without cookies; the signed link is the proof, and it only turns one kind
of e-mail off), and the SMS providers' webhooks (/sms/twilio, /sms/android: signed by the
provider, checked on every request; they read no cookie)."""

from __future__ import annotations

import re

import httpx
from starlette.routing import Mount, Route

from api.app import create_app, routes
from fediaid.services.runtime import Runtime

NOT_COOKIE_AUTHENTICATED = ("/api/", "/oauth/token", "/oauth/revoke", "/email/unsubscribe/",
                            "/sms/")
PARAMS = {"id": "1", "rid": "1", "name": "admin", "slug": "food", "action": "block",
          "which": "outbox", "secret": "x", "version": "2.1",
          "uid": "1", "kind": "answers", "token": "x"}
PASSWORD = "correct horse battery"


def post_paths() -> list[str]:
    found: list[str] = []

    def walk(items: list, prefix: str) -> None:
        for item in items:
            if isinstance(item, Mount):
                walk(list(item.routes or []), prefix + item.path)
            elif isinstance(item, Route) and "POST" in (item.methods or set()):
                found.append(prefix + item.path)

    walk(routes(), "")
    return found


def concrete(path: str) -> str:
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: PARAMS[m.group(1)], path)


async def test_every_form_post_needs_the_token(runtime: Runtime) -> None:
    admin = await runtime.accounts.get_user("admin")
    await runtime.accounts.set_password(admin, PASSWORD)
    _user, session = await runtime.accounts.login("admin", PASSWORD)
    transport = httpx.ASGITransport(app=create_app(runtime), client=("198.51.100.1", 1))
    checked, exempt, wrong = [], [], []
    async with httpx.AsyncClient(transport=transport, base_url=runtime.settings.base_url,
                                 headers={"Accept": "text/html"},
                                 cookies={"fediaid_session": session}) as c:
        for path in post_paths():
            if path.startswith(NOT_COOKIE_AUTHENTICATED):
                exempt.append(path)
                continue
            r = await c.post(concrete(path), data={"x": "1"})
            if r.status_code != 403 or "expired" not in r.text:
                wrong.append((path, r.status_code))
            checked.append(path)
    assert not wrong, wrong
    assert "/login" in checked and "/logout" in checked and "/oauth/authorize" in checked
    assert len(checked) >= 20
    assert "/oauth/token" in exempt and "/api/v1/statuses" in exempt
