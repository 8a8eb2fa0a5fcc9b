"""The network's picture (issue 12): linked groups' needs pictures read and added up.

Each group publishes its needs picture as counts already protected by its own rules
(fediaid/domain/picture.py: no count below 5, complementary suppression); the wire form is
in docs/federation.md, "The needs picture over links". This module reads such a document
(``parse_picture``: only known fields, numbers below 5 never kept as numbers) and combines
several (``combine``), this group's own published form among them, never its raw counts.

The privacy floor across groups. A combined cell is shown only when every group's part of
it is shown; when one part is hidden, the cell is hidden too (it can say "at least N", N
being what the shown parts add up to, which says nothing they do not). The network's total
is shown only when every group's total is. So everything on the network picture is worked
out from what the groups published, and nothing more: a reader who knows every other
group's exact counts learns about one group only what its own published picture says, and
that picture is protected (no hidden count can be worked out by subtraction).

Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from fediaid.domain.picture import HIDE_BELOW, Count, Hidden, age_band_keys

TYPE = "NeedsPicture"
FEWER = f"fewer than {HIDE_BELOW}"
HIDDEN = "hidden"
OTHER = "(other)"
NO_AREA = "(none)"
KINDS = ("needs", "offers")
MAX_ROWS = 200  # rows read per table of a peer's picture
MAX_TEXT = 200
MAX_VALUE = 10**9
TOP_REQUESTED = 5
BANDS = tuple(age_band_keys())  # open needs by how long they waited
LONGEST_BAND = BANDS[-1]  # "2 weeks or more"
_MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")

Published = int | str


class PictureError(ValueError):
    """A peer's picture document that cannot be used."""


def published(c: Count) -> Published:
    """A count as it goes on the wire: the number, "fewer than 5" or "hidden"."""
    if c.value is not None:
        return c.value
    return FEWER if c.hidden is Hidden.SMALL else HIDDEN


def read_value(v: object) -> Count:
    """A peer's published count. A number below 5 (which a peer should never send) is
    read as "fewer than 5", never kept as a number; anything unreadable as "hidden"."""
    if isinstance(v, bool):
        return Count(None, Hidden.COMPLEMENT)
    if isinstance(v, int):
        if 0 <= v < HIDE_BELOW:
            return Count(None, Hidden.SMALL)
        if HIDE_BELOW <= v < MAX_VALUE:
            return Count(v)
        return Count(None, Hidden.COMPLEMENT)
    if v == FEWER:
        return Count(None, Hidden.SMALL)
    return Count(None, Hidden.COMPLEMENT)


@dataclass(frozen=True)
class Line:
    """One row of a group's published table."""

    key: str
    label: str
    cells: tuple[Count, ...]


@dataclass(frozen=True)
class GroupPicture:
    """One group's published picture, as read."""

    actor: str
    name: str
    updated: str
    needs: Count
    offers: Count
    categories: tuple[Line, ...]  # cells: needs, offers
    areas: tuple[Line, ...]
    months: tuple[Line, ...]
    open_needs: Count
    waiting: tuple[Line, ...]  # open needs by how long they waited; cells: needs
    open_by_category: tuple[Line, ...]  # cells: needs


def _host(uri: str) -> str:
    try:
        parts = urlsplit(uri)
    except ValueError:
        return ""
    return parts.netloc.lower() if parts.scheme in ("http", "https") else ""


def _text(value: object, limit: int = MAX_TEXT) -> str:
    return value.strip()[:limit] if isinstance(value, str) else ""


def _lines(value: object, columns: Sequence[str],
           valid: Callable[[str], bool] = bool) -> tuple[Line, ...]:
    if not isinstance(value, list):
        return ()
    out: list[Line] = []
    seen: set[str] = set()
    for row in value[:MAX_ROWS]:
        if not isinstance(row, dict):
            continue
        key = _text(row.get("key"), 100)
        if not key or key in seen or not valid(key):
            continue
        seen.add(key)
        out.append(Line(key, _text(row.get("name")),
                        tuple(read_value(row.get(c)) for c in columns)))
    return tuple(out)


