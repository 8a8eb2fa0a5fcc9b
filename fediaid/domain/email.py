"""E-mail, the pure part: the SMTP settings and their checks, members' choices (which
messages, the digest's period and filters), when a digest is due, how long a queued message
stays worth sending, the retry schedule, and the signed one-click unsubscribe token
(RFC 8058). No I/O here; ``fediaid/services/email*.py`` store and send.

Privacy: an e-mail address belongs to its member alone. It is never federated, never shown
to anyone else (coordinators included), goes with the account, and is in the member's own
export (docs/privacy.md).
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from fediaid.errors import Invalid
from fediaid.i18n import N_

ADDRESS_MAX = 254  # RFC 5321's path limit, less the angle brackets
CONFIRM_TTL = timedelta(hours=48)
LOGIN_TTL = timedelta(hours=1)
SEND_TIMEOUT_SECONDS = 30.0


class TlsMode(enum.StrEnum):
    """How we talk to the SMTP server: in the clear (a relay on the same machine),
    upgraded with STARTTLS (RFC 3207, usually port 587), or TLS from the first byte
    ("implicit TLS", RFC 8314, usually port 465)."""

    NONE = "none"
    STARTTLS = "starttls"
    TLS = "tls"


TLS_WORDS: dict[TlsMode, str] = {
    TlsMode.STARTTLS: N_("STARTTLS (usually port 587)"),
    TlsMode.TLS: N_("TLS from the start, implicit TLS (usually port 465)"),
    TlsMode.NONE: N_("None: only for a mail server on this same machine"),
}
DEFAULT_PORT: dict[TlsMode, int] = {TlsMode.NONE: 25, TlsMode.STARTTLS: 587, TlsMode.TLS: 465}


class Kind(enum.StrEnum):
    """What a queued message is. The first three are the member's choices (each can be
    unsubscribed with one click); the others are asked for and are never "unsubscribed"."""

    ANSWERS = "answers"  # someone answered my offer or need
    MESSAGES = "messages"  # a message (or the acceptance) in one of my exchanges
    DIGEST = "digest"  # new offers and needs, daily or weekly
    CONFIRM = "confirm"  # confirm this address
    LOGIN = "login"  # a one-time login link, asked for on the login page
    TEST = "test"  # a coordinator's test of the SMTP settings


CHOSEN = (Kind.ANSWERS, Kind.MESSAGES, Kind.DIGEST)

#: After this long in the queue a message is no longer worth sending (a login link after an
#: hour, a digest after a week): the queue keeps retrying until then, however long the SMTP
#: server is down, and then records it as failed.
WORTH_SENDING: dict[Kind, timedelta] = {
    Kind.ANSWERS: timedelta(days=7), Kind.MESSAGES: timedelta(days=7),
    Kind.DIGEST: timedelta(days=7), Kind.CONFIRM: CONFIRM_TTL, Kind.LOGIN: LOGIN_TTL,
    Kind.TEST: timedelta(hours=1),
}


class Period(enum.StrEnum):
    OFF = "off"
    DAILY = "daily"
    WEEKLY = "weekly"


PERIOD_LENGTH: dict[Period, timedelta] = {Period.DAILY: timedelta(days=1),
                                          Period.WEEKLY: timedelta(days=7)}


@dataclass(frozen=True)
class SmtpSettings:
    """The group's SMTP server. The password is never part of this value (it is stored
    encrypted and only the sender reads it): ``has_password`` says whether one is set."""

    host: str = ""
    port: int = 587
    tls: TlsMode = TlsMode.STARTTLS
    username: str = ""
    sender: str = ""
    has_password: bool = False

    @property
    def configured(self) -> bool:
        return bool(self.host and self.sender)


@dataclass(frozen=True)
class Choices:
    """A member's e-mail choices."""

    answers: bool = True
    messages: bool = True
    digest: Period = Period.OFF
    categories: tuple[str, ...] = ()  # empty: every category
    areas: tuple[str, ...] = ()  # empty: every neighborhood

    def wants(self, kind: Kind) -> bool:
        if kind is Kind.ANSWERS:
            return self.answers
        if kind is Kind.MESSAGES:
            return self.messages
        if kind is Kind.DIGEST:
            return self.digest is not Period.OFF
        return True


