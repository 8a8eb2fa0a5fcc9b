"""Text messages (SMS), the pure part: the group's gateway settings and their checks, phone
numbers, what an incoming text asks for (the keywords, per language, that a group can
extend), the queue's retry schedule, and the words of the texts fediaid sends. No I/O here:
the providers' wire formats are in ``fediaid/domain/sms_gateways.py``, storing and sending
in ``fediaid/services/sms*.py``.

Privacy: a phone number is never federated, never shown to members (only coordinators see
it, on the hotline pages and in intake records), and goes with the need it came with, or with
the texts conversation when that is deleted. Opt-outs are kept as a keyed digest of the
number, not the number (``opt_out_digest``), so the list of people who said STOP holds no
phone numbers.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import ipaddress
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import phonenumbers

from fediaid.errors import Invalid
from fediaid.i18n import N_

BODY_MAX = 480  # what a coordinator or helper may type: three SMS segments
INBOUND_MAX = 1600  # Twilio's longest message; longer inbound texts are cut here
KEYWORDS_MAX = 2000
SEND_TIMEOUT_SECONDS = 20.0


class Provider(enum.StrEnum):
    """The kinds of SMS gateway fediaid talks to (docs/reach.md, "Text messages")."""

    TWILIO = "twilio"  # Twilio Programmable Messaging, REST API 2010-04-01
    ANDROID = "android"  # SMS Gateway for Android (SMSGate), an Android phone of the group's


PROVIDER_WORDS: dict[Provider, str] = {
    Provider.TWILIO: N_("Twilio (a company's messaging service, paid per text)"),
    Provider.ANDROID: N_("An Android phone of the group's, with the free app SMS Gateway for "
                         "Android (SMSGate)"),
}

TWILIO_API = "https://api.twilio.com"
ANDROID_CLOUD_API = "https://api.sms-gate.app/3rdparty/v1"


@dataclass(frozen=True)
class SmsSettings:
    """The group's gateway. Secrets (Twilio's auth token, the phone's password, the phone's
    webhook signing key) are never part of this value: they are stored sealed and only the
    sender and the webhook check read them; ``has_*`` say whether one is set.

    ``private_address``: the one private address (an IP literal in ``api_url``) the
    coordinators allowed fediaid to connect to, for a phone on the group's own network. The
    address policy refuses every other private address as before."""

    provider: Provider | None = None
    number: str = ""  # the group's number, E.164 ("+15551234567")
    account: str = ""  # Twilio: the Account SID; Android: the user name from the app
    api_url: str = ""  # where requests go ("" for Twilio: api.twilio.com)
    private_address: str = ""
    has_secret: bool = False
    has_signing_key: bool = False

    @property
    def configured(self) -> bool:
        if self.provider is None or not self.number or not self.account or not self.has_secret:
            return False
        return self.provider is Provider.TWILIO or bool(self.api_url)

    @property
    def receives(self) -> bool:
        """Whether incoming texts can be checked (Twilio signs with the auth token; the
        phone with its own signing key)."""
        if self.provider is Provider.TWILIO:
            return self.has_secret
        return self.provider is Provider.ANDROID and self.has_signing_key


# -- phone numbers --------------------------------------------------------------------------

def normal_number(text: str, region: str, *, field: str = "number") -> str:
    """A phone number in E.164 (``+15551234567``), read in ``region`` unless it starts with
    +; ``Invalid`` when it cannot be a phone number. Gateways give numbers in E.164 or, for
    a phone, as its SIM saw them (national form)."""
    text = (text or "").strip()
    problem = Invalid("Write a phone number as you would dial it, like (201) 555-0123, or with "
                      "the country code, like +52 55 1234 5678.", field=field)
    if not text or len(text) > 40:
        raise problem
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise problem from exc
    if not phonenumbers.is_possible_number(number):
        raise problem
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def shown_number(number: str) -> str:
    """A stored E.164 number as people read it (international form), for coordinators."""
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return number
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def masked_number(number: str) -> str:
    """Only the last four digits ("…1234"): lists name a conversation without its number."""
    digits = [c for c in number if c.isdigit()]
    return "…" + "".join(digits[-4:])


def opt_out_digest(key: bytes, number: str) -> str:
    """What the opt-out list keeps instead of the number: an HMAC of it under a key derived
    from the instance secret. Enough to know that a number said STOP, not to list them."""
    return hmac.new(key, f"sms-opt-out:{number}".encode(), hashlib.sha256).hexdigest()


# -- the settings' checks -------------------------------------------------------------------

_SID = re.compile(r"AC[0-9a-fA-F]{32}")
_USER = re.compile(r"[A-Za-z0-9_.@+-]{1,128}")


def check_settings(*, provider: str, number: str, account: str, api_url: str,
                   allow_private: bool, region: str, dev: bool = False) -> SmsSettings:
    """What a coordinator typed, checked, or ``Invalid`` naming the field. ``dev``: a
    development instance, whose test gateways may answer plain http (Twilio never does)."""
    try:
        kind = Provider(str(provider))
    except ValueError:
        raise Invalid(N_("Choose Twilio or an Android phone."), field="provider") from None
    e164 = normal_number(number, region, field="number")
    account = (account or "").strip()
    if kind is Provider.TWILIO and not _SID.fullmatch(account):
        raise Invalid(N_("Twilio's Account SID starts with AC and has 32 more letters and "
                         "digits (on the Twilio Console's first page)."), field="account")
    if kind is Provider.ANDROID and not _USER.fullmatch(account):
        raise Invalid(N_("Type the user name the app shows (letters, digits, . _ - @ +)."),
                      field="account")
    url = (api_url or "").strip().rstrip("/")
    if kind is Provider.ANDROID and not url:
        raise Invalid(N_("Type the address the app shows, like http://192.168.1.20:8080 (the "
                         "phone on your network) or https://api.sms-gate.app/3rdparty/v1 "
                         "(through the app's cloud server)."), field="api_url")
    private = ""
    if url:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.username \
                or parts.query or parts.fragment or len(url) > 300:
            raise Invalid(N_("Type an address starting with http:// or https://, without a user "
                             "name or a ? part."), field="api_url")
        try:
            parts.port  # noqa: B018  (raises on a bad port)
        except ValueError:
            raise Invalid(N_("The port after the : is not a number from 1 to 65535."),
                          field="api_url") from None
        host = parts.hostname
        literal = _ip(host)
        if allow_private:
            if literal is None or literal.is_global:
                raise Invalid(N_("Only a phone on the group's own network needs this: type its "
                                 "address as numbers (like 192.168.1.20), not a name."),
                              field="api_url")
            private = str(literal)
        if kind is Provider.TWILIO and parts.scheme != "https" and not dev:
            raise Invalid(N_("Twilio's API is reached over https."), field="api_url")
    elif allow_private:
        raise Invalid(N_("Only a phone on the group's own network needs this."), field="api_url")
    return SmsSettings(provider=kind, number=e164, account=account, api_url=url,
                       private_address=private)


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


# -- what an incoming text asks for -----------------------------------------------------------

class Intent(enum.StrEnum):
    STOP = "stop"  # opt out: nothing more is sent until START
    START = "start"  # opt back in
    HELP = "help"  # what this number is, and how to stop
    YES = "yes"  # agreeing to be texted a helper's contact
    NEED = "need"
    OFFER = "offer"
    TEXT = "text"  # anything else: a conversation for coordinators


#: Words that are the whole text (case, accents, spaces and final punctuation aside). The
#: English ones are what US carriers require (CTIA) and Twilio handles by default: STOP,
#: STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, REVOKE, OPTOUT; START, UNSTOP (and YES);
#: HELP, INFO. The Spanish ones are those Spanish-speaking senders use.
WHOLE_WORDS: dict[Intent, dict[str, tuple[str, ...]]] = {
    Intent.STOP: {"en": ("STOP", "STOPALL", "STOP ALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT",
                         "REVOKE", "OPTOUT", "OPT OUT", "OPT-OUT"),
                  "es": ("ALTO", "PARAR", "PARE", "DETENER", "CANCELAR", "BAJA")},
    Intent.START: {"en": ("START", "UNSTOP"), "es": ("INICIAR", "COMENZAR", "ALTA")},
    Intent.HELP: {"en": ("HELP", "INFO"), "es": ("AYUDA",)},
    Intent.YES: {"en": ("YES",), "es": ("SI",)},
}
#: Words a text starts with to post a need or an offer; a group adds its own
#: (``parse_keywords``: "need: PIDO, HELP ME WITH").
FIRST_WORDS: dict[Intent, dict[str, tuple[str, ...]]] = {
    Intent.NEED: {"en": ("NEED", "I NEED"), "es": ("NECESITO", "NECESITAMOS")},
    Intent.OFFER: {"en": ("OFFER", "I OFFER", "I CAN GIVE"), "es": ("OFREZCO", "OFRECEMOS")},
}


def fold(text: str) -> str:
    """Upper case without accents, spaces squeezed: how keywords are compared."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(plain.upper().split())


