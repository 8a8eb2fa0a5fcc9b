"""The SMS providers on the wire, behind one small interface (``Gateway``): ``send(to,
body)`` and ``parse_inbound(...)``. Pure apart from the one HTTP client handed in
(``Poster``: the project's ``HttpxTransport``, which applies the address policy), so tests
can read every byte and the rules stay in one place.

Which API each follows (docs/reach.md, "Text messages"):

- **Twilio**, Programmable Messaging REST API version ``2010-04-01``: sending is
  ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` with a form (``To``, ``From``,
  ``Body``) and HTTP Basic authentication (Account SID and auth token); ``201 Created`` is
  accepted. Error 21610 (the recipient replied STOP to Twilio) is recorded as an opt-out.
  Incoming texts arrive as Twilio's messaging webhook, a form-encoded POST (``MessageSid``,
  ``AccountSid``, ``From``, ``To``, ``Body``, ...), signed with ``X-Twilio-Signature``:
  base64 of HMAC-SHA1, keyed with the auth token, over the full URL Twilio requested
  followed by every POST parameter's name and value, sorted by name. We check it on every
  webhook against the URL *as Twilio saw it*, built from the server's public base URL (the
  address behind a reverse proxy is not what Twilio signed), with and without the default
  port, as Twilio's own helper libraries do.
- **SMS Gateway for Android** (SMSGate, capcom6/android-sms-gateway), its REST API as in
  app version 1.40 and later: ``POST {base}/message`` with JSON ``{"textMessage": {"text":
  ...}, "phoneNumbers": [...]}`` and HTTP Basic authentication (the user name and password
  the app shows); ``202 Accepted``. ``{base}`` is the phone itself in the app's *Local
  server* mode (``http://192.168.1.20:8080``) or the app's cloud server
  (``https://api.sms-gate.app/3rdparty/v1``). Incoming texts arrive as its ``sms:received``
  webhook: JSON ``{"event", "id", "deviceId", "payload": {"messageId", "message",
  "phoneNumber", "receivedAt", ...}}``, signed with ``X-Signature``: hex HMAC-SHA256, keyed
  with the app's webhook signing key, over the raw body followed by the ``X-Timestamp``
  header (Unix seconds). Timestamps more than five minutes away from our clock are refused
  (a replayed request), as the app's documentation advises.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from fediaid.domain.sms import INBOUND_MAX, TWILIO_API, Provider, SmsSettings
from fediaid.errors import Forbidden, Invalid

TIMESTAMP_WINDOW_SECONDS = 300
TWILIO_OPTED_OUT = 21610  # "Attempt to send to unsubscribed recipient"


class Answer(Protocol):
    @property
    def status(self) -> int | None: ...

    @property
    def retry_after(self) -> str | None: ...

    @property
    def error(self) -> str | None: ...

    @property
    def body(self) -> bytes: ...


class Poster(Protocol):
    """The HTTP client a gateway sends through (``fediaid.federation.transport``)."""

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> Answer: ...


@dataclass(frozen=True)
class Outcome:
    """What became of one text handed to a gateway."""

    sent: bool
    permanent: bool = False  # no use trying again
    reason: str = ""  # in plain words, for the coordinators' page (never a number or text)
    opted_out: bool = False  # the provider says the recipient said STOP
    retry_after: str | None = None


@dataclass(frozen=True)
class InboundText:
    ref: str  # the provider's id for it (a webhook sent twice is applied once)
    sender: str  # as the provider gave it
    body: str


@dataclass(frozen=True)
class Secrets:
    secret: str  # Twilio's auth token, or the phone's password
    signing_key: str = ""  # the phone's webhook signing key


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _common(answer: Answer, name: str) -> Outcome | None:
    """What every provider's answer means alike: no answer, a limit, a server error, a
    refused login (a setting to fix: texts wait)."""
    status = answer.status
    if status is None:
        return Outcome(False, reason=f"could not reach {name} ({answer.error or 'no answer'})")
    if status == 429:
        return Outcome(False, reason=f"{name} asked us to slow down (429)",
                       retry_after=answer.retry_after)
    if status >= 500 or status == 408:
        return Outcome(False, reason=f"{name} had a problem ({status})",
                       retry_after=answer.retry_after)
    if status in (401, 403):
        return Outcome(False, reason=f"{name} refused the login ({status}): check the "
                                     "account and the password or token")
    return None


class Gateway(Protocol):
    provider: Provider
    #: The provider itself answers STOP, START and HELP (carriers' rules): fediaid records
    #: them but sends no answer of its own.
    answers_keywords: bool

    async def send(self, to: str, body: str) -> Outcome: ...

    def parse_inbound(self, *, url: str, headers: dict[str, str], body: bytes,
                      now: datetime) -> list[InboundText]: ...


# -- Twilio ------------------------------------------------------------------------------------

def twilio_signature(token: str, url: str, params: Sequence[tuple[str, str]]) -> str:
    """``X-Twilio-Signature`` for a form POST to ``url``: base64(HMAC-SHA1(token, url +
    name1 + value1 + name2 + value2 ...)), names sorted (by code point, case-sensitive), the
    values of a repeated name sorted too (as Twilio's helper libraries do)."""
    by_name: dict[str, set[str]] = {}
    for name, value in params:
        by_name.setdefault(name, set()).add(value)
    signed = url + "".join(name + value for name in sorted(by_name)
                           for value in sorted(by_name[name]))
    digest = hmac.new(token.encode(), signed.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def twilio_url_forms(url: str) -> list[str]:
    """The URL as configured, and with the scheme's default port added or removed: Twilio
    signs the URL as it was typed in its console, port or not."""
    parts = urlsplit(url)
    default = 443 if parts.scheme == "https" else 80
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    forms = [url]
    if parts.port is None:
        forms.append(urlunsplit(parts._replace(netloc=f"{host}:{default}")))
    elif parts.port == default:
        forms.append(urlunsplit(parts._replace(netloc=host)))
    return forms


class TwilioGateway:
    provider = Provider.TWILIO
    answers_keywords = True

    def __init__(self, settings: SmsSettings, secrets: Secrets, poster: Poster) -> None:
        self.settings = settings
        self.secrets = secrets
        self.poster = poster

    def request(self, to: str, body: str) -> tuple[str, dict[str, str], bytes]:
        base = (self.settings.api_url or TWILIO_API).rstrip("/")
        url = f"{base}/2010-04-01/Accounts/{quote(self.settings.account)}/Messages.json"
        form = urlencode({"To": to, "From": self.settings.number, "Body": body}).encode()
        headers = {"Authorization": _basic(self.settings.account, self.secrets.secret),
                   "Content-Type": "application/x-www-form-urlencoded",
                   "Accept": "application/json", "Accept-Encoding": "identity"}
        return url, headers, form

    async def send(self, to: str, body: str) -> Outcome:
        url, headers, form = self.request(to, body)
        return self.outcome(await self.poster.post(url, form, headers))

    @staticmethod
    def outcome(answer: Answer) -> Outcome:
        common = _common(answer, "Twilio")
        if common is not None:
            return common
        status = answer.status or 0
        if 200 <= status < 300:
            return Outcome(True)
        code: object = None
        try:
            code = json.loads(answer.body or b"{}").get("code")
        except (ValueError, AttributeError):
            pass
        if code == TWILIO_OPTED_OUT:
            return Outcome(False, permanent=True, opted_out=True,
                           reason="the number replied STOP to Twilio")
        return Outcome(False, permanent=True,
                       reason=f"Twilio refused this text ({status}"
                              + (f", code {code}" if isinstance(code, int) else "") + ")")

    def parse_inbound(self, *, url: str, headers: dict[str, str], body: bytes,
                      now: datetime) -> list[InboundText]:
        """A messaging webhook: checked, then the one text in it. ``url`` is the URL Twilio
        requested (our public base URL, the path and the query string)."""
        try:
            params = parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=False)
        except UnicodeDecodeError:
            raise Forbidden("That request is not from Twilio.") from None
        given = headers.get("x-twilio-signature", "")
        if not given or not self.secrets.secret or not any(
                hmac.compare_digest(twilio_signature(self.secrets.secret, form, params), given)
                for form in twilio_url_forms(url)):
            raise Forbidden("That request is not from Twilio (its signature does not match).")
        values = dict(params)
        if values.get("AccountSid") != self.settings.account:
            raise Forbidden("That request is for another Twilio account.")
        sid = values.get("MessageSid") or values.get("SmsSid") or ""
        if not sid or not values.get("From"):
            raise Invalid("That webhook has no message in it.")
        return [InboundText(ref=f"twilio:{sid}"[:64], sender=values["From"],
                            body=values.get("Body", "")[:INBOUND_MAX])]


# -- SMS Gateway for Android ---------------------------------------------------------------------

def android_signature(key: str, body: bytes, timestamp: str) -> str:
    """``X-Signature``: hex HMAC-SHA256 over the raw body followed by ``X-Timestamp``."""
    return hmac.new(key.encode(), body + timestamp.encode(), hashlib.sha256).hexdigest()


class AndroidGateway:
    provider = Provider.ANDROID
    answers_keywords = False  # a plain SIM card: nobody else answers STOP or HELP

    def __init__(self, settings: SmsSettings, secrets: Secrets, poster: Poster) -> None:
        self.settings = settings
        self.secrets = secrets
        self.poster = poster

    def request(self, to: str, body: str) -> tuple[str, dict[str, str], bytes]:
        url = f"{self.settings.api_url.rstrip('/')}/message"
        payload = json.dumps({"textMessage": {"text": body}, "phoneNumbers": [to]},
                             ensure_ascii=False).encode()
        headers = {"Authorization": _basic(self.settings.account, self.secrets.secret),
                   "Content-Type": "application/json", "Accept": "application/json",
                   "Accept-Encoding": "identity"}
        return url, headers, payload

    async def send(self, to: str, body: str) -> Outcome:
        url, headers, payload = self.request(to, body)
        return self.outcome(await self.poster.post(url, payload, headers))

    @staticmethod
    def outcome(answer: Answer) -> Outcome:
        common = _common(answer, "the phone")
        if common is not None:
            return common
        status = answer.status or 0
        if 200 <= status < 300:
            return Outcome(True)
        return Outcome(False, permanent=True, reason=f"the phone refused this text ({status})")

    def parse_inbound(self, *, url: str, headers: dict[str, str], body: bytes,
                      now: datetime) -> list[InboundText]:
        key = self.secrets.signing_key
        given = headers.get("x-signature", "")
        stamp = headers.get("x-timestamp", "")
        if not key or not given or not stamp.isdigit() or not hmac.compare_digest(
                android_signature(key, body, stamp), given.lower()):
            raise Forbidden("That request is not from the group's phone (its signature does "
                            "not match).")
        if abs(now.timestamp() - int(stamp)) > TIMESTAMP_WINDOW_SECONDS:
            raise Forbidden("That request is too old or from the future: check the phone's "
                            "clock.")
        try:
            event = json.loads(body)
        except ValueError:
            raise Invalid("That webhook is not JSON.") from None
        if not isinstance(event, dict) or event.get("event") != "sms:received":
            return []  # sms:sent, system:ping and the like: nothing to do
        payload = event.get("payload")
        if not isinstance(payload, dict):
            raise Invalid("That webhook has no message in it.")
        sender, text = payload.get("phoneNumber") or payload.get("sender"), payload.get(
            "message")
        ref = event.get("id") or payload.get("messageId")
        if not isinstance(sender, str) or not isinstance(text, str) or not isinstance(ref, str):
            raise Invalid("That webhook has no message in it.")
        return [InboundText(ref=f"android:{ref}"[:64], sender=sender, body=text[:INBOUND_MAX])]


def gateway_for(settings: SmsSettings, secrets: Secrets, poster: Poster) -> Gateway:
    if settings.provider is Provider.TWILIO:
        return TwilioGateway(settings, secrets, poster)
    if settings.provider is Provider.ANDROID:
        return AndroidGateway(settings, secrets, poster)
    raise Invalid("Text messages are not set up.")