def parse_picture(doc: Mapping[str, Any], url: str, actor: str) -> GroupPicture:
    """The usable part of the picture fetched from ``url`` for the group ``actor``: its
    ``type`` must be NeedsPicture, its ``id`` ``url``'s and ``attributedTo`` ``actor``
    on the same server. Only the fields of docs/federation.md are read."""
    if doc.get("type") != TYPE:
        raise PictureError("not a needs picture")
    host = _host(url)
    if not host or doc.get("id") != url or doc.get("attributedTo") != actor or (
            _host(actor) != host):
        raise PictureError("the picture's group is not on the server that published it")
    return GroupPicture(
        actor=actor, name=_text(doc.get("name")) or host,
        updated=_text(doc.get("updated"), 40),
        needs=read_value(doc.get("needs")), offers=read_value(doc.get("offers")),
        categories=_lines(doc.get("categories"), KINDS),
        areas=_lines(doc.get("areas"), KINDS),
        months=_lines(doc.get("months"), KINDS, lambda k: bool(_MONTH.fullmatch(k))),
        open_needs=read_value(doc.get("openNeeds")),
        waiting=_lines(doc.get("waiting"), ("needs",), lambda k: k in BANDS),
        open_by_category=_lines(doc.get("openByCategory"), ("needs",)))


# -- combining -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Cell:
    """A combined count: ``value`` when every group's part is shown; else hidden, with
    ``small`` when it is known to be below 5 (one group's "fewer than 5" alone) and
    ``at_least`` what the shown parts add up to (5 for each part shown as "hidden")."""

    value: int | None
    small: bool = False
    at_least: int = 0

    @property
    def shown(self) -> bool:
        return self.value is not None

    @property
    def known_large(self) -> bool:
        """Shown, or hidden but at least HIDE_BELOW (the page says "at least N")."""
        return self.value is not None or self.at_least >= HIDE_BELOW


def combine_counts(parts: Sequence[Count]) -> Cell:
    """The sum of one count from each group that has it (a group without the row counts
    0: its posts of that kind are in another row)."""
    if all(p.value is not None for p in parts):
        return Cell(sum(p.value or 0 for p in parts))
    hidden = [p for p in parts if p.value is None]
    shown = sum(p.value or 0 for p in parts)
    at_least = shown + HIDE_BELOW * sum(1 for p in hidden if p.hidden is Hidden.COMPLEMENT)
    # Known below 5 only when it is one group's "fewer than 5" alone (shown parts are 5
    # or more; two groups' "fewer than 5" can add up to 8).
    small = len(parts) == 1 and parts[0].hidden is Hidden.SMALL
    return Cell(None, small=small, at_least=at_least)


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    cells: tuple[Cell, ...]

    @property
    def all_small(self) -> bool:
        """Nothing here is known to be 5 or more: a page may leave the row out."""
        return not any(c.known_large for c in self.cells)


@dataclass(frozen=True)
class Unmet:
    """One group's needs still waiting for help."""

    actor: str
    name: str
    own: bool
    open_needs: Count
    waited_long: Count  # waiting 2 weeks or more


@dataclass(frozen=True)
class Match:
    """A category some groups offer more of than they ask for, while others ask for
    more than they are offered (shown counts only)."""

    key: str
    label: str
    surplus: tuple[tuple[str, int], ...]  # (group name, offers)
    lacking: tuple[tuple[str, int], ...]  # (group name, needs)


@dataclass(frozen=True)
class NetworkPicture:
    groups: tuple[GroupPicture, ...]  # this group first
    needs: Cell
    offers: Cell
    categories: tuple[Row, ...]
    areas: tuple[Row, ...]
    months: tuple[Row, ...]
    open_needs: Cell
    waiting: tuple[Row, ...]
    open_by_category: tuple[Row, ...]
    requested: tuple[Row, ...]  # the categories with the most needs (shown counts)
    unmet: tuple[Unmet, ...]
    matches: tuple[Match, ...]