_END_PUNCTUATION = ".!¡?¿,;:'\"()"


@dataclass(frozen=True)
class Keywords:
    """The keyword tables in use: the built-in ones plus the group's own."""

    whole: Mapping[Intent, Mapping[str, tuple[str, ...]]] = field(
        default_factory=lambda: WHOLE_WORDS)
    first: Mapping[Intent, Mapping[str, tuple[str, ...]]] = field(
        default_factory=lambda: FIRST_WORDS)


def keywords_with(extra: Mapping[Intent, tuple[str, ...]], group_language: str) -> Keywords:
    """The built-in tables with a group's own first words added (in the group's language)."""
    first: dict[Intent, dict[str, tuple[str, ...]]] = {
        i: dict(by_lang) for i, by_lang in FIRST_WORDS.items()}
    for intent, words in extra.items():
        if intent in first and words:
            lang = group_language if group_language in ("en", "es") else "en"
            first[intent][lang] = tuple(dict.fromkeys((*first[intent].get(lang, ()), *words)))
    return Keywords(whole=WHOLE_WORDS, first=first)


@dataclass(frozen=True)
class Classified:
    intent: Intent
    language: str | None  # of the keyword, when one matched
    rest: str = ""  # for NEED/OFFER: what follows the keyword, as typed


def classify(body: str, keywords: Keywords | None = None) -> Classified:
    """What a text asks for. STOP, START, HELP and YES only as the whole text (a sentence
    that mentions "stop" is a conversation, as carriers match); NEED and OFFER as the first
    word(s), the rest being the post (longest keyword first)."""
    tables = keywords or Keywords()
    text = (body or "").strip()
    whole = fold(text).strip(_END_PUNCTUATION + " ")
    for intent, by_lang in tables.whole.items():
        for lang, words in by_lang.items():
            if whole in words:
                return Classified(intent, lang)
    folded = fold(text)
    candidates = sorted(((w, intent, lang) for intent, by_lang in tables.first.items()
                         for lang, words in by_lang.items() for w in words),
                        key=lambda c: -len(c[0]))
    for word, intent, lang in candidates:
        if folded == word or folded.startswith(word + " ") or (
                folded.startswith(word) and folded[len(word):len(word) + 1] in ":,.-!"):
            return Classified(intent, lang, rest=_after_words(text, len(word.split())))
    return Classified(Intent.TEXT, None)


