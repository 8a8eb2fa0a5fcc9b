"""What in a post's text looks like a phone number, a street address or an e-mail address.

Pure: no I/O. Phone numbers are found by Google's libphonenumber (the ``phonenumbers``
package) in the group's region, so national forms ("(555) 123 4567", "555-1234") and
international ones ("+34 612 34 56 78") are found and dates, prices and times are not.
Street addresses are a house number with street words, in English ("1450 Broadway",
"22 Elm St") and in Spanish ("Calle Olmo 123", "Av. Juárez #45", "Calle 45 # 12-30").

The measured precision and recall on tests/fixtures/privacy_corpus.py are in
docs/offers-and-needs.md (privacy section); tests/fediaid/test_privacy_corpus.py keeps them.
"""

from __future__ import annotations

import enum
import re

import phonenumbers

DEFAULT_REGION = "US"
# The group setting (the `settings` table) naming the region whose local phone numbers the
# checker and the group's hotline number are read in: an ISO 3166-1 alpha-2 code.
PHONE_REGION = "phone_region"


class Finding(enum.StrEnum):
    PHONE = "phone"
    STREET = "street"
    EMAIL = "email"


# A date or a year range written with spaces, dots or dashes is not a phone number even
# where the digits would fit one ("3 10 2026", "2026 12 10").
_DATE_LIKE = re.compile(
    r"^(?:\d{1,2}[\s./-]\d{1,2}[\s./-](?:19|20)\d{2}|(?:19|20)\d{2}[\s./-]\d{1,2}[\s./-]\d{1,2})$")


def _has_phone(text: str, region: str) -> bool:
    matcher = phonenumbers.PhoneNumberMatcher(text, region,
                                              leniency=phonenumbers.Leniency.POSSIBLE)
    return any(not _DATE_LIKE.match(m.raw_string.strip()) for m in matcher)


# English: a house number, up to three name words, a street word. Abbreviations and words
# that are nothing but a street word match in any case; words that are also ordinary English
# ("a 2 bedroom place", "the 3 way split") only when capitalized, as in an address.
_EN_NUMBER = r"(?<![\w$€£.,:/-])\d{1,5}[A-Za-z]?(?:-\d{1,4})?"
# Words that join a sentence, not a street name ("the 1 train to 96th St").
_EN_STOP = r"(?i:to|at|on|in|the|for|and|or|from|near|by|of|with|off|past)"
_EN_NAME = rf"(?:[NSEWnsew]\.?\s+)?(?:(?!{_EN_STOP}\b)[A-Za-z0-9][\w.'-]*\s+){{0,3}}"
_EN_PLAIN = (r"(?i:street|st|avenue|ave|av|road|rd|boulevard|blvd|ln|dr|ct|pl|parkway|pkwy|"
             r"highway|hwy|sq|ter|terr)")
_EN_CAPITAL = r"(?:Lane|Drive|Court|Place|Way|Square|Terrace|Circle|Plaza|Row|Alley|Trail)"
_STREET_EN = re.compile(
    rf"{_EN_NUMBER}\s+(?:{_EN_NAME}(?:{_EN_PLAIN}|{_EN_CAPITAL})\b\.?"
    rf"|(?i:broadway|bowery)\b)")

# Spanish: a street word, its name (up to five words), then the number, or a numbered
# street with "#" or "No." ("Calle 45 # 12-30").
_ES_WORD = (r"(?i:calle|c/|avenida|avda\.?|av\.?|paseo|camino|carrera|cra\.?|kra\.?|"
            r"plaza|pza\.?|calzada|callejón|callejon|diagonal|transversal|ronda|carretera|"
            r"glorieta|prolongación|prolongacion|privada|cerrada|andador|pasaje|travesía|"
            r"travesia|rambla|vía|via)")
# Words that end a place name in a sentence ("en la plaza a las 5", "plaza para 3 familias").
_ES_STOP = (r"(?i:a|al|en|con|por|para|hasta|desde|y|o|que|es|son|hay|entre|cerca|sobre|"
            r"frente|tengo|necesito|ofrezco|antes|después|despues|como|unas?|unos?|from|at|"
            r"to|and|on|for|the|with)")
_ES_NAME = rf"(?:(?!{_ES_STOP}\b)[^\s\d,.;:!?#][^\s,;:!?#]*\s+){{1,5}}"
_ES_NUMBER_TAIL = (r"(?!\s*(?:[:.,]\d|%|(?i:am|pm|a\.m|p\.m|h|hs|hrs|horas?|min|minutos|días|"
                   r"dias|semanas?|meses|años|personas|familias|niños|bolsas|cajas|kg|kilos|"
                   r"litros|euros|pesos|dólares|dolares|usd|€|\$)\b))")
_STREET_ES = re.compile(
    rf"(?<!\w){_ES_WORD}\s+(?:{_ES_NAME},?\s*(?:(?i:n[º°o]\.?|núm\.?|num\.?|número|numero)\s*|"
    rf"#\s*)?\d{{1,5}}(?!\d){_ES_NUMBER_TAIL}"
    rf"|\d{{1,3}}[A-Za-z]?\s*(?:#|(?i:n[º°o]\.?|no\.))\s*\d{{1,3}}[A-Za-z]?(?:\s*-\s*\d{{1,3}})?)")

_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}\b")


def looks_like_street(text: str) -> bool:
    return bool(_STREET_EN.search(text) or _STREET_ES.search(text))


def find_private(text: str, region: str = DEFAULT_REGION) -> list[Finding]:
    """The kinds of private detail ``text`` seems to contain, in a fixed order."""
    out: list[Finding] = []
    if looks_like_street(text):
        out.append(Finding.STREET)
    if _has_phone(text, _region(region)):
        out.append(Finding.PHONE)
    if _EMAIL.search(text):
        out.append(Finding.EMAIL)
    return out


def _region(region: str) -> str:
    return known_region(region) or DEFAULT_REGION


def known_region(region: str) -> str | None:
    """``region`` as an upper-case ISO 3166-1 alpha-2 code that libphonenumber knows
    ("mx" -> "MX"), or None."""
    code = (region or "").strip().upper()
    return code if code in phonenumbers.SUPPORTED_REGIONS else None
