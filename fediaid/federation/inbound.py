"""Remote notes arriving: a Note, Question, Article or Page (and the other object types
that become statuses) parsed into one typed, already safe value, ``RemoteNote``.

Services receive a ``RemoteNote`` and never read the ActivityPub dictionary: every property
they need is here, checked and bounded:

- HTML (``content``/``contentMap``) is sanitized here, once (``sanitize.sanitize_html``);
  ``text`` is its plain text (search, titles); ``name`` and ``summary`` are plain text;
- URIs that name things to look up (author, reply parent, url, mentions, attachments) are
  absolute http(s); addressees (``to``/``cc``) are kept as given, since ``as:Public`` and
  ``Public`` mean the public collection too (``activitypub.vocab.is_public``);
- lists are capped (``MAX_ADDRESSEES``, ``MAX_MENTIONS``, ``MAX_HASHTAGS``,
  ``MAX_ATTACHMENTS``, ``MAX_POLL_OPTIONS``), strings are bounded, values of the wrong type
  are ignored (as if absent) rather than turned into strings;
- a ``Question`` carries its poll (``RemotePoll``).

Pure: no I/O, never raises on bad input. Who may send what (the object's author is the
activity's actor, the same server) is checked by the caller (``services/inbox_processing``).
Offers and needs are ``proposals_parse.parse_proposal``; a Note that is also an offer or
need is parsed by both (the status and the post are two views of it).
"""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from activitypub.vocab import as_list, id_of, is_public
from fediaid.domain.alerts import MAX_HANDLE, MAX_REASON, clean_reason
from fediaid.domain.statuses import Level
from fediaid.federation.proposals_parse import (
    MAX_LIST,
    hashtags,
    is_http_uri,
    mentions,
    parse_datetime,
    type_names,
)
from fediaid.federation.sanitize import html_to_text, sanitize_html

__all__ = [
    "NOTE_TYPES",
    "PollOption",
    "RemoteAttachment",
    "RemoteNote",
    "RemotePoll",
    "parse_remote_note",
]

# Types that become a status, in the order one is picked when ``type`` lists several
# (Mastodon: Note and Question first-class; Article Page Image Audio Video Event converted,
# PROTOCOL.md 3.7; Document as Pleroma sends media; Proposal as FEP-0837 offers and needs).
NOTE_TYPES = ("Note", "Question", "Article", "Page", "Event", "Image", "Video", "Audio",
              "Document", "Proposal")

MAX_URI = 2048
MAX_ADDRESSEES = 500  # to, cc (each)
MAX_MENTIONS = 100
MAX_HASHTAGS = 100
MAX_ATTACHMENTS = 8  # Mastodon shows 4; the media service picks its own
MAX_POLL_OPTIONS = 20
MAX_NAME = 500  # a Question's or Article's name, a poll option
MAX_SUMMARY = 1500  # content warning
MAX_DESCRIPTION = 1500  # alt text: Mastodon's MediaAttachment::MAX_DESCRIPTION_LENGTH
MAX_BLURHASH = 64
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})?")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class RemoteAttachment:
    """One ``attachment`` entry with an http(s) URL (not downloaded, not yet filtered by
    kind: which ones are shown is the media service's choice)."""

    url: str
    type: str  # "Image", "Document", "Video", ... ("" when not given)
    media_type: str  # lower-case, without parameters ("" when not given)
    description: str | None  # alt text: ``name``, else ``summary``
    width: int | None
    height: int | None
    blurhash: str | None
    focus: tuple[float, float] | None  # Mastodon's ``focalPoint``, both in [-1, 1]


@dataclass(frozen=True)
class PollOption:
    title: str
    votes: int  # ``replies.totalItems``, 0 when not given