_LAST = (OTHER, NO_AREA)


def combine_lines(tables: Sequence[Sequence[Line]], width: int, *, sort: bool = False
                  ) -> tuple[Row, ...]:
    """Rows by key over every group's table (the first group's order first, then new keys
    as met; with ``sort``, by key), OTHER and NO_AREA last."""
    keys: list[str] = []
    labels: dict[str, str] = {}
    by_group: list[dict[str, Line]] = []
    for table in tables:
        found = {line.key: line for line in table}
        by_group.append(found)
        for line in table:
            if line.key not in labels:
                keys.append(line.key)
                labels[line.key] = line.label
            elif not labels[line.key]:
                labels[line.key] = line.label
    ordered = sorted(keys) if sort else keys
    ordered = [k for k in ordered if k not in _LAST] + [k for k in _LAST if k in labels]
    out: list[Row] = []
    for key in ordered:
        parts = [g[key] for g in by_group if key in g]
        cells = tuple(combine_counts([p.cells[j] for p in parts
                                      if j < len(p.cells)]) for j in range(width))
        out.append(Row(key, labels[key], cells))
    return tuple(out)


def _matches(groups: Sequence[GroupPicture]) -> tuple[Match, ...]:
    surplus: dict[str, list[tuple[str, int]]] = {}
    lacking: dict[str, list[tuple[str, int]]] = {}
    labels: dict[str, str] = {}
    for g in groups:
        for line in g.categories:
            if line.key == OTHER or len(line.cells) < 2:
                continue
            labels.setdefault(line.key, line.label)
            need, offer = line.cells
            if offer.value is not None and (
                    need.hidden is Hidden.SMALL or (need.value is not None
                                                    and need.value < offer.value)):
                surplus.setdefault(line.key, []).append((g.name, offer.value))
            if need.value is not None and (
                    offer.hidden is Hidden.SMALL or (offer.value is not None
                                                     and offer.value < need.value)):
                lacking.setdefault(line.key, []).append((g.name, need.value))
    return tuple(
        Match(key, labels[key], tuple(sorted(surplus[key], key=lambda x: -x[1])),
              tuple(sorted(lacking[key], key=lambda x: -x[1])))
        for key in labels if key in surplus and key in lacking)


def combine(groups: Sequence[GroupPicture], *, own: str) -> NetworkPicture:
    """The network's picture from the groups' published pictures (``own``: this group's
    actor, listed first)."""
    ordered = sorted(groups, key=lambda g: (g.actor != own, g.name.casefold(), g.actor))
    categories = combine_lines([g.categories for g in ordered], 2)
    requested = sorted((r for r in categories if r.key != OTHER and r.cells[0].shown),
                       key=lambda r: -(r.cells[0].value or 0))[:TOP_REQUESTED]
    unmet = tuple(
        Unmet(g.actor, g.name, g.actor == own, g.open_needs,
              next((line.cells[0] for line in g.waiting if line.key == LONGEST_BAND),
                   Count(None, Hidden.COMPLEMENT)))
        for g in ordered)
    return NetworkPicture(
        groups=tuple(ordered),
        needs=combine_counts([g.needs for g in ordered]),
        offers=combine_counts([g.offers for g in ordered]),
        categories=categories,
        areas=combine_lines([g.areas for g in ordered], 2),
        months=combine_lines([g.months for g in ordered], 2, sort=True),
        open_needs=combine_counts([g.open_needs for g in ordered]),
        waiting=combine_lines([g.waiting for g in ordered], 1),
        open_by_category=combine_lines([g.open_by_category for g in ordered], 1),
        requested=tuple(requested), unmet=unmet, matches=_matches(ordered))
