"""Languages and time zones: marking words for translation, the gettext catalogs, choosing a
reader's language, and times in a reader's language and zone (docs/languages.md).

Words shown to people are written in English and marked where they are written: ``N_("...")``
in Python (with values: ``N_("Saved: {label}.", label=label)``), ``_("...")`` and
``{% trans %}`` in templates. ``pybabel extract`` (babel.cfg) collects them; each language has
a catalog ``fediaid/locale/<code>/LC_MESSAGES/messages.po``, read at run time (no compiled
``.mo`` files, no build step). A page translates what it shows through a ``Reader`` (the
language and zone of the person reading): a marked text, or an error's ``public`` words.

This module sits below every other layer (``fediaid.errors`` marks its words with it) and
imports Babel only when a catalog or a time is first needed.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from gettext import NullTranslations
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

LOCALE_DIR = Path(__file__).parent / "locale"
SOURCE = "en"  # the language the words are written in
DEFAULT_ZONE = "UTC"


# -- marking words ----------------------------------------------------------------------

class Message(str):
    """English words made from a marked text and values: the text itself is the English
    sentence; ``msgid`` and ``params`` let a page say it in the reader's language."""

    msgid: str
    params: dict[str, object]

    def __new__(cls, msgid: str, params: dict[str, object]) -> Message:
        self = super().__new__(cls, msgid.format(**params))
        self.msgid = msgid
        self.params = params
        return self

    def __getnewargs__(self) -> tuple[str, dict[str, object]]:  # type: ignore[override]
        return self.msgid, self.params


class Listed(tuple[str, ...]):
    """Several words shown as one value ("a; b"), each said in the reader's language: a
    value of a marked text (``N_("Changed: {what}", what=Listed(changes))``)."""

    sep: str = "; "

    def __new__(cls, items: Iterable[str], sep: str = "; ") -> Listed:
        self = super().__new__(cls, items)
        self.sep = sep
        return self

    def __getnewargs__(self) -> tuple[tuple[str, ...], str]:
        return tuple(self), self.sep

    def __str__(self) -> str:
        return self.sep.join(str(item) for item in self)

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


def N_(msgid: str, /, **params: object) -> str:
    """Mark words for translation (``pybabel extract`` finds them); they are translated
    where they are shown. Without values: the text as it is. With values (``{name}`` in the
    text): a ``Message``, the English sentence that remembers how it was made."""
    return Message(msgid, params) if params else msgid


def marked(text: str) -> bool:
    """Whether ``text`` is marked words that a catalog translates."""
    return any(translations(code).gettext(text) != text for code in languages()
               if code != SOURCE)


def recognise(text: str, msgids: Iterable[str]) -> str:
    """Words stored in English that were made from one of ``msgids`` (values filled in), as
    the marked text they were made from, so a page can say them in the reader's language.
    Text made from none of them is given back as it is."""
    for msgid in msgids:
        found = _pattern(msgid).fullmatch(text)
        if found is not None:
            params = found.groupdict()
            return Message(msgid, dict(params)) if params else msgid
    return text


def to_json(text: object) -> Any:
    """Marked words as JSON, to be stored and said later in a reader's language: a
    ``Message`` as ``{"m": msgid, "p": {name: value}}``, a ``Listed`` as
    ``{"l": [items], "s": separator}``, anything else as it is (numbers) or as text."""
    if isinstance(text, Message):
        return {"m": text.msgid, "p": {k: to_json(v) for k, v in text.params.items()}}
    if isinstance(text, Listed):
        return {"l": [to_json(item) for item in text], "s": text.sep}
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return text
    return str(text)


def from_json(data: Any) -> Any:
    """What ``to_json`` stored, as marked words again (unknown shapes: as text)."""
    if isinstance(data, dict):
        if isinstance(data.get("m"), str) and isinstance(data.get("p"), dict):
            return Message(data["m"], {str(k): from_json(v) for k, v in data["p"].items()})
        if isinstance(data.get("l"), list):
            return Listed((from_json(item) for item in data["l"]), str(data.get("s", "; ")))
        return str(data)
    if isinstance(data, (str, int, float)) and not isinstance(data, bool):
        return data
    return str(data)