def _after_words(text: str, count: int) -> str:
    """``text`` without its first ``count`` words (and the punctuation after them)."""
    rest = text.strip()
    for _ in range(count):
        match = re.match(r"\s*\S+?(?=[\s:,.!-]|$)", rest)
        if not match:
            return ""
        rest = rest[match.end():]
    return rest.lstrip(" :,.-!\t\n").strip()


def parse_keywords(text: str) -> dict[Intent, tuple[str, ...]]:
    """A group's own first words, one line per kind: ``need: PIDO, AYÚDENME CON`` and
    ``offer: DOY``. ``Invalid`` names the line."""
    found: dict[Intent, list[str]] = {}
    if len(text or "") > KEYWORDS_MAX:
        raise Invalid(N_("That is too many words."), field="keywords")
    for n, line in enumerate((text or "").splitlines(), 1):
        if not line.strip():
            continue
        name, colon, words = line.partition(":")
        try:
            intent = Intent(name.strip().lower())
        except ValueError:
            intent = Intent.TEXT
        if not colon or intent not in (Intent.NEED, Intent.OFFER):
            raise Invalid(N_("Line {n}: start with need: or offer:, then the words, separated "
                             "by commas.", n=n), field="keywords")
        for word in words.split(","):
            folded = fold(word)
            if not folded:
                continue
            if len(folded) > 40 or any(folded in ws for by in WHOLE_WORDS.values()
                                       for ws in by.values()):
                raise Invalid(N_("Line {n}: “{word}” cannot be used (too long, or one of the "
                                 "words STOP, START, HELP or YES in some language).", n=n,
                                 word=word.strip()), field="keywords")
            found.setdefault(intent, []).append(folded)
    return {i: tuple(dict.fromkeys(ws)) for i, ws in found.items()}