# -- checks ---------------------------------------------------------------------------------
_HOST = re.compile(r"(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,62}[A-Za-z0-9])?"
                   r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}[A-Za-z0-9])?)*\.?")
_IPV4 = re.compile(r"\d{1,3}(\.\d{1,3}){3}")
_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}")


def normal_address(text: str, *, field: str = "address") -> str:
    """A plain e-mail address (``name@example.org``) or ``Invalid`` in plain words. No
    display names, no comments, nothing that could add a header (CR, LF). The domain is
    lower-cased; the local part is kept as typed (RFC 5321 lets servers tell cases apart)."""
    text = (text or "").strip()
    problem = N_("Write an e-mail address like name@example.org.")
    if not text or len(text) > ADDRESS_MAX or any(c.isspace() for c in text):
        raise Invalid(problem, field=field)
    local, at, domain = text.rpartition("@")
    if not at or not _LOCAL.fullmatch(local) or local.startswith(".") or local.endswith(".") \
            or ".." in local:
        raise Invalid(problem, field=field)
    domain = domain.lower().rstrip(".")
    if "." not in domain or not _HOST.fullmatch(domain) or _IPV4.fullmatch(domain):
        raise Invalid(problem, field=field)
    return f"{local}@{domain}"


def check_smtp(*, host: str, port: str | int, tls: str, username: str, sender: str
               ) -> SmtpSettings:
    """The settings a coordinator typed, checked, or ``Invalid`` naming the field."""
    host = (host or "").strip().lower()
    if not host or not (_HOST.fullmatch(host) or _IPV4.fullmatch(host)):
        raise Invalid(N_("Write the mail server's name, like smtp.example.org."), field="host")
    try:
        mode = TlsMode(str(tls))
    except ValueError:
        raise Invalid(N_("Choose how to connect: STARTTLS, TLS from the start, or none."),
                      field="tls") from None
    try:
        number = int(str(port).strip()) if str(port).strip() else DEFAULT_PORT[mode]
    except ValueError:
        number = 0
    if not 1 <= number <= 65535:
        raise Invalid(N_("The port is a number from 1 to 65535 (usually 587 or 465)."),
                      field="port")
    username = (username or "").strip()
    if len(username) > 255 or any(c in username for c in "\r\n"):
        raise Invalid(N_("The user name is too long or has line breaks."), field="username")
    return SmtpSettings(host=host, port=number, tls=mode, username=username,
                        sender=normal_address(sender, field="sender"))


def parse_slugs(values: list[str] | tuple[str, ...], known: set[str]) -> tuple[str, ...]:
    """Chosen categories or neighborhoods: the known ones, in a stable order."""
    return tuple(sorted({v for v in values if v in known}))


# -- the digest ----------------------------------------------------------------------------
def digest_window(period: Period, last: datetime | None, now: datetime
                  ) -> tuple[datetime, datetime] | None:
    """The time span the next digest covers, if one is due now: from the end of the last one
    (or one period back, for a member's first) to ``now``; None while not due. Missed runs
    (a stopped server) give one digest covering the whole gap, never several."""
    if period is Period.OFF:
        return None
    length = PERIOD_LENGTH[period]
    if last is None:
        return now - length, now
    if now - last < length:
        return None
    return last, now


# -- retries ---------------------------------------------------------------------------------
def retry_delay(attempts: int, *, scale: float = 1.0) -> timedelta:
    """After the ``attempts``-th failed try: 30 s, 1, 2, 4 ... minutes, at most an hour."""
    seconds = min(30 * 2 ** max(0, attempts - 1), 3600)
    return timedelta(seconds=seconds * scale)


def still_worth_sending(kind: Kind, created_at: datetime, now: datetime) -> bool:
    return now - created_at < WORTH_SENDING[kind]


# -- one-click unsubscribe (RFC 8058) --------------------------------------------------------
def unsubscribe_token(key: bytes, user_id: int, kind: Kind) -> str:
    """A signature over the member and the kind: the link works without logging in, only
    for that member and that kind."""
    mac = hmac.new(key, f"unsubscribe:{user_id}:{kind.value}".encode(), hashlib.sha256)
    return mac.hexdigest()[:32]


def unsubscribe_ok(key: bytes, user_id: int, kind: Kind, token: str) -> bool:
    return kind in CHOSEN and hmac.compare_digest(unsubscribe_token(key, user_id, kind),
                                                  token)
