"""The one-time notice after a form ("Published. Thank you!"): carried to the next page in
a short-lived signed cookie, never in the address (where it would stay in the browser's
history, in logs and in a shared link). The page that shows it clears it, and says it in
the reader's language: the cookie keeps the marked words and their values, not a
translation.

The cookie is HttpOnly and SameSite=Lax, lives five minutes, and carries an HMAC made with
the instance secret, so no other site or script can put words on our pages."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.types import Receive, Scope, Send

from fediaid.i18n import Message

NOTICE_COOKIE = "fediaid_notice"
MAX_AGE = 300
_VALUE_MAX = 300


def _secret_of(app: Any) -> tuple[bytes, bool]:
    settings = app.state.runtime.settings
    return settings.secret_key.encode(), settings.base_url.startswith("https://")


def _sign(secret: bytes, body: str) -> str:
    return hmac.new(secret, b"notice:" + body.encode(), hashlib.sha256).hexdigest()[:32]


def _pack(value: object, depth: int = 0) -> object:
    """Marked words with their values (words inside words too), for the cookie."""
    if isinstance(value, Message) and depth < 3:
        return {"m": value.msgid, "p": {k: _pack(v, depth + 1) for k, v in value.params.items()}}
    return str(value)[:_VALUE_MAX if depth else 2000]


def _unpack(value: object) -> str:
    if isinstance(value, dict):
        return Message(str(value["m"]), {str(k): _unpack(v) for k, v in value["p"].items()})
    return str(value)


def encode(secret: bytes, message: str, *, now: float | None = None) -> str:
    raw = json.dumps({"w": _pack(message), "t": int(now if now is not None else time.time())},
                     ensure_ascii=False, separators=(",", ":"))
    body = base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
    return f"{body}.{_sign(secret, body)}"


def decode(secret: bytes, value: str, *, now: float | None = None) -> str | None:
    """The notice's words (a ``Message`` when it had values), or None when the cookie is
    missing, forged or old."""
    body, _, mac = value.partition(".")
    if not body or not hmac.compare_digest(mac, _sign(secret, body)):
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        made = int(data["t"])
        if not 0 <= (now if now is not None else time.time()) - made <= MAX_AGE:
            return None
        return _unpack(data["w"])
    except (ValueError, KeyError, TypeError, IndexError, AttributeError):
        return None


class NoticeRedirect(RedirectResponse):
    """A 303 to ``url`` that leaves a notice for the next page (the cookie is signed when
    the response is sent, with the instance secret)."""

    def __init__(self, url: str, notice: str | None = None) -> None:
        super().__init__(url, status_code=303)
        self.notice = notice

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.notice:
            secret, secure = _secret_of(scope["app"])
            self.set_cookie(NOTICE_COOKIE, encode(secret, self.notice), max_age=MAX_AGE,
                            httponly=True, secure=secure, samesite="lax", path="/")
        await super().__call__(scope, receive, send)


def take(request: Request) -> str | None:
    """The notice left for this page, if any (``forget`` clears it on the answer)."""
    value = request.cookies.get(NOTICE_COOKIE)
    if not value:
        return None
    secret, _ = _secret_of(request.app)
    return decode(secret, value)


def forget(request: Request, response: Response) -> None:
    if request.cookies.get(NOTICE_COOKIE):
        response.delete_cookie(NOTICE_COOKIE, path="/")