@cache
def _pattern(msgid: str) -> re.Pattern[str]:
    """A marked text as a pattern: ``{name}`` matches any words (the first place a name is
    used; later ones must repeat it)."""
    parts = re.split(r"\{(\w+)\}", msgid)
    seen: set[str] = set()
    regex = ""
    for n, part in enumerate(parts):
        if n % 2 == 0:
            regex += re.escape(part)
        elif part in seen:
            regex += f"(?P={part})"
        else:
            seen.add(part)
            regex += f"(?P<{part}>.+?)"
    return re.compile(regex, re.DOTALL)


# -- catalogs -----------------------------------------------------------------------------

@cache
def languages() -> tuple[str, ...]:
    """The languages pages can be read in: English and every language with a catalog."""
    found = sorted(p.parent.parent.name for p in LOCALE_DIR.glob("*/LC_MESSAGES/messages.po"))
    return tuple(dict.fromkeys([SOURCE, *found]))


@cache
def translations(code: str) -> NullTranslations:
    """A language's catalog, read once from its ``.po`` file (untranslated and fuzzy entries
    fall back to English)."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po
    from babel.support import NullTranslations as BabelNull
    from babel.support import Translations

    path = LOCALE_DIR / code / "LC_MESSAGES" / "messages.po"
    if code == SOURCE or code not in languages() or not path.is_file():
        return BabelNull()
    with path.open("rb") as fh:
        catalog = read_po(fh, locale=code)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled)


def language_name(code: str) -> str:
    """A language's name in itself ("English", "español")."""
    from babel import Locale

    return str(Locale.parse(code).get_display_name(code) or code)


# -- choosing the language ----------------------------------------------------------------

_TAG = re.compile(r"[A-Za-z]{1,8}(?:[-_][A-Za-z0-9]{1,8})*|\*")


def accepted(header: str) -> list[str]:
    """The languages of an Accept-Language header (RFC 9110 12.5.4), most wanted first;
    ``q=0`` and malformed entries left out."""
    weighted: list[tuple[float, int, str]] = []
    for n, part in enumerate(header.split(",")[:32]):
        tag, _, rest = part.strip().partition(";")
        tag = tag.strip()
        if not _TAG.fullmatch(tag) or tag == "*":
            continue
        q = 1.0
        m = re.search(r"q\s*=\s*([0-9.]+)", rest)
        if m:
            try:
                q = float(m.group(1))
            except ValueError:
                continue
        if q > 0:
            weighted.append((-q, n, tag.replace("_", "-")))
    return [tag for _, _, tag in sorted(weighted)]


def negotiate(*, member: str | None = None, chosen: str | None = None,
              accept_language: str = "", group_default: str = SOURCE,
              available: Sequence[str] | None = None) -> str:
    """The language a page is shown in: the member's own setting, else the one chosen with
    the switch on the page, else the browser's (Accept-Language), else the group's."""
    from babel import Locale

    available = tuple(available if available is not None else languages())
    for choice in (member, chosen):
        if choice and choice in available:
            return choice
    wanted = accepted(accept_language)
    if wanted:
        found = Locale.negotiate(wanted, list(available), sep="-")
        if found:
            return str(found)
        # "es-419" or "es-MX" when only "es" is there: the language without its region.
        for tag in wanted:
            base = tag.split("-", 1)[0].lower()
            if base in available:
                return base
    return group_default if group_default in available else SOURCE


# -- time zones ---------------------------------------------------------------------------

_ZONE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_+-]*(?:/[A-Za-z0-9_+-]+){0,2}")


def zone(name: str | None) -> ZoneInfo | None:
    """The IANA time zone of that name ("America/Mexico_City"), or None."""
    if not name or len(name) > 64 or not _ZONE_NAME.fullmatch(name):
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


@cache
def zone_names() -> tuple[str, ...]:
    """The time zones offered in forms: IANA's "Area/City" names (any valid name is
    accepted; older aliases such as "US/Eastern" are not listed)."""
    from zoneinfo import available_timezones

    areas = ("Africa/", "America/", "Antarctica/", "Asia/", "Atlantic/", "Australia/",
             "Europe/", "Indian/", "Pacific/")
    return ("UTC", *sorted(z for z in available_timezones() if z.startswith(areas)))


