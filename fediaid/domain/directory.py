"""The directory of groups (issue 12): what a peer's ``/directory.json`` may say, checked.

A peer's document is read field by field: only the fields below, strings clipped, lists
capped; anything else is dropped. A document that is not a directory entry of the group
it claims to be (its ``attributedTo`` on another host than the document) is refused.
Pure: no I/O (docs/federation.md, "The directory").
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

MAX_TEXT = 500
MAX_AREAS = 50
MAX_LANGUAGES = 20
MAX_LINKS = 100
FEWER_THAN = 5  # open-needs counts below this are published as "fewer than 5"


class DirectoryError(ValueError):
    """A peer's directory document that cannot be used."""


def _host(uri: str) -> str:
    try:
        parts = urlsplit(uri)
    except ValueError:
        return ""
    return (parts.hostname or "") if parts.scheme in ("http", "https") else ""


def _text(value: object, limit: int = MAX_TEXT) -> str:
    return value.strip()[:limit] if isinstance(value, str) else ""


def _texts(value: object, cap: int, limit: int = 100) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return []
    return [t for t in (_text(v, limit) for v in value[:cap]) if t]


def open_needs_shown(count: int) -> int | str:
    """The open-needs count as published: exact from 5 up, else ``"fewer than 5"``
    (the same floor as the needs picture)."""
    return count if count >= FEWER_THAN else f"fewer than {FEWER_THAN}"


def parse_entry(doc: dict[str, Any], url: str) -> dict[str, Any]:
    """The usable part of a peer's directory document fetched from ``url``."""
    if doc.get("type") != "GroupDirectoryEntry":
        raise DirectoryError("not a directory entry")
    actor = doc.get("attributedTo")
    host = _host(url)
    if not isinstance(actor, str) or not host or _host(actor) != host:
        raise DirectoryError("the entry's group is not on the server that published it")
    needs = doc.get("openNeeds")
    if isinstance(needs, bool) or not (
            (isinstance(needs, int) and 0 <= needs < 10**9) or needs is None
            or needs == f"fewer than {FEWER_THAN}"):
        needs = None
    links = [u for u in _texts(doc.get("links"), MAX_LINKS, 2048) if _host(u)]
    return {
        "actor": actor, "name": _text(doc.get("name"), 200) or host,
        "handle": _text(doc.get("preferredUsername"), 200),
        "url": _text(doc.get("url"), 2048) if _host(_text(doc.get("url"), 2048)) == host
        else "",
        "areaServed": _texts(doc.get("areaServed"), MAX_AREAS),
        "knowsLanguage": _texts(doc.get("knowsLanguage"), MAX_LANGUAGES, 35),
        "telephone": _text(doc.get("telephone"), 40),
        "hotlineHours": _text(doc.get("hotlineHours")),
        "howToJoin": _text(doc.get("howToJoin")),
        "openNeeds": needs,
        "links": links,
    }


def matches(entry: dict[str, Any], query: str) -> bool:
    """Whether an entry serves an area whose name contains ``query`` (case-insensitive)."""
    q = query.strip().casefold()
    return not q or any(q in area.casefold() for area in entry.get("areaServed", []))