def format_keywords(extra: Mapping[Intent, tuple[str, ...]]) -> str:
    return "\n".join(f"{i.value}: {', '.join(ws)}" for i, ws in extra.items() if ws)


# -- the queue --------------------------------------------------------------------------------

class Kind(enum.StrEnum):
    """What a queued row is. ``INBOUND``: a text that arrived (applied by the worker);
    the others are texts to send."""

    INBOUND = "inbound"
    REPLY = "reply"  # an automatic answer to a keyword (received, help)
    CONFIRM = "confirm"  # the one answer after STOP or START (sent even after STOP)
    RELAY = "relay"  # a coordinator's text
    CONTACT = "contact"  # a helper's chosen way to be reached, to a neighbor who agreed
    TEST = "test"  # a coordinator's test of the settings


#: After this long in the queue a text is no longer worth sending; the queue retries until
#: then, however long the gateway is down.
WORTH_SENDING: dict[Kind, timedelta] = {
    Kind.INBOUND: timedelta(days=7), Kind.REPLY: timedelta(hours=6),
    Kind.CONFIRM: timedelta(hours=6), Kind.RELAY: timedelta(days=2),
    Kind.CONTACT: timedelta(days=2), Kind.TEST: timedelta(hours=1),
}


def retry_delay(attempts: int, *, scale: float = 1.0) -> timedelta:
    """After the ``attempts``-th failed try: 30 s, 1, 2, 4 ... minutes, at most an hour."""
    seconds = min(30 * 2 ** max(0, attempts - 1), 3600)
    return timedelta(seconds=seconds * scale)


def still_worth_sending(kind: Kind, created_at: datetime, now: datetime) -> bool:
    return now - created_at < WORTH_SENDING[kind]


def clean_body(text: str, *, field: str = "body") -> str:
    """A text typed by a coordinator or helper: trimmed, not empty, at most ``BODY_MAX``."""
    text = (text or "").replace("\r\n", "\n").strip()
    if not text:
        raise Invalid(N_("Write the text to send."), field=field)
    if len(text) > BODY_MAX:
        raise Invalid(N_("A text can be at most {max} characters (this one has {n}).",
                         max=BODY_MAX, n=len(text)), field=field)
    return text
