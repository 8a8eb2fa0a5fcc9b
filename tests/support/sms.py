"""SMS providers on 127.0.0.1 for the text message tests: each implements, from the
provider's documentation, the calls fediaid makes, checks what it is sent (the path, the
HTTP Basic credentials, the body's shape), records every accepted text, and can be taken
down and brought back up on the same port. It also makes the webhooks a provider sends,
signed as the provider documents.

- ``FakeTwilio``: ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json``, a form with
  ``To``, ``From``, ``Body``, Basic auth with the Account SID and auth token; ``201`` with a
  Message resource; ``400`` with code 21610 for a number that texted STOP to Twilio; ``401``
  with code 20003 for wrong credentials. Webhooks: a form POST signed with
  ``X-Twilio-Signature`` (HMAC-SHA1 of the URL and the sorted parameters, base64).
- ``FakeAndroid`` (SMS Gateway for Android, Local server mode): ``POST /message`` with JSON
  ``{"textMessage": {"text"}, "phoneNumbers": [...]}`` and Basic auth; ``202`` with the
  message state. Webhooks: ``sms:received`` JSON signed with ``X-Signature`` (hex
  HMAC-SHA256 of the raw body followed by ``X-Timestamp``).

The signatures are computed here independently of fediaid's code (``hmac`` directly), so
a mistake in fediaid's check cannot hide behind the same mistake in the test.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import socket
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

from aiohttp import web


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Sent:
    to: str
    body: str
    sender: str = ""


@dataclass
class _Server:
    port: int = field(default_factory=free_port)
    sent: list[Sent] = field(default_factory=list)
    requests: int = 0
    status_override: int | None = None  # answer every send with this (a 503, a 429)
    _runner: web.AppRunner | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _app(self) -> web.Application:
        raise NotImplementedError

    async def start(self) -> None:
        self._runner = web.AppRunner(self._app())
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        """Down: the port refuses connections until ``start`` again."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _basic(self, request: web.Request) -> tuple[str, str] | None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return None
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        return user, password


_E164 = re.compile(r"\+[1-9]\d{6,14}")


@dataclass
class FakeTwilio(_Server):
    account_sid: str = field(default_factory=lambda: "AC" + secrets.token_hex(16))
    auth_token: str = field(default_factory=lambda: secrets.token_hex(16))
    number: str = "+15005550006"
    unsubscribed: set[str] = field(default_factory=set)

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", self._create)
        return app

    async def _create(self, request: web.Request) -> web.Response:
        self.requests += 1
        if self.status_override is not None:
            return web.json_response({"code": 20500, "message": "Internal Server Error",
                                      "status": self.status_override},
                                     status=self.status_override)
        if request.match_info["sid"] != self.account_sid or self._basic(request) != (
                self.account_sid, self.auth_token):
            return web.json_response({"code": 20003, "message": "Authenticate",
                                      "status": 401}, status=401)
        if request.content_type != "application/x-www-form-urlencoded":
            return web.json_response({"code": 20001, "status": 400}, status=400)
        form = dict(parse_qsl((await request.read()).decode(), keep_blank_values=True))
        to, sender, body = form.get("To", ""), form.get("From", ""), form.get("Body", "")
        if not _E164.fullmatch(to):
            return web.json_response({"code": 21211, "message": "Invalid 'To' Phone Number",
                                      "status": 400}, status=400)
        if sender != self.number:
            return web.json_response({"code": 21606, "status": 400}, status=400)
        if not body or len(body) > 1600:
            return web.json_response({"code": 21617, "status": 400}, status=400)
        if to in self.unsubscribed:
            return web.json_response({"code": 21610, "message": "Attempt to send to "
                                      "unsubscribed recipient", "status": 400}, status=400)
        self.sent.append(Sent(to=to, body=body, sender=sender))
        sid = "SM" + secrets.token_hex(16)
        return web.json_response({"sid": sid, "account_sid": self.account_sid, "to": to,
                                  "from": sender, "body": body, "status": "queued",
                                  "api_version": "2010-04-01", "num_segments": "1"},
                                 status=201)

    # -- webhooks, as Twilio sends them ------------------------------------------------------
    def sign(self, url: str, params: dict[str, str]) -> str:
        data = url + "".join(k + params[k] for k in sorted(params))
        return base64.b64encode(hmac.new(self.auth_token.encode(), data.encode(),
                                         hashlib.sha1).digest()).decode()

    def inbound(self, url: str, sender: str, body: str, *, sign_url: str | None = None,
                token: str | None = None) -> tuple[bytes, dict[str, str]]:
        """A messaging webhook's body and headers for ``url`` (signed for ``sign_url``
        when given: a test of what URL is signed)."""
        sid = "SM" + secrets.token_hex(16)
        params = {"ToCountry": "US", "SmsMessageSid": sid, "NumMedia": "0",
                  "SmsSid": sid, "SmsStatus": "received", "Body": body, "To": self.number,
                  "NumSegments": "1", "MessageSid": sid, "AccountSid": self.account_sid,
                  "From": sender, "ApiVersion": "2010-04-01", "FromCountry": "US"}
        signing = FakeTwilio(account_sid=self.account_sid,
                             auth_token=token or self.auth_token)
        signature = signing.sign(sign_url or url, params)
        return urlencode(params).encode(), {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature, "User-Agent": "TwilioProxy/1.1"}


@dataclass
class FakeAndroid(_Server):
    username: str = "sms"
    password: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    signing_key: str = field(default_factory=lambda: secrets.token_urlsafe(16))

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/message", self._send)
        return app

    async def _send(self, request: web.Request) -> web.Response:
        self.requests += 1
        if self.status_override is not None:
            return web.json_response({"message": "Queue limits exceeded"},
                                     status=self.status_override)
        if self._basic(request) != (self.username, self.password):
            return web.json_response({"message": "Unauthorized"}, status=401)
        try:
            payload: Any = json.loads(await request.read())
            text = payload["textMessage"]["text"]
            numbers = payload["phoneNumbers"]
        except (ValueError, KeyError, TypeError):
            return web.json_response({"message": "Invalid request"}, status=400)
        if not isinstance(text, str) or not numbers or not all(
                isinstance(n, str) and _E164.fullmatch(n) for n in numbers):
            return web.json_response({"message": "Invalid request"}, status=400)
        for n in numbers:
            self.sent.append(Sent(to=n, body=text))
        mid = secrets.token_urlsafe(15)
        return web.json_response({"id": mid, "state": "Pending", "isHashed": False,
                                  "isEncrypted": False,
                                  "recipients": [{"phoneNumber": n, "state": "Pending"}
                                                 for n in numbers]}, status=202)

    def inbound(self, sender: str, body: str, *, key: str | None = None,
                at: int | None = None, event: str = "sms:received"
                ) -> tuple[bytes, dict[str, str]]:
        stamp = str(at if at is not None else int(time.time()))
        raw = json.dumps({
            "deviceId": "ffffffffceb0b1db0000018e937c815b", "event": event,
            "id": secrets.token_urlsafe(15), "webhookId": "fediaid",
            "payload": {"messageId": secrets.token_hex(8), "message": body,
                        "phoneNumber": sender, "simNumber": 1,
                        "receivedAt": "2026-12-06T15:46:11.000+01:00"}}).encode()
        signature = hmac.new((key or self.signing_key).encode(), raw + stamp.encode(),
                             hashlib.sha256).hexdigest()
        return raw, {"Content-Type": "application/json", "X-Signature": signature,
                     "X-Timestamp": stamp}
