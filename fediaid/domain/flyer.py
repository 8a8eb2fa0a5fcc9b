"""What a printed flyer holds: the group's profile, where to find it (the QR code's address),
and this week's open public needs and offers, as plain values.

The flyer is for a laundromat wall: anything on it is public. It is gathered by
``fediaid/services/flyer.py`` (which asks the visibility rule, as an anonymous visitor) and
drawn by ``api/web/templates/flyer.html`` and ``fediaid/flyer_pdf.py``; neither drawing
touches the database. An item never names who posted it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import astuple, dataclass, replace
from datetime import date, timedelta
from enum import Enum

from fediaid.domain.group_profile import GroupProfile

#: "This week": posts made in the last seven days (up to the day the flyer is printed).
WEEK = timedelta(days=7)
#: At most this many needs and as many offers (two pages when every title fits a line); the
#: rest are counted ("and 3 more").
MAX_ITEMS = 20


class Paper(Enum):
    A4 = "a4"
    LETTER = "letter"

    @property
    def size_mm(self) -> tuple[float, float]:
        """Width and height in millimetres (ISO 216; US Letter is 8.5 x 11 inches)."""
        return (210.0, 297.0) if self is Paper.A4 else (215.9, 279.4)

    @classmethod
    def parse(cls, value: str | None) -> Paper:
        """``a4`` or ``letter`` (any case); anything else is A4."""
        try:
            return cls((value or "").strip().lower())
        except ValueError:
            return cls.A4


@dataclass(frozen=True)
class FlyerItem:
    """One open need or offer: what, the category's label, the neighborhood's label."""

    title: str
    category: str
    area: str


@dataclass(frozen=True)
class Flyer:
    profile: GroupProfile
    page_url: str  # the group's page: the QR code's address
    join_url: str  # where to ask to join
    since: date  # the first day of the week shown
    printed: date  # the last day (today)
    needs: tuple[FlyerItem, ...] = ()
    offers: tuple[FlyerItem, ...] = ()
    more_needs: int = 0  # open public needs of the week left off (past MAX_ITEMS)
    more_offers: int = 0

    @property
    def digest(self) -> str:
        """A short hash of everything the flyer shows: the same digest, the same flyer
        (the PDF cache's key and the PDF's ETag)."""
        text = repr(astuple(self))
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]

    def with_categories(self, words: Callable[[str], str]) -> Flyer:
        """The same flyer with each item's category as ``words`` says it (a reader: the
        built-in names in the reader's language)."""
        def each(items: tuple[FlyerItem, ...]) -> tuple[FlyerItem, ...]:
            return tuple(replace(i, category=words(i.category)) for i in items)

        return replace(self, needs=each(self.needs), offers=each(self.offers))


def week_of(today: date) -> tuple[date, date]:
    """The first and last day of the week a flyer printed ``today`` shows."""
    return today - WEEK + timedelta(days=1), today