@dataclass(frozen=True)
class RemotePoll:
    """A ``Question``'s poll: ``oneOf`` (one choice) or ``anyOf`` (several)."""

    options: tuple[PollOption, ...]
    multiple: bool
    ends_at: datetime | None
    closed_at: datetime | None  # ``closed`` (a time; ``true`` gives ends_at or None)
    closed: bool
    voters_count: int | None


@dataclass(frozen=True)
class RemoteNote:
    uri: str
    type: str  # one of NOTE_TYPES
    author_uri: str  # ``attributedTo`` (the first http(s) one)
    content_html: str  # sanitized; a ``name`` alone (a Question, say) gives <p>name</p>
    name: str | None  # plain text
    summary: str  # the content warning, plain text ("" when none)
    sensitive: bool  # only a JSON ``true``
    language: str | None  # ``contentMap``'s first key (or Lemmy's ``language``), if a tag
    in_reply_to: str | None
    conversation: str | None  # ``context``, else ``conversation`` (any URI: tag: too)
    published: datetime | None
    updated: datetime | None
    url: str | None
    to: tuple[str, ...]
    cc: tuple[str, ...]
    audience: str | None
    mentions: tuple[str, ...]  # ``Mention`` hrefs, in order
    hashtags: frozenset[str]  # lower-case, without '#': ``Hashtag`` tags and #words
    attachments: tuple[RemoteAttachment, ...]
    poll: RemotePoll | None  # a Question's

    @functools.cached_property
    def text(self) -> str:
        """Plain text of ``content_html``: worked out when first asked (most notes never
        need it: the inbox stores the HTML)."""
        return html_to_text(self.content_html)

    @property
    def addressed(self) -> tuple[str, ...]:
        """Everyone the note names: ``to``, ``cc`` and mentions, in order, once each."""
        return tuple(dict.fromkeys(self.to + self.cc + self.mentions))

    def level(self, followers_url: str | None) -> tuple[Level, bool]:
        """(level, listed) from the addressing, ``followers_url`` being the author's:
        public in ``to`` -> public; in ``cc`` only -> public, unlisted; the followers
        collection -> followers; else direct (the people addressed)."""
        if any(is_public(a) for a in self.to):
            return Level.PUBLIC, True
        if any(is_public(a) for a in self.cc):
            return Level.PUBLIC, False
        if followers_url and followers_url in (self.to + self.cc):
            return Level.FOLLOWERS, True
        return Level.DIRECT, True


# Readers -------------------------------------------------------------------------------------


def _str(value: Any) -> str | None:
    """A string property, or the first string of a list."""
    for v in as_list(value)[:MAX_LIST]:
        if isinstance(v, str) and v:
            return v
    return None


def _text(obj: Mapping[str, Any], key: str) -> str | None:
    """``key`` as a string, else the first value of its language map ``keyMap``."""
    found = _str(obj.get(key))
    if found is None:
        langs = obj.get(f"{key}Map")
        if isinstance(langs, Mapping):
            found = _str(list(langs.values())[:MAX_LIST])
    return found


def _plain(value: str | None, limit: int) -> str:
    """One-line-per-paragraph text without control characters, at most ``limit`` long."""
    if not value:
        return ""
    return _CONTROL.sub("", value[: limit * 4]).strip()[:limit]


def _http(value: Any) -> str | None:
    """The first absolute http(s) URI of a property (a string, an object's ``id`` or a
    Link's ``href``, or a list of those)."""
    for v in as_list(value)[:MAX_LIST]:
        ident = id_of(v)
        if ident is None and isinstance(v, Mapping):
            ident = id_of(v.get("href"))
        if ident and len(ident) <= MAX_URI and is_http_uri(ident):
            return ident
    return None


def _uri(value: Any) -> str | None:
    """Any URI (a ``tag:`` conversation id too), bounded."""
    ident = id_of(value)
    return ident if ident and len(ident) <= MAX_URI else None