# -- a reader: words and times in their language and zone ---------------------------------

@dataclass(frozen=True)
class Reader:
    """Who reads a page, for what it shows: their language (a code with a catalog) and
    time zone. Translates marked words and error messages, and writes times."""

    language: str = SOURCE
    zone_name: str = DEFAULT_ZONE
    tz: ZoneInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tz", zone(self.zone_name) or ZoneInfo(DEFAULT_ZONE))

    @property
    def catalog(self) -> NullTranslations:
        return translations(self.language)

    def gettext(self, msgid: str) -> str:
        return self.catalog.gettext(msgid)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self.catalog.ngettext(singular, plural, n)

    def __call__(self, text: str, /, **params: object) -> str:
        """``text`` in the reader's language: a marked text (its values filled in), a
        ``Message``, or an error's words. Words without a translation stay English."""
        if isinstance(text, Message):
            params = {**text.params, **params}
            msgid = text.msgid
        else:
            msgid = str(text)
        said = self.gettext(msgid)
        if not params:
            return said
        # Words inside words ("money and housing"): each in the reader's language too.
        params = {k: self._value(v) for k, v in params.items()}
        try:
            return said.format(**params)
        except (KeyError, IndexError, ValueError):
            return msgid.format(**params)  # a catalog entry with wrong placeholders

    def _value(self, value: object) -> object:
        if isinstance(value, Message):
            return self(value)
        if isinstance(value, Listed):
            return value.sep.join(str(self._value(item)) for item in value)
        return value

    def plural(self, singular: str, plural: str, n: int, /, **params: object) -> str:
        """One of two marked texts by ``n`` (``{n}`` is filled in)."""
        said = self.ngettext(singular, plural, n)
        try:
            return said.format(n=n, **params)
        except (KeyError, IndexError, ValueError):
            return (singular if n == 1 else plural).format(n=n, **params)

    def join(self, items: Iterable[str]) -> str:
        """"a, b and c" in the reader's language."""
        from babel.lists import format_list

        return str(format_list(list(items), locale=self.language))

    # -- times ------------------------------------------------------------------------
    def local(self, dt: datetime) -> datetime:
        return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).astimezone(self.tz)

    def when(self, dt: datetime | None) -> str:
        """A date and time, short: "Tue, Dec 1, 2026, 6:00 PM" / "mar, 1 dic 2026, 18:00"."""
        if dt is None:
            return ""
        from babel.dates import format_skeleton, format_time, get_datetime_format

        local = self.local(dt)
        date = format_skeleton("yMMMEd", local, tzinfo=self.tz, locale=self.language)
        time = format_time(local, "short", tzinfo=self.tz, locale=self.language)
        pattern = str(get_datetime_format("medium", locale=self.language))
        return pattern.replace("{1}", str(date)).replace("{0}", str(time))

    def day(self, dt: datetime | None) -> str:
        """A day in full: "Tuesday, December 1, 2026" / "martes, 1 de diciembre de 2026"."""
        if dt is None:
            return ""
        from babel.dates import format_date

        return str(format_date(self.local(dt), "full", locale=self.language))

    def clock(self, dt: datetime | None) -> str:
        """A time of day ("6:00 PM" / "18:00")."""
        if dt is None:
            return ""
        from babel.dates import format_time

        return str(format_time(self.local(dt), "short", tzinfo=self.tz, locale=self.language))

    def input_time(self, dt: datetime | None) -> str:
        """A stored time as a ``datetime-local`` value in the reader's zone."""
        return self.local(dt).strftime("%Y-%m-%dT%H:%M") if dt else ""

    def from_local(self, naive: datetime) -> datetime:
        """A time typed in the reader's zone, in UTC. A time that does not exist (the hour
        skipped when clocks go forward) is read with the offset from before the change; a
        time that happens twice (clocks go back) is the first of the two (PEP 495,
        ``fold=0``)."""
        return naive.replace(tzinfo=self.tz, fold=0).astimezone(UTC)

    def zone_words(self) -> str:
        """The zone's name as shown beside times ("America/Mexico_City", "UTC")."""
        return self.zone_name if zone(self.zone_name) else DEFAULT_ZONE