def _addressees(value: Any) -> tuple[str, ...]:
    out: dict[str, None] = {}
    for v in as_list(value)[:MAX_LIST]:
        ident = id_of(v)
        if ident and len(ident) <= MAX_URI:
            out[ident] = None
            if len(out) >= MAX_ADDRESSEES:
                break
    return tuple(out)


def _count(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if 0 <= value < 2**31 else None


def _dimension(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        n = int(value)
    except (ValueError, OverflowError):
        return None
    return n if 0 < n < 100_000 else None


def _focal_point(value: Any) -> tuple[float, float] | None:
    if not isinstance(value, list) or len(value) != 2:
        return None
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
        return None
    x, y = float(value[0]), float(value[1])
    return (x, y) if -1 <= x <= 1 and -1 <= y <= 1 else None


def _language(obj: Mapping[str, Any]) -> str | None:
    """The first key of ``contentMap``, else Lemmy's ``language.identifier``, if it looks
    like a language tag."""
    candidate: Any = None
    cmap = obj.get("contentMap")
    if isinstance(cmap, Mapping) and cmap:
        candidate = next(iter(cmap))
    else:
        lemmy = obj.get("language")
        if isinstance(lemmy, Mapping):
            candidate = lemmy.get("identifier")
    if isinstance(candidate, str) and _LANGUAGE.fullmatch(candidate):
        return candidate
    return None


def _attachment(item: Any) -> RemoteAttachment | None:
    if not isinstance(item, Mapping):
        return None
    url: Any = item.get("url")
    media_type = item.get("mediaType")
    if isinstance(url, list):  # Link objects or several URLs: the first usable one
        url = next((u for u in url[:MAX_LIST] if isinstance(u, str | Mapping)), None)
    if isinstance(url, Mapping):
        media_type = media_type or url.get("mediaType")
        url = url.get("href")
    if not (isinstance(url, str) and len(url) <= MAX_URI and is_http_uri(url)):
        return None
    kind = _str(item.get("type")) or ""
    mt = media_type.split(";")[0].strip().lower()[:100] if isinstance(media_type, str) else ""
    description = _plain(_str(item.get("name")) or _str(item.get("summary")), MAX_DESCRIPTION)
    blurhash = item.get("blurhash")
    return RemoteAttachment(
        url=url, type=kind[:64], media_type=mt, description=description or None,
        width=_dimension(item.get("width")), height=_dimension(item.get("height")),
        blurhash=blurhash if isinstance(blurhash, str) and 0 < len(blurhash) <= MAX_BLURHASH
        else None,
        focus=_focal_point(item.get("focalPoint")))


def _attachments(value: Any) -> tuple[RemoteAttachment, ...]:
    out: list[RemoteAttachment] = []
    for item in as_list(value)[:MAX_LIST]:
        parsed = _attachment(item)
        if parsed is not None:
            out.append(parsed)
            if len(out) >= MAX_ATTACHMENTS:
                break
    return tuple(out)


def _poll(obj: Mapping[str, Any]) -> RemotePoll | None:
    multiple = "anyOf" in obj and "oneOf" not in obj
    items = obj.get("anyOf" if multiple else "oneOf")
    options: list[PollOption] = []
    for item in as_list(items)[:MAX_LIST]:
        if not isinstance(item, Mapping):
            continue
        title = _plain(html_to_text(_str(item.get("name")) or ""), MAX_NAME)
        if not title:
            continue
        replies = item.get("replies")
        votes = _count(replies.get("totalItems")) if isinstance(replies, Mapping) else None
        options.append(PollOption(title=title, votes=votes or 0))
        if len(options) >= MAX_POLL_OPTIONS:
            break
    if not options:
        return None
    ends_at = parse_datetime(obj.get("endTime"))
    closed_value = obj.get("closed")
    closed_at = parse_datetime(closed_value)
    closed = closed_at is not None or closed_value is True
    return RemotePoll(options=tuple(options), multiple=multiple, ends_at=ends_at,
                      closed_at=closed_at if closed_at is not None else (
                          ends_at if closed else None),
                      closed=closed, voters_count=_count(obj.get("votersCount")))


def _note_type(obj: Mapping[str, Any]) -> str | None:
    names = type_names(obj)
    return next((t for t in NOTE_TYPES if t in names), None)


# The parser ----------------------------------------------------------------------------------


def parse_remote_note(obj: Any) -> RemoteNote | None:
    """A remote object that becomes a status, or None for anything else: not an object, not
    one of ``NOTE_TYPES``, without an http(s) ``id`` or ``attributedTo``."""
    if not isinstance(obj, Mapping):
        return None
    kind = _note_type(obj)
    uri = id_of(obj)
    author = _http(obj.get("attributedTo"))
    if kind is None or not (uri and len(uri) <= MAX_URI and is_http_uri(uri)) or not author:
        return None
    raw = _text(obj, "content") or ""
    name_raw = _text(obj, "name")
    name = _plain(" ".join(html_to_text(name_raw).split()), MAX_NAME) if name_raw else ""
    content = sanitize_html(raw)
    if not content and name:
        content = "<p>" + html.escape(name, quote=False) + "</p>"
    summary_raw = _text(obj, "summary")
    return RemoteNote(
        uri=uri,
        type=kind,
        author_uri=author,
        content_html=content,
        name=name or None,
        summary=_plain(summary_raw, MAX_SUMMARY),
        sensitive=obj.get("sensitive") is True,
        language=_language(obj),
        in_reply_to=_http(obj.get("inReplyTo")),
        conversation=_uri(obj.get("context")) or _uri(obj.get("conversation")),
        published=parse_datetime(obj.get("published")),
        updated=parse_datetime(obj.get("updated")),
        url=_http(obj.get("url")),
        to=_addressees(obj.get("to")),
        cc=_addressees(obj.get("cc")),
        audience=_http(obj.get("audience")),
        mentions=tuple(mentions(obj)[:MAX_MENTIONS]),
        hashtags=frozenset(sorted(hashtags(obj))[:MAX_HASHTAGS]),
        attachments=_attachments(obj.get("attachment")),
        poll=_poll(obj) if kind == "Question" else None,
    )


def link_shares(activity: Mapping[str, Any]) -> list[str] | None:
    """The ``linkShares`` of a Follow that proposes a link between groups (None: a plain
    Follow). Only strings are kept, at most a few; unknown names are the caller's to ignore
    (docs/federation.md, "Links between groups")."""
    value = activity.get("linkShares")
    if value is None:
        value = activity.get("fediaid:linkShares")
    if value is None:
        return None
    return [v for v in as_list(value) if isinstance(v, str) and len(v) <= 64][:16]


@dataclass(frozen=True)
class AccountAlertIn:
    """A received ``AccountAlert`` (docs/federation.md, "Account alerts"), checked: only
    these fields are ever kept."""

    account_uri: str
    handle: str
    harm: str
    reason: str
    addressed_to: tuple[str, ...]


def parse_account_alert(activity: Mapping[str, Any]) -> AccountAlertIn | None:
    """The account, handle, category and shared words of an alert (None: not usable).
    Strings are cut to their limits; HTML is not expected and is shown as text."""
    account = id_of(activity.get("object"))
    if not account or not is_http_uri(account) or len(account) > MAX_URI:
        return None
    handle = activity.get("handle", activity.get("fediaid:handle"))
    harm = activity.get("harm", activity.get("fediaid:harm"))
    content = activity.get("content")
    to = tuple(t for t in (id_of(v) for v in as_list(activity.get("to"))) if t)
    return AccountAlertIn(
        account_uri=account,
        handle=" ".join(handle.split())[:MAX_HANDLE] if isinstance(handle, str) else "",
        harm=harm[:20] if isinstance(harm, str) else "",
        reason=clean_reason(content)[:MAX_REASON] if isinstance(content, str) else "",
        addressed_to=to[:16])
